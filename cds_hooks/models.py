"""Pydantic models of the CDS Hooks 2.0 wire format (requests in, cards out).

Python names are snake_case; JSON names are the spec's camelCase through aliases. Requests tolerate unknown
fields (``extra="allow"``: extensions, newer spec fields); responses forbid them so we never emit a typo.
Responses are serialised with :meth:`_Response.to_json`, which drops ``None`` and empty lists and objects,
because the spec forbids null or empty values.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from service.fhir_access.json_text import has_escaped_nul

__all__ = [
    "Action",
    "Card",
    "CdsResponse",
    "Coding",
    "Discovery",
    "FeedbackAcceptedSuggestion",
    "FeedbackCoding",
    "FeedbackItem",
    "FeedbackOverrideReason",
    "FeedbackRequest",
    "FhirAuthorization",
    "HookRequest",
    "HookRequestError",
    "Link",
    "OverrideReason",
    "PatientViewContext",
    "ServiceDescriptor",
    "Source",
    "Suggestion",
    "parse_feedback_request",
    "parse_hook_request",
]

PATIENT_VIEW = "patient-view"
SUMMARY_MAX_CHARS = 139  # the spec says "<140-character"
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class HookRequestError(ValueError):
    """A CDS Hooks request (or feedback) body the service cannot accept; becomes 400 at the edge.

    ``reason`` names the offending field and never contains a value from the request (it may be PHI).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ServiceNotFoundError(Exception):
    """A call to a service id we do not offer; becomes 404 at the edge."""


class UnknownCardError(Exception):
    """Feedback names card uuids this service never issued; becomes 404 at the edge."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} card uuid(s) were never issued by this service")
        self.reason = str(self)


# ---------------------------------------------------------------------------------------------------------
# Shared base classes
# ---------------------------------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class _Response(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict with spec (camelCase) names and no null, empty list or empty object anywhere."""
        pruned = _prune(self.model_dump(mode="json", by_alias=True, exclude_none=True))
        return pruned if isinstance(pruned, dict) else {}


def _prune(value: Any) -> Any:
    """Drop ``None``, ``[]`` and ``{}`` recursively (an emptied container is dropped too)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            pruned = _prune(item)
            if pruned is None or (isinstance(pruned, dict | list) and not pruned):
                continue
            out[key] = pruned
        return out
    if isinstance(value, list):
        items = [_prune(item) for item in value]
        return [item for item in items if not (item is None or (isinstance(item, dict | list) and not item))]
    return value


def _check_not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


_ABSOLUTE_URL = re.compile(r"https?://[^/\s]+\S*", flags=re.IGNORECASE)


def _check_absolute_url(value: str) -> str:
    if not _ABSOLUTE_URL.fullmatch(value):
        raise ValueError("must be an absolute http(s) URL")
    return value


NonBlankStr = Annotated[str, AfterValidator(_check_not_blank)]
AbsoluteUrl = Annotated[str, AfterValidator(_check_absolute_url)]
# The audit trail stores these: the limits are its columns' (service/audit/tables.py), checked here so that the
# caller gets a 400 naming the field instead of a card that can never be recorded.
HOOK_INSTANCE_MAX_CHARS = 128
USER_ID_MAX_CHARS = 256
FHIR_SERVER_MAX_CHARS = 2048
OVERRIDE_CODE_MAX_CHARS = 256


# ---------------------------------------------------------------------------------------------------------
# Data types shared by requests and responses
# ---------------------------------------------------------------------------------------------------------


class Coding(_Response):
    """CDS Hooks Coding: ``system`` and ``code`` required, ``display`` required for override reasons."""

    system: NonBlankStr
    code: NonBlankStr
    display: str | None = None


# Override reasons are Codings that must carry a display (checked on the Card).
OverrideReason = Coding


# ---------------------------------------------------------------------------------------------------------
# Request
# ---------------------------------------------------------------------------------------------------------


class FhirAuthorization(BaseModel):
    """OAuth 2.0 details for calling the CDS client's FHIR server; JSON names are snake_case in the spec.

    The access token is a :class:`~pydantic.SecretStr` so it never shows up in a repr or a log line.
    """

    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    access_token: SecretStr
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None

    @field_validator("token_type", mode="before")
    @classmethod
    def _bearer_any_case(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() == "bearer":
            return "Bearer"
        return value

    @field_validator("access_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value


class PatientViewContext(BaseModel):
    """The ``context`` of the ``patient-view`` hook."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    user_id: Annotated[NonBlankStr, Field(max_length=USER_ID_MAX_CHARS)]
    patient_id: str
    encounter_id: str | None = None

    @field_validator("patient_id")
    @classmethod
    def _fhir_id(cls, value: str) -> str:
        # Enforcing the FHIR id syntax keeps the id safe to put in search URLs.
        if not _FHIR_ID.fullmatch(value):
            raise ValueError("must be a FHIR resource id")
        return value


class HookRequest(_Request):
    """A CDS Hooks service call. ``context`` stays a dict; use :attr:`patient_view` for the typed view."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", hide_input_in_errors=True)

    hook: NonBlankStr
    hook_instance: Annotated[NonBlankStr, Field(max_length=HOOK_INSTANCE_MAX_CHARS)]
    fhir_server: Annotated[AbsoluteUrl, Field(max_length=FHIR_SERVER_MAX_CHARS)] | None = None
    fhir_authorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, dict[str, Any] | None] | None = None
    _patient_view: PatientViewContext | None = PrivateAttr(default=None)  # validated once, with the request

    @field_validator("prefetch", mode="before")
    @classmethod
    def _drop_non_object_prefetch(cls, value: Any) -> Any:
        # A prefetch value that is neither a resource nor null (e.g. the bare id a ``{{context.userId}}``
        # template yields) is treated as "not provided": the service fetches what it needs itself.
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if v is None or isinstance(v, dict)}
        return value

    @model_validator(mode="after")
    def _check_hook_context(self) -> HookRequest:
        if self.fhir_authorization is not None and self.fhir_server is None:
            raise ValueError("fhirServer is required when fhirAuthorization is given")
        if self.hook == PATIENT_VIEW:
            try:
                self._patient_view = PatientViewContext.model_validate(self.context)
            except ValidationError as exc:
                raise ValueError(_describe(exc, prefix="context")) from None
        return self

    @property
    def patient_view(self) -> PatientViewContext:
        """The typed ``patient-view`` context (validated when the request was parsed, not again on each use)."""
        return self._patient_view or PatientViewContext.model_validate(self.context)


# ---------------------------------------------------------------------------------------------------------
# Response: cards
# ---------------------------------------------------------------------------------------------------------


class Source(_Response):
    label: NonBlankStr
    url: AbsoluteUrl | None = None
    icon: AbsoluteUrl | None = None
    topic: Coding | None = None


class Link(_Response):
    label: NonBlankStr
    url: NonBlankStr
    type: Literal["absolute", "smart"]
    app_context: str | None = None

    @model_validator(mode="after")
    def _app_context_only_for_smart(self) -> Link:
        if self.app_context is not None and self.type != "smart":
            raise ValueError("appContext is only valid for smart links")
        if self.type == "absolute":
            _check_absolute_url(self.url)
        return self


class Action(_Response):
    type: Literal["create", "update", "delete"]
    description: NonBlankStr
    resource: dict[str, Any] | None = None
    resource_id: str | None = None

    @model_validator(mode="after")
    def _resource_for_type(self) -> Action:
        if self.type in ("create", "update") and not self.resource:
            raise ValueError(f"resource is required for a {self.type} action")
        if self.type == "delete" and not self.resource_id:
            raise ValueError("resourceId is required for a delete action")
        return self


class Suggestion(_Response):
    label: NonBlankStr
    uuid: str | None = None
    is_recommended: bool | None = None
    actions: list[Action] | None = None


class Card(_Response):
    uuid: str | None = None
    summary: str
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selection_behavior: Literal["at-most-one", "any"] | None = None
    override_reasons: list[Coding] | None = None
    links: list[Link] | None = None

    @field_validator("summary")
    @classmethod
    def _summary_length(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if len(value) > SUMMARY_MAX_CHARS:
            raise ValueError(f"must be shorter than {SUMMARY_MAX_CHARS + 1} characters")
        return value

    @model_validator(mode="after")
    def _conditional_fields(self) -> Card:
        if self.suggestions and self.selection_behavior is None:
            raise ValueError("selectionBehavior is required when suggestions are given")
        for reason in self.override_reasons or ():
            if not reason.display:
                raise ValueError("every override reason needs a display")
        return self


class CdsResponse(_Response):
    cards: list[Card] = Field(default_factory=list)
    system_actions: list[Action] | None = None

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out.setdefault("cards", [])  # required by the spec even when empty
        return out


# ---------------------------------------------------------------------------------------------------------
# Response: discovery
# ---------------------------------------------------------------------------------------------------------


class ServiceDescriptor(_Response):
    hook: str
    title: str | None = None
    description: str
    id: str
    prefetch: dict[str, str] | None = None
    usage_requirements: str | None = None


class Discovery(_Response):
    services: list[ServiceDescriptor] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out.setdefault("services", [])
        return out


# ---------------------------------------------------------------------------------------------------------
# Feedback (request)
# ---------------------------------------------------------------------------------------------------------


class FeedbackAcceptedSuggestion(_Request):
    id: NonBlankStr


class FeedbackCoding(_Request):
    """A Coding as a client echoes it back in feedback (tolerates extra fields, unlike response Codings)."""

    system: NonBlankStr
    code: Annotated[NonBlankStr, Field(max_length=OVERRIDE_CODE_MAX_CHARS)]
    display: str | None = None


class FeedbackOverrideReason(_Request):
    reason: FeedbackCoding | None = None
    user_comment: str | None = None


class FeedbackItem(_Request):
    card: NonBlankStr
    outcome: Literal["accepted", "overridden"]
    accepted_suggestions: list[FeedbackAcceptedSuggestion] | None = None
    override_reason: FeedbackOverrideReason | None = None
    outcome_timestamp: datetime

    @field_validator("outcome_timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # The spec says "ISO timestamp in UTC"; a timestamp without offset is read as UTC.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00 is past the last representable instant
            raise ValueError("must be a timestamp within the years 1 to 9999 in UTC") from None

    @model_validator(mode="after")
    def _accepted_needs_suggestions(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.accepted_suggestions:
            raise ValueError("acceptedSuggestions is required for accepted outcomes")
        return self


class FeedbackRequest(_Request):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", hide_input_in_errors=True)

    feedback: list[FeedbackItem]

    @field_validator("feedback")
    @classmethod
    def _not_empty(cls, value: list[FeedbackItem]) -> list[FeedbackItem]:
        if not value:
            raise ValueError("must not be empty")
        return value


# ---------------------------------------------------------------------------------------------------------
# Parsing with PHI-free error reasons
# ---------------------------------------------------------------------------------------------------------

_M = TypeVar("_M", bound=BaseModel)

_TYPE_PHRASES = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "bool_type": "must be a boolean",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "list_type": "must be an array",
    "datetime_type": "must be an ISO 8601 timestamp",
    "datetime_parsing": "must be an ISO 8601 timestamp",
    "datetime_from_date_parsing": "must be an ISO 8601 timestamp",
    "extra_forbidden": "is not allowed",
    "string_too_short": "must not be empty",
    "too_short": "must not be empty",
}


def _location(loc: tuple[int | str, ...], prefix: str | None) -> str:
    path = prefix or ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif path:
            path += f".{part}"
        else:
            path = part
    return path


def _describe(exc: ValidationError, *, prefix: str | None = None) -> str:
    """A short reason for the first error: the field path and what is wrong with it, never the value."""
    err = exc.errors(include_url=False, include_input=False)[0]
    path = _location(tuple(err["loc"]), prefix)
    kind = err["type"]
    if kind == "value_error":
        message = str(err.get("ctx", {}).get("error", "is invalid"))
        # Field validators say "must …" about their field; model validators write a sentence naming fields.
        if message.startswith("must"):
            return f"{path} {message}" if path else f"request body {message}"
        return f"{path}: {message}" if path else message
    if kind in ("string_too_long", "too_long"):
        phrase = f"must be at most {err.get('ctx', {}).get('max_length')} characters"
    elif kind == "literal_error":
        expected = err.get("ctx", {}).get("expected")
        phrase = f"must be {expected}" if expected else "has a value that is not allowed"
    else:
        phrase = _TYPE_PHRASES.get(kind, "is invalid")
    return f"{path} {phrase}" if path else f"request body {phrase}"


def _load_object(body: bytes) -> dict[str, Any]:
    if not body or not body.strip():
        raise HookRequestError("request body is empty")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise HookRequestError("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HookRequestError("request body must be a JSON object")
    if has_escaped_nul(body):  # no audit row could keep it
        raise HookRequestError("request body must not contain NUL characters")
    return data


def _parse(model: type[_M], body: bytes) -> _M:
    data = _load_object(body)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HookRequestError(_describe(exc)) from None


def parse_hook_request(body: bytes, *, expected_hook: str | None = None) -> HookRequest:
    """Parse a hook call body; raise :class:`HookRequestError` with a field-naming reason.

    ``expected_hook`` (e.g. ``"patient-view"``) refuses a request for another hook.
    """
    request = _parse(HookRequest, body)
    if expected_hook is not None and request.hook != expected_hook:
        raise HookRequestError(f"hook must be '{expected_hook}'")
    return request


def parse_feedback_request(body: bytes) -> FeedbackRequest:
    """Parse a feedback body; raise :class:`HookRequestError` with a field-naming reason."""
    return _parse(FeedbackRequest, body)

"""Async FHIR R4 REST client over an injected, app-owned :class:`httpx.AsyncClient`.

Every httpx exception and every unusable status code is turned into the :mod:`.errors` tree in one place,
:func:`_to_fhir_error`. Messages name the base URL, resource type and status only: never a token, a query
string or a patient id.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, unquote, urljoin, urlsplit

import httpx
import orjson

from service.fhir_access.bundle import record_from_resources
from service.fhir_access.errors import (
    FhirAuthError,
    FhirError,
    FhirResponseError,
    FhirServerNotAllowed,
    FhirUnavailable,
)
from service.fhir_access.json_text import has_escaped_nul
from service.fhir_access.record import PatientRecord
from service.fhir_access.resource_types import SEARCH_OF, ResourceType, Search

MAX_RESPONSE_BYTES = 20 * 1024 * 1024
"""Per response (one page); a larger body is a :class:`FhirResponseError`."""

_INFLATE_STEP = 1024 * 1024
FHIR_JSON = "application/fhir+json"
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_DEFAULT_PORTS = {"http": 80, "https": 443}

ProblemKind = Literal["unavailable", "auth", "response", "timeout"]


@dataclass(frozen=True, slots=True)
class FetchProblem:
    """One resource type that could not be fetched; that type is absent from the record."""

    resource_type: str
    kind: str  # "unavailable" | "auth" | "response" | "timeout"
    message: str


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int
    path: str  # no trailing slash; "" for the root

    def covers(self, other: _Origin) -> bool:
        if (self.scheme, self.host, self.port) != (other.scheme, other.host, other.port):
            return False
        return other.path == self.path or other.path.startswith(self.path + "/")


def _origin(url: str, *, allow_query: bool) -> _Origin | None:
    """Normalised scheme/host/port/path of ``url``, or None when it is not a plain http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or parts.fragment:
        return None
    if parts.query and not allow_query:
        return None
    if "\\" in parts.path:
        return None
    segments = unquote(parts.path).split("/")
    if any(segment in {".", ".."} for segment in segments):
        return None
    return _Origin(
        scheme=scheme,
        host=parts.hostname.lower().rstrip("."),
        port=port if port is not None else _DEFAULT_PORTS[scheme],
        path=parts.path.rstrip("/"),
    )


def _display_url(url: str) -> str:
    """``url`` fit for a message: no userinfo, query or fragment (they may hold credentials or PHI)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "(unparseable URL)"
    if not parts.scheme or not host:
        return "(not an absolute URL)"
    return f"{parts.scheme}://{host}{port}{parts.path}"[:200]


def _to_fhir_error(
    failure: httpx.HTTPError | httpx.Response,
    *,
    base_url: str,
    what: str,
    body: bytes = b"",
) -> FhirError:
    """THE mapping of httpx failures and HTTP status codes onto the error tree.

    ``what`` names the request for the message, e.g. "Patient read" or "Observation search".
    """
    where = f"{what} at {base_url}"
    if isinstance(failure, httpx.HTTPError):
        if isinstance(failure, httpx.TimeoutException):
            return FhirUnavailable(f"{where}: timed out", base_url=base_url, timed_out=True)
        if isinstance(failure, httpx.TransportError):
            return FhirUnavailable(f"{where}: could not connect ({type(failure).__name__})", base_url=base_url)
        return FhirUnavailable(f"{where}: HTTP failure ({type(failure).__name__})", base_url=base_url)

    status = failure.status_code
    if status in (401, 403):
        return FhirAuthError(f"{where}: the server answered {status}", base_url=base_url, status=status)
    if status == 429:
        retry_after = _retry_after(failure.headers.get("Retry-After"))
        hint = f" (Retry-After: {retry_after:g} s)" if retry_after is not None else ""
        return FhirUnavailable(
            f"{where}: rate limited, 429{hint}", base_url=base_url, status=status, retry_after=retry_after
        )
    if status >= 500 or status == 408:
        return FhirUnavailable(f"{where}: the server answered {status}", base_url=base_url, status=status)
    if 300 <= status < 400:
        return FhirResponseError(
            f"{where}: the server answered a {status} redirect, which is not followed",
            base_url=base_url,
            status=status,
        )
    return FhirResponseError(
        f"{where}: the server answered {status}{_outcome_summary(body)}", base_url=base_url, status=status
    )


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: not worth parsing, we never wait anyway
    return seconds if seconds >= 0 else None


def _outcome_summary(body: bytes) -> str:
    """Issue severity/code of an OperationOutcome body (never diagnostics: they may echo data)."""
    if not body:
        return ""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(parsed, dict) or parsed.get("resourceType") != "OperationOutcome":
        return ""
    issues = parsed.get("issue")
    codes = [
        f"{issue.get('severity', '?')}/{issue.get('code', '?')}"
        for issue in (issues if isinstance(issues, list) else [])
        if isinstance(issue, dict)
    ]
    return f" with an OperationOutcome ({', '.join(codes[:5])})" if codes else " with an OperationOutcome"


def _problem_kind(error: FhirError) -> ProblemKind:
    if isinstance(error, FhirUnavailable):
        return "timeout" if error.timed_out else "unavailable"
    if isinstance(error, FhirAuthError):
        return "auth"
    return "response"


class FhirClient:
    """Reads one patient's data from an allow-listed FHIR server. Knows nothing of trials."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        allowed_servers: Sequence[str],
        *,
        page_cap: int = 20,
        page_size: int = 200,
        request_timeout: float = 5.0,
    ) -> None:
        self._http = http
        allowed: list[_Origin] = []
        for prefix in allowed_servers:
            origin = _origin(prefix, allow_query=False)
            if origin is None:
                raise ValueError("an allowed FHIR server prefix is not a plain http(s) URL")
            allowed.append(origin)
        self._allowed = tuple(allowed)
        self._page_cap = page_cap
        self._page_size = page_size
        self._timeout = httpx.Timeout(request_timeout)

    # -- allow-list ---------------------------------------------------------------------------------------

    def _is_allowed(self, url: str, *, allow_query: bool) -> bool:
        origin = _origin(url, allow_query=allow_query)
        return origin is not None and any(prefix.covers(origin) for prefix in self._allowed)

    def check_allowed(self, base_url: str) -> None:
        """Raise :class:`FhirServerNotAllowed` unless ``base_url`` lies under an allowed prefix."""
        if not self._is_allowed(base_url, allow_query=False):
            shown = _display_url(base_url)
            raise FhirServerNotAllowed(f"FHIR server {shown} is not in the allow-list", base_url=shown)

    # -- HTTP -----------------------------------------------------------------------------------------------

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {"Accept": FHIR_JSON, "Accept-Encoding": "gzip"}  # the one encoding _read_capped inflates
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _get_json(
        self,
        url: str,
        params: Mapping[str, str] | None,
        token: str | None,
        *,
        base_url: str,
        what: str,
    ) -> dict[str, Any]:
        try:
            async with self._http.stream(
                "GET",
                url,
                params=params,
                headers=self._headers(token),
                timeout=self._timeout,
                follow_redirects=False,
            ) as response:
                body = await self._read_capped(response, base_url=base_url, what=what)
        except httpx.HTTPError as exc:
            raise _to_fhir_error(exc, base_url=base_url, what=what) from exc
        if response.status_code != 200:
            raise _to_fhir_error(response, base_url=base_url, what=what, body=body)
        if has_escaped_nul(body):  # the audit trail could not keep a card resting on it: unreadable
            raise FhirResponseError(
                f"{what} at {base_url}: the response holds a NUL character", base_url=base_url, status=200
            )
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise FhirResponseError(
                f"{what} at {base_url}: the response is not JSON", base_url=base_url, status=200
            ) from exc
        if not isinstance(parsed, dict):
            raise FhirResponseError(
                f"{what} at {base_url}: the response is not a JSON object", base_url=base_url, status=200
            )
        if parsed.get("resourceType") == "OperationOutcome":
            raise FhirResponseError(
                f"{what} at {base_url}: the server answered an OperationOutcome",
                base_url=base_url,
                status=200,
            )
        return parsed

    @staticmethod
    async def _read_capped(response: httpx.Response, *, base_url: str, what: str) -> bytes:
        """The body, decompressed by us with the size cap applied to the *output*: a gzip bomb (kilobytes that
        inflate to gigabytes) costs at most the cap in memory, where httpx would inflate each chunk whole."""
        too_large = FhirResponseError(
            f"{what} at {base_url}: the response exceeds {MAX_RESPONSE_BYTES // (1024 * 1024)} MB",
            base_url=base_url,
            status=response.status_code,
        )
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
            raise too_large
        if response.is_stream_consumed:  # built in memory (a mock transport), so nothing left to inflate
            if len(response.content) > MAX_RESPONSE_BYTES:
                raise too_large
            return response.content
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip"):
            raise FhirResponseError(
                f"{what} at {base_url}: unsupported Content-Encoding", base_url=base_url, status=response.status_code
            )
        inflate = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16) if encoding == "gzip" else None
        chunks: list[bytes] = []
        size = 0
        try:
            async for raw in response.aiter_raw():
                pending = raw
                while pending:  # inflated a step at a time: memory never holds much more than the cap
                    chunk, pending = (
                        (inflate.decompress(pending, _INFLATE_STEP), inflate.unconsumed_tail)
                        if inflate is not None
                        else (pending, b"")
                    )
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise too_large
                    chunks.append(chunk)
        except zlib.error as exc:
            raise FhirResponseError(
                f"{what} at {base_url}: the response is not valid gzip", base_url=base_url, status=response.status_code
            ) from exc
        return b"".join(chunks)

    # -- REST -----------------------------------------------------------------------------------------------

    @staticmethod
    def _check_type(resource_type: str) -> None:
        if not _RESOURCE_TYPE.fullmatch(resource_type):
            raise ValueError("not a FHIR resource type name")

    async def read(self, base_url: str, resource_type: str, resource_id: str, token: str | None) -> dict[str, Any]:
        """``GET [base]/[type]/[id]``; the answer must be a resource of that type."""
        self.check_allowed(base_url)
        self._check_type(resource_type)
        what = f"{resource_type} read"
        url = f"{base_url.rstrip('/')}/{resource_type}/{quote(resource_id, safe='')}"
        resource = await self._get_json(url, None, token, base_url=base_url, what=what)
        if resource.get("resourceType") != resource_type:
            raise FhirResponseError(
                f"{what} at {base_url}: the server answered a different resourceType", base_url=base_url
            )
        return resource

    async def search(
        self, base_url: str, resource_type: str, params: Mapping[str, str], token: str | None
    ) -> list[dict[str, Any]]:
        """``GET [base]/[type]?params``, following ``next`` links; only the matches (no includes/outcomes)."""
        matches, _ = await self._search(base_url, resource_type, params, token)
        return matches

    async def _search(
        self, base_url: str, resource_type: str, params: Mapping[str, str], token: str | None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Matches and ``_include``d resources of a paged search."""
        self.check_allowed(base_url)
        self._check_type(resource_type)
        what = f"{resource_type} search"
        query = dict(params)
        query.setdefault("_count", str(self._page_size))
        url = f"{base_url.rstrip('/')}/{resource_type}"
        page_params: Mapping[str, str] | None = query
        matches: list[dict[str, Any]] = []
        included: list[dict[str, Any]] = []
        for _page in range(self._page_cap):
            bundle = await self._get_json(url, page_params, token, base_url=base_url, what=what)
            if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "searchset":
                raise FhirResponseError(
                    f"{what} at {base_url}: the answer is not a searchset Bundle", base_url=base_url
                )
            _split_entries(bundle, resource_type, matches, included)
            next_url = _next_link(bundle)
            if next_url is None:
                return matches, included
            next_url = urljoin(url, next_url)
            if not self._is_allowed(next_url, allow_query=True):
                raise FhirResponseError(
                    f"{what} at {base_url}: a next link points outside the allowed servers", base_url=base_url
                )
            url, page_params = next_url, None
        raise FhirResponseError(f"{what} at {base_url}: too many pages (more than {self._page_cap})", base_url=base_url)

    async def fetch_record(
        self,
        base_url: str,
        patient_id: str,
        token: str | None,
        resource_types: Sequence[ResourceType],
        *,
        budget_seconds: float,
        patient: Mapping[str, Any] | None = None,
        known: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[PatientRecord, list[FetchProblem]]:
        """Patient read plus one ``patient=<id>`` search per type, all in parallel, within ``budget_seconds``.

        ``patient``: the Patient the caller already holds (from the hook's prefetch); it is not read again.
        ``known``: resources the caller already holds; they join the fetched ones in the one record built.

        A failing search becomes a :class:`FetchProblem` and its type is absent from the record. A failing
        Patient read raises its :class:`FhirError` (:class:`FhirUnavailable` when the budget ran out).
        Each type is fetched by the search of ``SEARCH_OF`` that supplies it (``Medication`` comes with
        ``MedicationRequest`` via ``_include``); the Patient is read, never searched.
        """
        self.check_allowed(base_url)
        deadline = asyncio.get_running_loop().time() + budget_seconds
        searches = list(dict.fromkeys(SEARCH_OF[t] for t in resource_types if t in SEARCH_OF))

        async def read_patient() -> dict[str, Any]:
            if patient is not None:
                return dict(patient)
            try:
                async with asyncio.timeout_at(deadline):
                    return await self.read(base_url, ResourceType.PATIENT, patient_id, token)
            except TimeoutError as exc:
                raise FhirUnavailable(
                    f"Patient read at {base_url}: the {budget_seconds:g} s budget ran out",
                    base_url=base_url,
                    timed_out=True,
                ) from exc

        async def search_type(search: Search) -> tuple[list[dict[str, Any]], FetchProblem | None]:
            resource_type = search.resource_type
            try:
                async with asyncio.timeout_at(deadline):
                    matches, included = await self._search(base_url, resource_type, search.params(patient_id), token)
            except TimeoutError:
                message = f"{resource_type} search at {base_url}: the {budget_seconds:g} s budget ran out"
                return [], FetchProblem(resource_type, "timeout", message)
            except FhirError as error:
                return [], FetchProblem(resource_type, _problem_kind(error), str(error))
            return matches + included, None

        patient_task = asyncio.ensure_future(read_patient())
        search_tasks = [asyncio.ensure_future(search_type(s)) for s in searches]
        try:
            the_patient = await patient_task
        except BaseException:
            for task in search_tasks:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*search_tasks, return_exceptions=True)
            raise
        outcomes = await asyncio.gather(*search_tasks)
        if not isinstance(the_patient.get("id"), str) or not the_patient["id"]:
            raise FhirResponseError(f"Patient read at {base_url}: the Patient has no id", base_url=base_url)

        resources: list[Mapping[str, Any]] = list(known)
        problems: list[FetchProblem] = []
        for found, problem in outcomes:
            if problem is None:
                resources.extend(found)
            else:
                problems.append(problem)
        record = record_from_resources(the_patient, resources)
        # A type that was searched successfully is present even when empty; a failed one is absent.
        failed = {p.resource_type for p in problems}
        present = dict(record.resources)
        for resource_type in resource_types:
            search = SEARCH_OF.get(resource_type)
            if search is None:  # the Patient, or a type no search supplies
                continue
            if search.resource_type in failed:
                present.pop(resource_type, None)
            else:
                present.setdefault(resource_type, ())
        return PatientRecord(patient=record.patient, resources=present), problems


def _split_entries(
    bundle: Mapping[str, Any],
    resource_type: str,
    matches: list[dict[str, Any]],
    included: list[dict[str, Any]],
) -> None:
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        return
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            continue
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, dict) else None
        found_type = resource.get("resourceType")
        if mode == "match" or (mode is None and found_type == resource_type):
            matches.append(resource)
        elif (mode == "include" or mode is None) and found_type != "OperationOutcome":
            # The same included resource may come again on a later page.
            key = (found_type, resource.get("id"))
            if key[1] is None or not any((r.get("resourceType"), r.get("id")) == key for r in included):
                included.append(resource)


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link", [])
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and url:
                return url
    return None

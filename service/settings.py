"""Settings from TRIAL_SCREEN_* environment variables; built by create_app / the CLI, never at import.

The environment is read here rather than by pydantic-settings, whose import alone was ~0.06 s of the service's
start for what these lines do: each field's variable, its name in any case, validated by pydantic like a keyword
argument (a keyword argument wins over the environment); the one JSON-valued field decodes its text itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

APP_NAME = "trial-screen"
ENV_PREFIX = "TRIAL_SCREEN_"


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite URL (None for another backend, or an in-memory database)."""
    from sqlalchemy.engine import make_url  # here, to keep SQLAlchemy off the start of `screen` and `check`
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _environment(fields: Iterable[str]) -> dict[str, str]:
    """The TRIAL_SCREEN_<FIELD> variables that are set (the name in any case), by field name."""
    found = {name.upper(): value for name, value in os.environ.items()}
    return {field: found[key] for field in fields if (key := ENV_PREFIX + field.upper()) in found}


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_default=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**_environment(type(self).model_fields), **values})

    # The external contract (shared/design/contract.md) fixes the default: a SQLite file in the working folder.
    # `serve` prints where it is, and commands that only read the audit refuse a file that does not exist.
    database_url: str = "sqlite:///trial-screen.sqlite3"
    allowed_fhir_servers: list[str] = Field(default_factory=list)
    require_jwt: bool = True
    trusted_issuers: dict[str, str] = Field(default_factory=dict)
    jwt_max_lifetime_seconds: float = 300  # a hook JWT valid longer (exp - iat) is refused; the spec recommends 5 min
    public_url: str = "http://127.0.0.1:8000"
    audit_token: SecretStr | None = None
    api_token: SecretStr | None = None  # bearer token for POST /screening from scripts (an EHR may use its JWT)
    trials_dir: Path | None = None
    hook_budget_seconds: float = 4.0
    fhir_request_timeout_seconds: float = 3.0
    fhir_page_cap: int = 20
    max_request_bytes: int = 5_000_000
    body_timeout_seconds: float = 10.0  # a request body that takes longer to arrive is answered 408
    link_secret: SecretStr | None = None  # signs report links in cards; random per process when unset
    demo: bool = False
    sites_file: Path | None = None  # site configuration per trial (YAML); None: the bundled demo values
    ruled_out_cards: bool = False  # also answer an info card (no referral) for each trial the patient is ruled out of

    @field_validator("allowed_fhir_servers", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_issuers", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment: a JSON object, issuer -> JWKS URL
            return orjson.loads(value)
        return value

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def hook_url(self) -> str:
        """The JWT audience: this hook's own endpoint URL."""
        return f"{self.public_url}/cds-services/trial-prescreen"

"""Settings from TRIAL_SCREEN_* environment variables; built by create_app / the CLI, never at import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

APP_NAME = "trial-screen"


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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAL_SCREEN_", extra="ignore")

    # The external contract (shared/design/contract.md) fixes the default: a SQLite file in the working folder.
    # `serve` prints where it is, and commands that only read the audit refuse a file that does not exist.
    database_url: str = "sqlite:///trial-screen.sqlite3"
    allowed_fhir_servers: Annotated[list[str], NoDecode] = Field(default_factory=list)
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

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def hook_url(self) -> str:
        """The JWT audience: this hook's own endpoint URL."""
        return f"{self.public_url}/cds-services/trial-prescreen"

"""End-to-end fixtures: the whole app (create_app) with real JWT key pairs and a JWKS served on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.integration.hook_support import shared_screener
from tests.jwt_keys import KeyPair, hook_claims, jwks, make_ec_keypair, make_rsa_keypair, serve_jwks, sign_token

PUBLIC_URL = "https://trial-screen.example.org"
HOOK_URL = f"{PUBLIC_URL}/cds-services/trial-prescreen"
FEEDBACK_URL = f"{HOOK_URL}/feedback"
ISSUER = "https://ehr.example.org"


@dataclass
class Ehr:
    """The CDS client: its issuer, key pairs and the URL of its JWKS (served on loopback)."""

    issuer: str
    rsa: KeyPair
    ec: KeyPair
    jwks_url: str

    def token(self, pair: KeyPair | None = None, audience: str | list[str] = HOOK_URL, **extra: Any) -> str:
        return sign_token(pair or self.rsa, hook_claims(self.issuer, audience, sub="ehr-client", **extra))

    def headers(self, pair: KeyPair | None = None, audience: str | list[str] = HOOK_URL) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(pair, audience)}"}


@pytest.fixture(scope="session")
def ehr() -> Iterator[Ehr]:
    rsa, ec = make_rsa_keypair("ehr-rsa-1"), make_ec_keypair("ehr-ec-1")
    with serve_jwks({"/jwks.json": jwks(rsa, ec)}) as server:
        yield Ehr(ISSUER, rsa, ec, server.url("/jwks.json"))


@pytest.fixture
def make_client(tmp_path: Path, ehr: Ehr) -> Iterator[Callable[..., TestClient]]:
    """Factory: a started TestClient around create_app(Settings(...)); JWT checks on unless told otherwise."""
    opened: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        fields: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path}/audit-{len(opened)}.sqlite3",
            "require_jwt": True,
            "trusted_issuers": {ehr.issuer: ehr.jwks_url},
            "public_url": PUBLIC_URL,
        }
        fields.update(overrides)
        client = TestClient(create_app(Settings(**fields), shared_screener()), raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)

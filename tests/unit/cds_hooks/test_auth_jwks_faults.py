"""An issuer whose JWKS endpoint hangs or is slow: a token is refused after the JWKS timeout ("issuer keys
unavailable", 401 at the edge), the requests waiting meanwhile share that one failed fetch instead of each waiting
its own timeout, and a slow JWKS that answers within the timeout still verifies."""

from __future__ import annotations

import asyncio
import http.server as http_server
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from cds_hooks.auth import HookAuthError, JwtVerifier
from tests.jwt_keys import KeyPair, hook_claims, jwks, make_rsa_keypair, sign_token
from tests.unit.cds_hooks.test_auth import token_ids

ISSUER = "https://ehr.example.org"
AUD = "https://svc.example.org/cds-services/trial-prescreen"


class HangingServer:
    """Accepts connections and never answers."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}/jwks.json"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.socket.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return make_rsa_keypair("k1")


async def test_a_hanging_jwks_refuses_after_the_timeout_once_for_everyone_waiting(
    hanging: HangingServer, http: httpx.AsyncClient, key: KeyPair
) -> None:
    verifier = JwtVerifier({ISSUER: hanging.url}, http, token_ids(), jwks_timeout_seconds=0.3)
    tokens = [f"Bearer {sign_token(key, hook_claims(ISSUER, AUD))}" for _ in range(5)]
    results = await asyncio.gather(*(verifier.verify(t, AUD) for t in tokens), return_exceptions=True)
    assert all(isinstance(r, HookAuthError) and r.reason == "issuer keys unavailable" for r in results)
    assert len(hanging.accepted) == 1  # one fetch, not five in a row


async def test_a_slow_jwks_within_the_timeout_verifies(http: httpx.AsyncClient, key: KeyPair) -> None:
    body = json.dumps(jwks(key)).encode()

    class Slow(http_server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(0.2)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        verifier = JwtVerifier({ISSUER: url}, http, token_ids(), jwks_timeout_seconds=5)
        claims = await verifier.verify(f"Bearer {sign_token(key, hook_claims(ISSUER, AUD))}", AUD)
        assert claims["iss"] == ISSUER
    finally:
        server.shutdown()

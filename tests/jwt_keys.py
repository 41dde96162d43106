"""Test helpers for CDS Hooks client JWTs: real key pairs, JWK Sets, signed tokens, a loopback JWKS server.

Importable by unit, integration and e2e tests (``from tests.jwt_keys import ...``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

__all__ = [
    "JwksServer",
    "KeyPair",
    "forge_hs256",
    "hook_claims",
    "jwks",
    "make_ec_keypair",
    "make_rsa_keypair",
    "public_pem",
    "serve_jwks",
    "sign_token",
    "unsigned_token",
]


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A private key, its kid and the JWS algorithm it signs with."""

    kid: str
    alg: str
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            data = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            data = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}


def make_rsa_keypair(kid: str = "rsa-1", alg: str = "RS384", bits: int = 2048) -> KeyPair:
    return KeyPair(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=bits))


def make_ec_keypair(kid: str = "ec-1", alg: str = "ES384") -> KeyPair:
    curve: ec.EllipticCurve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
    return KeyPair(kid, alg, ec.generate_private_key(curve))


def jwks(*pairs: KeyPair) -> dict[str, Any]:
    """The public JWK Set for the given key pairs."""
    return {"keys": [pair.public_jwk() for pair in pairs]}


def public_pem(pair: KeyPair) -> bytes:
    return pair.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def hook_claims(
    issuer: str, audience: str | list[str], *, lifetime: int = 300, now: float | None = None, **extra: Any
) -> dict[str, Any]:
    """Claims as a CDS client sends them: iss, aud, iat, exp, a fresh jti, plus ``extra``."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": str(uuid.uuid4()),
    }
    claims.update(extra)
    return claims


def sign_token(
    pair: KeyPair,
    claims: Mapping[str, Any],
    *,
    headers: Mapping[str, Any] | None = None,
    alg: str | None = None,
    include_kid: bool = True,
) -> str:
    """A compact JWS signed with ``pair`` (``typ: JWT``, ``kid`` unless ``include_kid`` is false)."""
    hdr: dict[str, Any] = {"typ": "JWT"}
    if include_kid:
        hdr["kid"] = pair.kid
    hdr.update(headers or {})
    return jwt.encode(dict(claims), pair.private_key, algorithm=alg or pair.alg, headers=hdr)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_hs256(claims: Mapping[str, Any], secret: bytes, *, headers: Mapping[str, Any] | None = None) -> str:
    """An HS256 token MACed with ``secret`` (e.g. a public key PEM: the classic algorithm-confusion attack).

    Built by hand because PyJWT rightly refuses to use a PEM as an HMAC secret.
    """
    hdr = {"alg": "HS256", "typ": "JWT", **(headers or {})}
    signing_input = f"{_b64(json.dumps(hdr).encode())}.{_b64(json.dumps(dict(claims)).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def unsigned_token(claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
    """An ``alg: none`` token (no signature)."""
    hdr = {"alg": "none", "typ": "JWT", **(headers or {})}
    return f"{_b64(json.dumps(hdr).encode())}.{_b64(json.dumps(dict(claims)).encode())}."


@dataclass(slots=True)
class JwksServer:
    """A real HTTP server on loopback that serves JWK Sets by path; ``hits`` counts requests per path."""

    base_url: str
    documents: dict[str, Any] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path


@contextmanager
def serve_jwks(documents: Mapping[str, Any] | None = None) -> Iterator[JwksServer]:
    """Run a :class:`JwksServer` on 127.0.0.1 (ephemeral port) in a thread for the duration of the block.

    Change ``server.documents[path]`` to rotate keys; set ``server.statuses[path] = 500`` to fail a path.
    """
    state = JwksServer(base_url="", documents=dict(documents or {}))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                state.hits[self.path] = state.hits.get(self.path, 0) + 1
                status = state.statuses.get(self.path, 200)
                document = state.documents.get(self.path)
            if document is None:
                status = 404 if status == 200 else status
            body = b"" if status != 200 else json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="jwks-server", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

"""Verify the CDS client's bearer JWT as CDS Hooks 2.0 "Trusting CDS Clients" requires.

PyJWT checks the signature and the claims the spec requires (``aud`` = the endpoint URL, ``iss``, ``exp``,
``iat``, ``nbf``, with a leeway); this module decides *which* key to trust (issuer allow-list → JWKS URL, ``jku``
only when it is that URL, key by ``kid``) and which algorithms are acceptable (asymmetric only), caches the key
sets, refuses a token valid for longer than a maximum lifetime (the spec recommends 5 minutes) and a replayed
``jti`` (the ids already used are kept where every worker process and a restart see them: `TokenIds`).

Error reasons are short fixed phrases: never the token, never a claim value.
"""

from __future__ import annotations

import asyncio
import binascii
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import httpx
import orjson

if TYPE_CHECKING:
    from jwt import PyJWTError

__all__ = ["ALLOWED_ALGORITHMS", "HookAuthError", "JwtVerifier", "bearer_check"]

_log = logging.getLogger(__name__)

#: Asymmetric JWS algorithms we accept. ``none`` and every HMAC (shared-secret) algorithm are refused, as the
#: spec demands; ES384 and RS384 are the spec's recommendation.
ALLOWED_ALGORITHMS: frozenset[str] = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS384"})
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
_MAX_TOKEN_CHARS = 16_384
_REFETCH_INTERVAL_SECONDS = 10.0


class TokenIds(Protocol):
    """Where the ids of the tokens already used are kept (the audit database: `service.audit.seen_tokens`)."""

    def first_use(self, issuer: str, jti: str, *, expires_at: float, now: float) -> bool:
        """Record the id until `expires_at`; False if it was already used (a replay). Blocking."""
        ...


class HookAuthError(Exception):
    """The request's bearer JWT is missing or not trusted; becomes 401 at the edge."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _KeySet:
    keys: list[dict[str, Any]]
    fetched_at: float
    parsed: dict[tuple[str | None, str], Any] = field(default_factory=dict)  # (kid, alg) → key, made once


class JwtVerifier:
    """Checks CDS Hooks client JWTs against a fixed set of trusted issuers.

    ``trusted_issuers`` maps each accepted ``iss`` to the URL of its JWK Set. Key sets are fetched with the
    shared ``http`` client, cached for ``jwks_ttl_seconds``, and refetched early (at most every 10 s per URL)
    when a token names a key the cached set does not hold, so key rotation works without a restart.
    One instance serves the whole process.
    """

    def __init__(
        self,
        trusted_issuers: Mapping[str, str],
        http: httpx.AsyncClient,
        token_ids: TokenIds,
        *,
        max_lifetime_seconds: float = 300,
        jwks_ttl_seconds: float = 300,
        jwks_timeout_seconds: float = 5.0,
        leeway_seconds: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._issuers = dict(trusted_issuers)
        self._issuers_normalised = {_strip_slash(iss): url for iss, url in trusted_issuers.items()}
        self._http = http
        self._ttl = jwks_ttl_seconds
        self._leeway = leeway_seconds
        self._clock = clock
        self._key_sets: dict[str, _KeySet] = {}
        self._last_fetch: dict[str, float] = {}
        self._failed_at: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._token_ids = token_ids
        self._max_lifetime = max_lifetime_seconds
        self._jwks_timeout = httpx.Timeout(jwks_timeout_seconds)  # a hanging issuer costs each caller this, once

    async def verify(self, authorization_header: str | None, audience: str | Collection[str]) -> dict[str, Any]:
        """Return the verified claims of the request's JWT, or raise :class:`HookAuthError`.

        ``audience`` is the URL of the endpoint being called (e.g. ``https://host/cds-services/svc``), or
        several URLs any of which is acceptable (e.g. a feedback endpoint and its service endpoint).
        """
        token = _bearer_token(authorization_header)
        header, unverified = _unverified(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise HookAuthError("algorithm not allowed")
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise HookAuthError("token has no issuer")
        jwks_url = self._issuers.get(issuer) or self._issuers_normalised.get(_strip_slash(issuer))
        if jwks_url is None:
            raise HookAuthError("untrusted issuer")
        if "jku" in header and header["jku"] != jwks_url:
            # Never fetch a key set named by the token itself: that would let anyone sign.
            raise HookAuthError("untrusted key set URL")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise HookAuthError("malformed token")

        key = await self._signing_key(jwks_url, kid, alg)
        import jwt  # PyJWT and cryptography cost ~50 ms of the start: imported only when JWT checks run

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=_with_and_without_slash(audience),
                issuer=issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "jti", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise HookAuthError(_refusal(exc)) from None
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise HookAuthError("token has no jti")
        if float(claims["exp"]) - float(claims["iat"]) > self._max_lifetime:
            raise HookAuthError("token lifetime too long")
        first = await anyio.to_thread.run_sync(
            lambda: self._token_ids.first_use(
                issuer, jti, expires_at=float(claims["exp"]) + self._leeway, now=self._clock()
            )
        )
        if not first:
            raise HookAuthError("token replayed")
        return claims

    # -- keys --------------------------------------------------------------------------------------------

    async def _signing_key(self, url: str, kid: str | None, alg: str) -> Any:
        key_set = await self._key_set(url, refresh=False)
        if (kid, alg) in key_set.parsed:  # parsed once per key set, not once per call
            return key_set.parsed[kid, alg]
        jwk = _select_key(key_set.keys, kid, alg)
        if jwk is None and self._may_refetch(url):
            key_set = await self._key_set(url, refresh=True)
            jwk = _select_key(key_set.keys, kid, alg)
        if jwk is None:
            raise HookAuthError("unknown signing key")
        import jwt

        try:
            key = jwt.PyJWK(jwk, algorithm=alg).key
        except (jwt.PyJWKError, jwt.PyJWTError):
            raise HookAuthError("unusable signing key") from None
        key_set.parsed[kid, alg] = key
        return key

    def _may_refetch(self, url: str) -> bool:
        last = self._last_fetch.get(url)
        return last is None or self._clock() - last >= _REFETCH_INTERVAL_SECONDS

    async def _key_set(self, url: str, *, refresh: bool) -> _KeySet:
        lock = self._locks.setdefault(url, asyncio.Lock())
        requested_at = self._clock()
        async with lock:
            now = self._clock()
            cached = self._key_sets.get(url)
            if cached is not None:
                fresh = now - cached.fetched_at < self._ttl
                if refresh and cached.fetched_at >= requested_at:
                    return cached  # another request refreshed it while we waited
                if not refresh and fresh:
                    return cached
                if not refresh and not self._may_refetch(url):
                    return cached  # stale, but a fetch just failed: don't hammer the issuer
            elif self._failed_at.get(url, float("-inf")) >= requested_at:
                # A fetch that failed while we queued: don't make every waiting request time out in turn.
                raise HookAuthError("issuer keys unavailable")
            self._last_fetch[url] = now
            try:
                keys = await self._fetch(url)
            except HookAuthError:
                self._failed_at[url] = self._clock()
                if cached is not None:
                    _log.warning("JWKS refresh failed; keeping the cached key set", extra={"jwks_url": url})
                    return cached
                raise
            key_set = self._key_sets[url] = _KeySet(keys=keys, fetched_at=now)
            return key_set

    async def _fetch(self, url: str) -> list[dict[str, Any]]:
        try:
            response = await self._http.get(
                url, headers={"Accept": "application/json"}, follow_redirects=False, timeout=self._jwks_timeout
            )
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            _log.warning("JWKS fetch failed: %s", type(exc).__name__, extra={"jwks_url": url})
            raise HookAuthError("issuer keys unavailable") from exc
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            _log.warning("JWKS document has no keys array", extra={"jwks_url": url})
            raise HookAuthError("issuer keys unavailable")
        return [key for key in keys if isinstance(key, dict)]


def bearer_check(
    verifier: JwtVerifier | None, api_token: str | None, audience: str
) -> Callable[[str | None], Awaitable[None]]:
    """A check of an Authorization header for a non-hook endpoint: the service's API token (for scripts), or an
    EHR's JWT for `audience` (checked like a hook call's) when JWT checks are on. Raises :class:`HookAuthError`."""
    expected = api_token.encode() if api_token else None

    async def check(authorization_header: str | None) -> None:
        token = _bearer_token(authorization_header)
        if expected is not None and hmac.compare_digest(token.encode(), expected):
            return
        if verifier is None:
            raise HookAuthError("invalid bearer token")
        await verifier.verify(authorization_header, audience)

    return check


def _bearer_token(authorization_header: str | None) -> str:
    if not authorization_header:
        raise HookAuthError("missing bearer token")
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise HookAuthError("authorization header is not a bearer token")
    if len(token) > _MAX_TOKEN_CHARS:
        raise HookAuthError("malformed token")
    return token


_FROM_URLSAFE = str.maketrans("-_", "+/")


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The token's header and claims, not verified: only to choose the issuer and its key, with which
    `jwt.decode` then parses and checks the whole token. One parse in C instead of PyJWT's own unverified ones
    (it checks each base64 character in Python: ~0.1 ms per parse of a hook's token)."""
    try:
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError
        header, claims = (
            orjson.loads(binascii.a2b_base64(_padded(part).translate(_FROM_URLSAFE), strict_mode=True))
            for part in parts[:2]
        )
    except ValueError:  # binascii.Error, orjson.JSONDecodeError and a non-ASCII token are ValueErrors
        raise HookAuthError("malformed token") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise HookAuthError("malformed token")
    return header, claims


def _padded(segment: str) -> str:
    return segment + "=" * (-len(segment) % 4)


def _select_key(keys: list[dict[str, Any]], kid: str | None, alg: str) -> dict[str, Any] | None:
    """The JWK for ``kid``; without a kid, the only signing key of the algorithm's key type."""
    kty = _KEY_TYPE[alg[:2]]

    def usable(key: dict[str, Any]) -> bool:
        return key.get("kty") == kty and key.get("use", "sig") == "sig" and key.get("alg", alg) == alg

    if kid is not None:
        named = [key for key in keys if key.get("kid") == kid]
        if not named:
            return None
        if not usable(named[0]):
            raise HookAuthError("signing key does not match algorithm")
        return named[0]
    candidates = [key for key in keys if usable(key)]
    return candidates[0] if len(candidates) == 1 else None


def _with_and_without_slash(audience: str | Collection[str]) -> list[str]:
    """The endpoint URL(s), each also with a trailing slash: an EHR may send either."""
    urls = [_strip_slash(url) for url in ([audience] if isinstance(audience, str) else audience)]
    return [variant for url in urls for variant in (url, url + "/")]


_MISSING = {"exp": "token has no valid exp", "iat": "token has no valid iat", "jti": "token has no jti"}


def _refusal(exc: PyJWTError) -> str:
    """PyJWT's verdict as one of our fixed phrases (PyJWT's own messages may quote claim values)."""
    from jwt.exceptions import (
        ExpiredSignatureError,
        ImmatureSignatureError,
        InvalidAudienceError,
        InvalidIssuedAtError,
        InvalidIssuerError,
        InvalidSignatureError,
        InvalidSubjectError,
        MissingRequiredClaimError,
    )

    match exc:
        case InvalidSignatureError():
            return "invalid signature"
        case ExpiredSignatureError():
            return "token expired"
        case ImmatureSignatureError():
            return "token issued in the future" if "(iat)" in str(exc) else "token not yet valid"
        case InvalidIssuedAtError():
            return "token has no valid iat"
        case MissingRequiredClaimError(claim="aud"):
            return "audience mismatch"
        case MissingRequiredClaimError():
            return _MISSING.get(exc.claim, "invalid token")
        case InvalidAudienceError():
            return "audience mismatch"
        case InvalidIssuerError():
            return "untrusted issuer"
        case InvalidSubjectError():
            return "token has an invalid sub"
        case _:
            return "invalid token"


def _strip_slash(url: str) -> str:
    return url[:-1] if url.endswith("/") else url

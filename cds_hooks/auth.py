"""Verify the CDS client's bearer JWT as CDS Hooks 2.0 "Trusting CDS Clients" requires.

Signature checking is PyJWT's job; this module decides *which* key to trust (issuer allow-list → JWKS
URL, ``jku`` only when it is that URL, key by ``kid``), which algorithms are acceptable (asymmetric only),
and checks the claims the spec requires (``aud`` = the endpoint URL, ``exp``, ``iat``, ``jti`` not replayed).

Error reasons are short fixed phrases: never the token, never a claim value.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import httpx
import jwt
from jwt.exceptions import InvalidSignatureError, PyJWKError, PyJWTError

__all__ = ["ALLOWED_ALGORITHMS", "HookAuthError", "JwtVerifier"]

_log = logging.getLogger(__name__)

#: Asymmetric JWS algorithms we accept. ``none`` and every HMAC (shared-secret) algorithm are refused, as the
#: spec demands; ES384 and RS384 are the spec's recommendation.
ALLOWED_ALGORITHMS: frozenset[str] = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS384"})
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
_MAX_TOKEN_CHARS = 16_384
_REFETCH_INTERVAL_SECONDS = 10.0
_JWKS_TIMEOUT = httpx.Timeout(5.0)


class HookAuthError(Exception):
    """The request's bearer JWT is missing or not trusted; becomes 401 at the edge."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _KeySet:
    keys: list[dict[str, Any]]
    fetched_at: float


class JwtVerifier:
    """Checks CDS Hooks client JWTs against a fixed set of trusted issuers.

    ``trusted_issuers`` maps each accepted ``iss`` to the URL of its JWK Set. Key sets are fetched with the
    shared ``http`` client, cached for ``jwks_ttl_seconds``, and refetched early (at most every 10 s per URL)
    when a token names a key the cached set does not hold, so key rotation works without a restart.
    One instance serves the whole process: it also holds the ``jti`` replay cache.
    """

    def __init__(
        self,
        trusted_issuers: Mapping[str, str],
        http: httpx.AsyncClient,
        *,
        jwks_ttl_seconds: float = 300,
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
        self._seen: dict[tuple[str, str], float] = {}  # (iss, jti) -> forget after this time
        self._seen_order: list[tuple[float, tuple[str, str]]] = []  # min-heap over the same entries

    async def verify(self, authorization_header: str | None, audience: str | Collection[str]) -> dict[str, Any]:
        """Return the verified claims of the request's JWT, or raise :class:`HookAuthError`.

        ``audience`` is the URL of the endpoint being called (e.g. ``https://host/cds-services/svc``), or
        several URLs any of which is acceptable (e.g. a feedback endpoint and its service endpoint).
        """
        token = _bearer_token(authorization_header)
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except PyJWTError:
            raise HookAuthError("malformed token") from None

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
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                # Time, audience and jti are checked below against our own clock and rules.
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_sub": False,
                    "verify_jti": False,
                },
            )
        except InvalidSignatureError:
            raise HookAuthError("invalid signature") from None
        except PyJWTError:
            raise HookAuthError("invalid token") from None

        self._check_claims(claims, issuer, audience)
        return claims

    # -- claims ------------------------------------------------------------------------------------------

    def _check_claims(self, claims: dict[str, Any], issuer: str, audience: str | Collection[str]) -> None:
        now = self._clock()
        if claims.get("iss") != issuer:
            raise HookAuthError("untrusted issuer")
        if not _audience_matches(claims.get("aud"), audience):
            raise HookAuthError("audience mismatch")
        exp = claims.get("exp")
        if not _is_number(exp):
            raise HookAuthError("token has no valid exp")
        if now > exp + self._leeway:
            raise HookAuthError("token expired")
        iat = claims.get("iat")
        if not _is_number(iat):
            raise HookAuthError("token has no valid iat")
        if iat > now + self._leeway:
            raise HookAuthError("token issued in the future")
        nbf = claims.get("nbf")
        if nbf is not None and (not _is_number(nbf) or nbf > now + self._leeway):
            raise HookAuthError("token not yet valid")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise HookAuthError("token has no jti")
        sub = claims.get("sub")
        if sub is not None and not isinstance(sub, str):
            raise HookAuthError("token has an invalid sub")
        self._remember_jti(issuer, jti, forget_after=float(exp) + self._leeway, now=now)

    def _remember_jti(self, issuer: str, jti: str, *, forget_after: float, now: float) -> None:
        while self._seen_order and self._seen_order[0][0] < now:
            _, old = heapq.heappop(self._seen_order)
            if old in self._seen and self._seen[old] < now:
                del self._seen[old]
        entry = (issuer, jti)
        if entry in self._seen:
            raise HookAuthError("token replayed")
        self._seen[entry] = forget_after
        heapq.heappush(self._seen_order, (forget_after, entry))

    # -- keys --------------------------------------------------------------------------------------------

    async def _signing_key(self, url: str, kid: str | None, alg: str) -> Any:
        keys = await self._key_set(url, refresh=False)
        jwk = _select_key(keys, kid, alg)
        if jwk is None and self._may_refetch(url):
            keys = await self._key_set(url, refresh=True)
            jwk = _select_key(keys, kid, alg)
        if jwk is None:
            raise HookAuthError("unknown signing key")
        try:
            return jwt.PyJWK(jwk, algorithm=alg).key
        except (PyJWKError, PyJWTError):
            raise HookAuthError("unusable signing key") from None

    def _may_refetch(self, url: str) -> bool:
        last = self._last_fetch.get(url)
        return last is None or self._clock() - last >= _REFETCH_INTERVAL_SECONDS

    async def _key_set(self, url: str, *, refresh: bool) -> list[dict[str, Any]]:
        lock = self._locks.setdefault(url, asyncio.Lock())
        requested_at = self._clock()
        async with lock:
            now = self._clock()
            cached = self._key_sets.get(url)
            if cached is not None:
                fresh = now - cached.fetched_at < self._ttl
                if refresh and cached.fetched_at >= requested_at:
                    return cached.keys  # another request refreshed it while we waited
                if not refresh and fresh:
                    return cached.keys
                if not refresh and not self._may_refetch(url):
                    return cached.keys  # stale, but a fetch just failed: don't hammer the issuer
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
                    return cached.keys
                raise
            self._key_sets[url] = _KeySet(keys=keys, fetched_at=now)
            return keys

    async def _fetch(self, url: str) -> list[dict[str, Any]]:
        try:
            response = await self._http.get(
                url, headers={"Accept": "application/json"}, follow_redirects=False, timeout=_JWKS_TIMEOUT
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


def _audience_matches(claim: Any, audience: str | Collection[str]) -> bool:
    wanted = [audience] if isinstance(audience, str) else list(audience)
    expected = {_strip_slash(url) for url in wanted}
    if isinstance(claim, str):
        return _strip_slash(claim) in expected
    if isinstance(claim, list):
        return any(isinstance(item, str) and _strip_slash(item) in expected for item in claim)
    return False


def _strip_slash(url: str) -> str:
    return url[:-1] if url.endswith("/") else url


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)

"""JwtVerifier against real key pairs and a JWKS served over HTTP on loopback."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from cds_hooks.auth import HookAuthError, JwtVerifier
from service.audit.database import AuditDatabase
from service.audit.seen_tokens import SeenTokens
from tests.jwt_keys import (
    JwksServer,
    KeyPair,
    forge_hs256,
    hook_claims,
    jwks,
    make_ec_keypair,
    make_rsa_keypair,
    public_pem,
    serve_jwks,
    sign_token,
    unsigned_token,
)

ISSUER = "https://ehr.example.org/"
OTHER_ISSUER = "https://evil.example.org"
AUD = "https://cds.example.org/cds-services/trial-prescreen"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def rsa_key() -> KeyPair:
    return make_rsa_keypair("rsa-1", "RS384")


@pytest.fixture(scope="module")
def ec_key() -> KeyPair:
    return make_ec_keypair("ec-1", "ES384")


@pytest.fixture
def server(rsa_key: KeyPair, ec_key: KeyPair) -> Iterator[JwksServer]:
    with serve_jwks({"/jwks.json": jwks(rsa_key, ec_key)}) as srv:
        yield srv


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
def verifier(server: JwksServer, http: httpx.AsyncClient) -> JwtVerifier:
    return JwtVerifier({ISSUER: server.url("/jwks.json")}, http, token_ids())


def token_ids() -> SeenTokens:
    """The ids already used, in a private in-memory audit database (the service uses its audit database)."""
    db = AuditDatabase("sqlite://")
    db.migrate()
    return SeenTokens(db)


def bearer(token: str) -> str:
    return f"Bearer {token}"


async def refused(verifier: JwtVerifier, header: str | None, audience: str = AUD) -> str:
    with pytest.raises(HookAuthError) as info:
        await verifier.verify(header, audience)
    reason = info.value.reason
    token = (header or "").partition(" ")[2]
    if len(token) > 12:
        assert token not in reason
        assert token not in str(info.value)
    return reason


# -- accepted ---------------------------------------------------------------------------------------------


async def test_good_rs384(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    claims = hook_claims(ISSUER, AUD, sub="ehr-client", tenant="t1")
    result = await verifier.verify(bearer(sign_token(rsa_key, claims)), AUD)
    assert result["jti"] == claims["jti"]
    assert result["sub"] == "ehr-client"


async def test_good_es384(verifier: JwtVerifier, ec_key: KeyPair) -> None:
    claims = hook_claims(ISSUER, AUD)
    result = await verifier.verify(bearer(sign_token(ec_key, claims)), AUD)
    assert result["iss"] == ISSUER


async def test_aud_as_array(verifier: JwtVerifier, ec_key: KeyPair) -> None:
    claims = hook_claims(ISSUER, ["https://other.example.org/cds-services", AUD])
    assert (await verifier.verify(bearer(sign_token(ec_key, claims)), AUD))["aud"] == claims["aud"]


async def test_aud_trailing_slash_ignored(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    token = sign_token(rsa_key, hook_claims(ISSUER, AUD + "/"))
    assert await verifier.verify(bearer(token), AUD)


async def test_any_of_several_audiences(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    token = sign_token(rsa_key, hook_claims(ISSUER, AUD))
    assert await verifier.verify(bearer(token), [AUD + "/feedback", AUD])


async def test_issuer_trailing_slash_ignored(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    token = sign_token(rsa_key, hook_claims(ISSUER.rstrip("/"), AUD))
    assert await verifier.verify(bearer(token), AUD)


async def test_lowercase_bearer_scheme(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    assert await verifier.verify("bearer " + sign_token(rsa_key, hook_claims(ISSUER, AUD)), AUD)


async def test_jku_equal_to_trusted_url_is_accepted(
    verifier: JwtVerifier, server: JwksServer, rsa_key: KeyPair
) -> None:
    token = sign_token(rsa_key, hook_claims(ISSUER, AUD), headers={"jku": server.url("/jwks.json")})
    assert await verifier.verify(bearer(token), AUD)


async def test_no_kid_uses_the_only_key_of_that_type(
    http: httpx.AsyncClient, rsa_key: KeyPair, ec_key: KeyPair
) -> None:
    with serve_jwks({"/k": jwks(rsa_key, ec_key)}) as srv:
        verifier = JwtVerifier({ISSUER: srv.url("/k")}, http, token_ids())
        token = sign_token(ec_key, hook_claims(ISSUER, AUD), include_kid=False)
        assert await verifier.verify(bearer(token), AUD)


async def test_expired_within_leeway_is_accepted(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    claims = hook_claims(ISSUER, AUD, now=time.time() - 310)  # exp 10 s ago, leeway 30 s
    assert await verifier.verify(bearer(sign_token(rsa_key, claims)), AUD)


# -- refused ----------------------------------------------------------------------------------------------


async def test_expired(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    claims = hook_claims(ISSUER, AUD, now=time.time() - 400)
    assert await refused(verifier, bearer(sign_token(rsa_key, claims))) == "token expired"


async def test_wrong_aud(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    token = sign_token(rsa_key, hook_claims(ISSUER, "https://cds.example.org/cds-services/other"))
    assert await refused(verifier, bearer(token)) == "audience mismatch"


async def test_wrong_aud_in_array(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    token = sign_token(rsa_key, hook_claims(ISSUER, ["https://cds.example.org/cds-services"]))
    assert await refused(verifier, bearer(token)) == "audience mismatch"


async def test_unknown_kid(verifier: JwtVerifier) -> None:
    stranger = make_ec_keypair("not-published", "ES384")
    token = sign_token(stranger, hook_claims(ISSUER, AUD))
    assert await refused(verifier, bearer(token)) == "unknown signing key"


async def test_known_kid_but_other_private_key(verifier: JwtVerifier, ec_key: KeyPair) -> None:
    impostor = make_ec_keypair(ec_key.kid, "ES384")
    token = sign_token(impostor, hook_claims(ISSUER, AUD))
    assert await refused(verifier, bearer(token)) == "invalid signature"


async def test_untrusted_issuer(verifier: JwtVerifier, server: JwksServer, rsa_key: KeyPair) -> None:
    token = sign_token(rsa_key, hook_claims(OTHER_ISSUER, AUD))
    assert await refused(verifier, bearer(token)) == "untrusted issuer"
    assert server.hits == {}  # nothing fetched for an issuer we don't trust


async def test_alg_none(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    token = unsigned_token(hook_claims(ISSUER, AUD), headers={"kid": rsa_key.kid})
    assert await refused(verifier, bearer(token)) == "algorithm not allowed"


@pytest.mark.parametrize("which", ["rsa", "ec"])
async def test_hs256_signed_with_public_key_pem(
    verifier: JwtVerifier, rsa_key: KeyPair, ec_key: KeyPair, which: str
) -> None:
    pair = rsa_key if which == "rsa" else ec_key
    token = forge_hs256(hook_claims(ISSUER, AUD), public_pem(pair), headers={"kid": pair.kid})
    assert await refused(verifier, bearer(token)) == "algorithm not allowed"


async def test_replayed_jti(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    token = sign_token(rsa_key, hook_claims(ISSUER, AUD))
    await verifier.verify(bearer(token), AUD)
    assert await refused(verifier, bearer(token)) == "token replayed"


async def test_same_jti_from_another_token_is_replay(verifier: JwtVerifier, ec_key: KeyPair) -> None:
    first = hook_claims(ISSUER, AUD)
    await verifier.verify(bearer(sign_token(ec_key, first)), AUD)
    second = hook_claims(ISSUER, AUD, jti=first["jti"])
    assert await refused(verifier, bearer(sign_token(ec_key, second))) == "token replayed"


async def test_future_iat(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    claims = hook_claims(ISSUER, AUD, now=time.time() + 600)
    assert await refused(verifier, bearer(sign_token(rsa_key, claims))) == "token issued in the future"


async def test_not_yet_valid(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    claims = hook_claims(ISSUER, AUD, nbf=int(time.time()) + 600)
    assert await refused(verifier, bearer(sign_token(rsa_key, claims))) == "token not yet valid"


async def test_no_audience(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    claims = hook_claims(ISSUER, AUD)
    del claims["aud"]
    assert await refused(verifier, bearer(sign_token(rsa_key, claims))) == "audience mismatch"


@pytest.mark.parametrize(
    ("claim", "reason"),
    [("jti", "token has no jti"), ("exp", "token has no valid exp"), ("iat", "token has no valid iat")],
)
async def test_missing_required_claim(verifier: JwtVerifier, rsa_key: KeyPair, claim: str, reason: str) -> None:
    claims = hook_claims(ISSUER, AUD)
    del claims[claim]
    assert await refused(verifier, bearer(sign_token(rsa_key, claims))) == reason


async def test_jku_not_the_trusted_one(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    with serve_jwks({"/attacker.json": jwks(rsa_key)}) as attacker:
        token = sign_token(rsa_key, hook_claims(ISSUER, AUD), headers={"jku": attacker.url("/attacker.json")})
        assert await refused(verifier, bearer(token)) == "untrusted key set URL"
        assert attacker.hits == {}  # never contacted


async def test_key_of_wrong_type_for_alg(verifier: JwtVerifier, rsa_key: KeyPair, ec_key: KeyPair) -> None:
    # ES384 header naming the RSA key's kid.
    token = sign_token(ec_key, hook_claims(ISSUER, AUD), headers={"kid": rsa_key.kid})
    assert await refused(verifier, bearer(token)) == "signing key does not match algorithm"


@pytest.mark.parametrize(
    "header",
    [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Bearer a b", "Bearer not-a-jwt", "Bearer a.b.c"],
)
async def test_malformed_header(verifier: JwtVerifier, header: str | None) -> None:
    reason = await refused(verifier, header)
    assert reason in {"missing bearer token", "authorization header is not a bearer token", "malformed token"}


# -- key set fetching and caching -------------------------------------------------------------------------


async def test_key_set_is_cached(verifier: JwtVerifier, server: JwksServer, rsa_key: KeyPair) -> None:
    for _ in range(3):
        await verifier.verify(bearer(sign_token(rsa_key, hook_claims(ISSUER, AUD))), AUD)
    assert server.hits == {"/jwks.json": 1}


async def test_rotation_refetches_on_unknown_kid_rate_limited(http: httpx.AsyncClient, rsa_key: KeyPair) -> None:
    clock = FakeClock(time.time())
    rotated = make_ec_keypair("ec-2", "ES384")
    with serve_jwks({"/k": jwks(rsa_key)}) as srv:
        verifier = JwtVerifier({ISSUER: srv.url("/k")}, http, token_ids(), clock=clock)
        await verifier.verify(bearer(sign_token(rsa_key, hook_claims(ISSUER, AUD))), AUD)
        srv.documents["/k"] = jwks(rsa_key, rotated)
        # Within 10 s of the last fetch an unknown kid does not trigger a refetch.
        clock.now += 5
        token = sign_token(rotated, hook_claims(ISSUER, AUD))
        assert await refused(verifier, bearer(token)) == "unknown signing key"
        assert srv.hits["/k"] == 1
        clock.now += 6
        token = sign_token(rotated, hook_claims(ISSUER, AUD))
        assert await verifier.verify(bearer(token), AUD)
        assert srv.hits["/k"] == 2


async def test_key_set_refreshed_after_ttl(http: httpx.AsyncClient, rsa_key: KeyPair) -> None:
    clock = FakeClock(time.time())
    with serve_jwks({"/k": jwks(rsa_key)}) as srv:
        verifier = JwtVerifier({ISSUER: srv.url("/k")}, http, token_ids(), jwks_ttl_seconds=60, clock=clock)
        await verifier.verify(bearer(sign_token(rsa_key, hook_claims(ISSUER, AUD))), AUD)
        clock.now += 61
        await verifier.verify(bearer(sign_token(rsa_key, hook_claims(ISSUER, AUD))), AUD)
        assert srv.hits["/k"] == 2
        # A failing refresh keeps the cached keys rather than locking everyone out.
        srv.statuses["/k"] = 500
        clock.now += 61
        await verifier.verify(bearer(sign_token(rsa_key, hook_claims(ISSUER, AUD))), AUD)
        assert srv.hits["/k"] == 3


@pytest.mark.parametrize("status", [500, 404])
async def test_key_set_unavailable(http: httpx.AsyncClient, rsa_key: KeyPair, status: int) -> None:
    with serve_jwks({"/k": jwks(rsa_key)}) as srv:
        srv.statuses["/k"] = status
        verifier = JwtVerifier({ISSUER: srv.url("/k")}, http, token_ids())
        token = sign_token(rsa_key, hook_claims(ISSUER, AUD))
        assert await refused(verifier, bearer(token)) == "issuer keys unavailable"


async def test_key_set_server_down(http: httpx.AsyncClient, rsa_key: KeyPair) -> None:
    with serve_jwks() as srv:
        url = srv.url("/k")
    verifier = JwtVerifier({ISSUER: url}, http, token_ids())  # the server is stopped: connection refused
    token = sign_token(rsa_key, hook_claims(ISSUER, AUD))
    assert await refused(verifier, bearer(token)) == "issuer keys unavailable"


async def test_concurrent_requests_share_one_failed_fetch(http: httpx.AsyncClient, rsa_key: KeyPair) -> None:
    with serve_jwks({"/k": jwks(rsa_key)}) as srv:
        srv.statuses["/k"] = 500
        verifier = JwtVerifier({ISSUER: srv.url("/k")}, http, token_ids())
        tokens = [sign_token(rsa_key, hook_claims(ISSUER, AUD)) for _ in range(5)]
        results = await asyncio.gather(*(verifier.verify(bearer(t), AUD) for t in tokens), return_exceptions=True)
        assert all(isinstance(r, HookAuthError) and r.reason == "issuer keys unavailable" for r in results)
        assert srv.hits["/k"] == 1


async def test_key_set_not_a_jwks(http: httpx.AsyncClient, rsa_key: KeyPair) -> None:
    with serve_jwks({"/k": {"hello": "world"}}) as srv:
        verifier = JwtVerifier({ISSUER: srv.url("/k")}, http, token_ids())
        token = sign_token(rsa_key, hook_claims(ISSUER, AUD))
        assert await refused(verifier, bearer(token)) == "issuer keys unavailable"


async def test_replay_cache_forgets_expired_tokens(verifier: JwtVerifier, rsa_key: KeyPair) -> None:
    """Tokens are checked against the real time (PyJWT); the ids are forgotten by the verifier's clock."""
    clock = FakeClock(time.time())
    verifier._clock = clock
    ids = verifier._token_ids
    assert isinstance(ids, SeenTokens)
    first = hook_claims(ISSUER, AUD)
    await verifier.verify(bearer(sign_token(rsa_key, first)), AUD)
    clock.now += 400  # past the first token's exp + leeway, and a sweep is due
    await verifier.verify(bearer(sign_token(rsa_key, hook_claims(ISSUER, AUD))), AUD)
    assert ids.first_use(ISSUER, first["jti"], expires_at=clock.now + 60, now=clock.now)  # forgotten


@pytest.mark.parametrize(("lifetime", "accepted"), [(300, True), (301, False), (10 * 365 * 24 * 3600, False)])
async def test_a_token_valid_longer_than_the_maximum_is_refused(
    verifier: JwtVerifier, rsa_key: KeyPair, lifetime: int, accepted: bool
) -> None:
    token = bearer(sign_token(rsa_key, hook_claims(ISSUER, AUD, lifetime=lifetime)))
    if accepted:
        await verifier.verify(token, AUD)
    else:
        assert await refused(verifier, token) == "token lifetime too long"


@pytest.mark.parametrize("mangle", [lambda h, p, s: f"{h}!!!!.{p}.{s}", lambda h, p, s: f"{h}.{p}.{s}.x"])
async def test_junk_around_the_segments_is_malformed(verifier: JwtVerifier, rsa_key: KeyPair, mangle: Any) -> None:
    """The fast unverified parse is as strict as PyJWT's about the base64 alphabet and the number of parts."""
    header, payload, signature = sign_token(rsa_key, hook_claims(ISSUER, AUD)).split(".")
    assert await refused(verifier, bearer(mangle(header, payload, signature))) == "malformed token"


async def test_segments_that_are_not_json_objects_are_malformed(verifier: JwtVerifier) -> None:
    for header, payload in ((b"[1]", b"{}"), (b'{"alg":"RS384"}', b'"text"'), (b"{", b"{}")):
        token = ".".join(base64.urlsafe_b64encode(part).decode().rstrip("=") for part in (header, payload, b"sig"))
        assert await refused(verifier, bearer(token)) == "malformed token"


async def test_a_signing_key_is_parsed_once_per_key_set(
    verifier: JwtVerifier, rsa_key: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    await verifier.verify(bearer(sign_token(rsa_key, hook_claims(ISSUER, AUD))), AUD)
    monkeypatch.setattr("jwt.PyJWK", None)  # any further parse would fail
    await verifier.verify(bearer(sign_token(rsa_key, hook_claims(ISSUER, AUD))), AUD)

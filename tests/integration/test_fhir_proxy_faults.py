"""A misbehaving reverse proxy in front of the real FHIR server (SEKMET).

The proxy (Starlette + httpx, on loopback) forwards the service's FHIR requests to the real server, forcing a
small page size (`_count`) so searches really page, and rewrites the server's own base URL in bodies to its own
(as a reverse proxy does). Per mode it injects one fault: a slow (dripping) body, a body truncated mid-JSON,
429 with Retry-After on every 2nd request, 503 on page 2 of a paged search, `next` links rewritten to a server
outside the allow-list, a page inflated past the 20 MB response cap. Each hook call (no prefetch, fhirServer =
the proxy) must answer 200 within a bound with a valid CDS response and a warning card, and no card may claim
"Eligible"; in pass-through mode the seeded patient's cards are exactly those of a full prefetch.

The stub-based matrix in test_hook_faults.py covers the other faults of a FHIR server (refused, hang, 401/403/404, 500,
wrong Bundle type, endless next links); this file puts the faults between the service and a real server.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench.fhir_server import created_id, seed_transaction
from service.app import create_app
from service.demo.builder import transaction_bundle
from service.fhir_access.client import MAX_RESPONSE_BYTES
from service.settings import Settings
from tests.integration.hook_support import (
    assert_no_confident_eligible,
    card_key,
    fetch_prefetch,
    hook_body,
    post_hook_timed,
    serve_app,
    shared_screener,
    sle_patient_resources,
    trial_cards,
    warning_cards,
)

pytestmark = pytest.mark.integration

PAGE_SIZE = "3"  # the seeded patient has 11 Observations: 4 pages
BUDGET_S = 3.0
ANSWER_BOUND_S = 15.0
FHIR_TOKEN = "proxy-test-token"


@dataclass
class ProxyState:
    upstream: str = ""  # the real server's base URL
    public: str = ""  # the proxy's base URL
    outside: str = ""  # a base URL not in the allow-list
    mode: str = "pass-through"
    requests: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    pages: int = 0  # requests for page 2+ of a search

    def reset(self, mode: str) -> None:
        self.mode, self.requests, self.injected, self.pages = mode, 0, Counter(), 0


STATE = ProxyState()


async def _drip(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 16):
        await asyncio.sleep(0.25)  # every chunk comes well within the per-read timeout; the whole never does
        yield body[start : start + 16]


async def _inflated(body: bytes) -> AsyncIterator[bytes]:
    head, tail = body[: body.rindex(b"}")], b"}"
    yield head
    pad = b" " * (1024 * 1024)
    for _ in range(MAX_RESPONSE_BYTES // len(pad) + 2):  # > the cap, no Content-Length (chunked)
        yield pad
    yield tail


async def _proxy(request: Request) -> Response:
    STATE.requests += 1
    number, mode = STATE.requests, STATE.mode
    path = request.path_params["path"]
    resource_type = path.split("/")[0]
    is_search = "/" not in path.strip("/")
    params = list(request.query_params.multi_items())
    if any(k == "_offset" and v != "0" for k, v in params):
        STATE.pages += 1
        if mode == "503-page-2":
            STATE.injected[mode] += 1
            return JSONResponse(
                {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "transient"}]}, 503
            )
    if mode == "429-every-2nd" and number % 2 == 0:
        STATE.injected[mode] += 1
        body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "throttled"}]}
        return JSONResponse(body, 429, headers={"Retry-After": "1"})
    if is_search:
        params = [(k, PAGE_SIZE if k == "_count" else v) for k, v in params]
    headers = {k: v for k, v in request.headers.items() if k.lower() in ("accept", "authorization")}
    async with httpx.AsyncClient(timeout=10) as upstream:
        answer = await upstream.get(f"{STATE.upstream}/{path}", params=params, headers=headers)
    body = answer.content
    target = STATE.outside if mode == "next-outside" else STATE.public
    if mode == "next-outside" and b'"next"' in body:
        STATE.injected[mode] += 1
    body = body.replace(STATE.upstream.encode(), target.encode())
    media_type = answer.headers.get("content-type", "application/fhir+json")
    if answer.status_code == 200 and is_search and resource_type == "Observation":
        first_page = not any(k == "_offset" and v != "0" for k, v in params)
        if mode == "slow-body":
            STATE.injected[mode] += 1
            return StreamingResponse(_drip(body), media_type=media_type)
        if mode == "truncate":
            STATE.injected[mode] += 1
            cut = body[: len(body) // 2]
            assert cut.count(b"{") > cut.count(b"}"), "the cut must fall inside the JSON"
            return Response(cut, media_type=media_type)
        if mode == "inflate" and first_page:
            STATE.injected[mode] += 1
            return StreamingResponse(_inflated(body), media_type=media_type)
    return Response(body, status_code=answer.status_code, media_type=media_type)


async def _outside(request: Request) -> Response:
    STATE.injected["outside-contacted"] += 1
    return JSONResponse({"resourceType": "Bundle", "type": "searchset"})


@pytest.fixture(scope="module")
def proxy(fhir_server: str) -> Iterator[str]:
    with (
        serve_app(Starlette(routes=[Route("/fhir/{path:path}", _proxy)])) as proxy_url,
        serve_app(Starlette(routes=[Route("/{path:path}", _outside)])) as outside_url,
    ):
        STATE.upstream, STATE.public, STATE.outside = (
            fhir_server.rstrip("/"),
            f"{proxy_url}/fhir",
            f"{outside_url}/fhir",
        )
        yield STATE.public


@pytest.fixture(scope="module")
def seeded(fhir_server: str) -> tuple[str, dict[str, Any]]:
    """The seeded patient's server id and a full prefetch of it read straight from the server."""
    own = transaction_bundle(sle_patient_resources("proxy-sle"))
    patient_id = created_id(seed_transaction(fhir_server, own), own, "Patient")
    return patient_id, asyncio.run(fetch_prefetch(fhir_server, patient_id))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, proxy: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('proxy-faults')}/audit.sqlite3",
        require_jwt=False,
        allowed_fhir_servers=[proxy],  # only the proxy: the real server and the "outside" one are not allowed
        hook_budget_seconds=BUDGET_S,
        fhir_request_timeout_seconds=2.0,
    )
    with TestClient(create_app(settings, shared_screener())) as test_client:
        yield test_client


def test_pass_through_gives_the_prefetch_cards(
    client: TestClient, proxy: str, seeded: tuple[str, dict[str, Any]]
) -> None:
    patient_id, prefetch = seeded
    STATE.reset("pass-through")
    fetched, elapsed = post_hook_timed(client, hook_body(patient_id, fhir_server=proxy, token=FHIR_TOKEN))
    through_proxy, pages = STATE.requests, STATE.pages
    expected, _ = post_hook_timed(client, hook_body(patient_id, prefetch=prefetch))

    assert elapsed < ANSWER_BOUND_S
    assert pages >= 3, "the Observation search did not page through the proxy"
    assert warning_cards(fetched) == [], fetched
    assert any(c["summary"].startswith("Eligible") for c in fetched["cards"]), "the seeded patient is eligible"
    assert sorted(card_key(c) for c in fetched["cards"]) == sorted(card_key(c) for c in expected["cards"])
    audit = client.app.state.audit  # type: ignore[attr-defined]
    for card in trial_cards(fetched):
        assert audit.get_card(card["uuid"]) is not None
    print(f"\n[proxy pass-through] {through_proxy} proxied requests ({pages} next pages), {elapsed:.2f} s")


# (mode, words of which one must appear in the warning card)
MODES = [
    ("slow-body", "budget|timed out"),
    ("truncate", "not JSON"),
    ("429-every-2nd", "429"),
    ("503-page-2", "503"),
    ("next-outside", "outside the allowed"),
    ("inflate", "exceeds"),
]


@pytest.mark.parametrize(("mode", "expected"), MODES, ids=[m for m, _ in MODES])
def test_proxy_fault_gives_a_bounded_honest_answer(
    client: TestClient, proxy: str, seeded: tuple[str, dict[str, Any]], mode: str, expected: str
) -> None:
    patient_id, _ = seeded
    STATE.reset(mode)
    payload, elapsed = post_hook_timed(client, hook_body(patient_id, fhir_server=proxy, token=FHIR_TOKEN))

    print(f"\n[proxy {mode}] {STATE.injected[mode]} faults injected, answered in {elapsed:.2f} s")
    assert STATE.injected[mode] >= 1, f"mode {mode}: no fault was injected"
    assert STATE.injected["outside-contacted"] == 0, "the service followed a link outside the allow-list"
    assert elapsed < ANSWER_BOUND_S, elapsed
    warnings = warning_cards(payload)
    assert len(warnings) == 1, payload
    detail = warnings[0].get("detail", "")
    assert re.search(expected, detail, re.IGNORECASE), detail
    assert FHIR_TOKEN not in str(payload)
    assert STATE.outside not in str(payload)
    assert_no_confident_eligible(payload)
    audit = client.app.state.audit  # type: ignore[attr-defined]
    for card in trial_cards(payload):
        assert audit.get_card(card["uuid"]) is not None

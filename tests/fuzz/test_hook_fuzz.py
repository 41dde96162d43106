"""Body fuzzing of the endpoints that read raw JSON bodies: never a 500, never a trace.

The hook and feedback endpoints (and POST /screening) read their bodies themselves, so their OpenAPI operations
carry no request schema and schemathesis cannot vary the body. Here hypothesis posts:

- arbitrary JSON values (``st.recursive``), as bytes, to each endpoint;
- near-valid requests: a real hook request with full prefetch, a feedback body naming a card this service
  issued, a FHIR Bundle of a real patient; each with 1-3 mutations at random places (a field dropped, retyped
  or replaced by an arbitrary JSON value), down into the FHIR resources the screening engine reads.

Every answer must be one of the documented statuses, never a 5xx, and every 4xx a JSON object with a string
``error`` and a non-empty ``reason``. Plus fixed cases: the request size cap (413, declared and streamed),
deeply nested JSON (400, never a 500 or a RecursionError), and strict Content-Type (400).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import create_app
from service.demo.builder import build_resources, collection_bundle
from service.settings import Settings
from tests.integration.hook_support import (
    FEEDBACK_PATH,
    HOOK_PATH,
    hook_body,
    prefetch_for,
    shared_screener,
    sle_spec,
)

SCREENING_PATH = "/screening"
ON = dt.date(2026, 11, 23)
RESOURCES = build_resources("fuzz-hook-patient", sle_spec(), ON)
HOOK_BODY = {**hook_body(RESOURCES[0]["id"], prefetch=prefetch_for(RESOURCES)), "hookInstance": "fuzz-hook-1"}
BUNDLE = collection_bundle(RESOURCES)
ENDPOINTS = (HOOK_PATH, FEEDBACK_PATH, SCREENING_PATH)
# 403: a generated hook request may name a fhirServer, and this service allows none (fhir-server-not-allowed).
ALLOWED_STATUSES = {200, 400, 403, 404, 413}
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
SEEN: Counter[tuple[str, int]] = Counter()


def _settings(tmp: Path, **fields: Any) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp}/audit.sqlite3", require_jwt=False, audit_token="fuzz-token", **fields
    )


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(_settings(tmp_path_factory.mktemp("fuzz-hook")), shared_screener())
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    if SEEN:
        print(f"\nhook fuzz: {sum(SEEN.values())} requests; by endpoint and status {dict(sorted(SEEN.items()))}")


@pytest.fixture(scope="module")
def feedback_body(client: TestClient) -> dict[str, Any]:
    """A valid feedback body about a card this service really issued (so feedback can answer 200)."""
    response = client.post(HOOK_PATH, json=HOOK_BODY)
    assert response.status_code == 200, response.text
    cards = [c for c in response.json()["cards"] if c.get("uuid")]
    assert cards, "the fuzz patient should get at least one trial card"
    return {
        "feedback": [
            {
                "card": cards[0]["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {
                        "system": "urn:trial-screen:override-reason",
                        "code": "patient-declined",
                        "display": "Patient not interested",
                    },
                    "userComment": "fuzz",
                },
                "outcomeTimestamp": "2026-11-23T10:00:00Z",
            }
        ]
    }


def assert_clean_answer(path: str, response: Any, allowed: set[int] = ALLOWED_STATUSES) -> None:
    SEEN[(path, response.status_code)] += 1
    assert response.status_code in allowed, f"{path}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    body = response.json()
    assert isinstance(body, dict), body
    if response.status_code >= 400:
        assert isinstance(body.get("error"), str), body
        assert body["error"], body
        assert isinstance(body.get("reason"), str), body
        assert body["reason"].strip(), body
        assert "Traceback" not in response.text


def post_json(client: TestClient, path: str, value: Any) -> Any:
    data = json.dumps(value, allow_nan=False).encode()
    return client.post(path, content=data, headers={"Content-Type": "application/json"})


# --- strategies ---------------------------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "patient-view", "Patient/x", "2026-11-23", "final", "entered-in-error", "g/L", "10*9/L"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _retyped(value: Any) -> Any:
    """The same information in the wrong JSON type."""
    if isinstance(value, bool):
        return "true" if value else 0
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return int(value) if value.isdigit() else [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return {}


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with 1-3 mutations: a field dropped, retyped, or replaced by any JSON value."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = list(_paths(doc))[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        action = draw(st.sampled_from(("drop", "retype", "replace")))
        if action == "drop":
            del parent[key]
        elif action == "retype":
            parent[key] = _retyped(parent[key])
        else:
            parent[key] = draw(JSON_VALUES)
    return doc


# --- properties ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
@FUZZ
@given(value=JSON_VALUES)
def test_any_json_value_gets_a_clean_answer(client: TestClient, path: str, value: Any) -> None:
    assert_clean_answer(path, post_json(client, path, value))


@settings(FUZZ, max_examples=40)
@given(body=mutated(HOOK_BODY))
def test_near_valid_hook_requests(client: TestClient, body: dict[str, Any]) -> None:
    response = post_json(client, HOOK_PATH, body)
    assert_clean_answer(HOOK_PATH, response)
    if response.status_code == 200:
        assert isinstance(response.json().get("cards"), list)


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_near_valid_feedback(client: TestClient, feedback_body: dict[str, Any], data: st.DataObject) -> None:
    body = data.draw(mutated(feedback_body))
    assert_clean_answer(FEEDBACK_PATH, post_json(client, FEEDBACK_PATH, body))


@settings(FUZZ, max_examples=40)
@given(bundle=mutated(BUNDLE))
def test_near_valid_screening_bundles(client: TestClient, bundle: dict[str, Any]) -> None:
    response = post_json(client, f"{SCREENING_PATH}?on={ON.isoformat()}", bundle)
    assert_clean_answer(SCREENING_PATH, response, {200, 400})
    if response.status_code == 200:
        assert isinstance(response.json().get("trials"), list)


def test_unmutated_requests_are_accepted(client: TestClient, feedback_body: dict[str, Any]) -> None:
    """The fuzz bases are valid: mutations start from 200s, so rejections above are the mutations' doing."""
    assert post_json(client, HOOK_PATH, HOOK_BODY).status_code == 200
    assert post_json(client, FEEDBACK_PATH, feedback_body).status_code == 200
    assert post_json(client, f"{SCREENING_PATH}?on={ON.isoformat()}", BUNDLE).status_code == 200


# --- fixed limits -------------------------------------------------------------------------------------------

SMALL_CAP = 4096


@pytest.fixture
def small_cap_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("TRIAL_SCREEN_MAX_REQUEST_BYTES", str(SMALL_CAP))  # read by Settings from the env
    app = create_app(_settings(tmp_path), shared_screener())
    assert app.state.settings.max_request_bytes == SMALL_CAP
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


BASES: dict[str, Callable[[], dict[str, Any]]] = {
    HOOK_PATH: lambda: copy.deepcopy(HOOK_BODY),
    FEEDBACK_PATH: lambda: {"feedback": [{"card": "x", "outcome": "overridden", "outcomeTimestamp": "2026-11-23"}]},
    SCREENING_PATH: lambda: copy.deepcopy(BUNDLE),
}


@pytest.mark.parametrize("path", ENDPOINTS)
def test_body_over_the_cap_is_413(small_cap_client: TestClient, path: str) -> None:
    body = BASES[path]()
    body["padding"] = "x" * (SMALL_CAP + 1)
    data = json.dumps(body).encode()
    response = small_cap_client.post(path, content=data, headers={"Content-Type": "application/json"})
    assert_clean_answer(path, response, {413})

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap must hold while streaming too
        for start in range(0, len(data), 1024):
            yield data[start : start + 1024]

    response = small_cap_client.post(path, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_clean_answer(path, response, {413})


@pytest.mark.parametrize("path", ENDPOINTS)
def test_body_under_the_cap_is_not_413(small_cap_client: TestClient, path: str) -> None:
    response = small_cap_client.post(path, content=b"{}", headers={"Content-Type": "application/json"})
    assert_clean_answer(path, response, {400})


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
@pytest.mark.parametrize("path", ENDPOINTS)
def test_deeply_nested_json_is_400(client: TestClient, path: str, depth: int) -> None:
    arrays = b"[" * depth + b"]" * depth
    response = client.post(path, content=arrays, headers={"Content-Type": "application/json"})
    assert_clean_answer(path, response, {400})
    objects = b'{"a":' * depth + b"1" + b"}" * depth
    response = client.post(path, content=objects, headers={"Content-Type": "application/json"})
    assert_clean_answer(path, response, {400})


@pytest.mark.parametrize("path", ENDPOINTS)
def test_deep_nesting_inside_a_valid_request_is_never_a_500(client: TestClient, path: str) -> None:
    """Nesting inside a request that is otherwise valid, at depths the JSON parser accepts and past its limit."""
    for depth in (200, 1_000, 5_000):
        nested = b"[" * depth + b'"leaf"' + b"]" * depth  # written by hand: json.dumps would recurse too deep
        body = BASES[path]()
        if path == SCREENING_PATH:
            body["entry"][1]["resource"]["extension"] = "NESTED"  # inside a resource the engine reads
        elif path == HOOK_PATH:
            body["prefetch"]["observations"]["entry"][0]["resource"]["extension"] = "NESTED"
        else:
            body["feedback"][0]["extension"] = "NESTED"
        data = json.dumps(body).encode().replace(b'"NESTED"', nested)
        response = client.post(path, content=data, headers={"Content-Type": "application/json"})
        assert_clean_answer(path, response)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/html", "xml"])
@pytest.mark.parametrize("path", ENDPOINTS)
def test_wrong_content_type_is_400(client: TestClient, path: str, content_type: str) -> None:
    data = json.dumps(BASES[path]()).encode()
    response = client.post(path, content=data, headers={"Content-Type": content_type})
    assert_clean_answer(path, response, {400})
    assert "content-type" in response.json()["reason"].lower()


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/fhir+json"]
)
def test_json_content_types_are_accepted(client: TestClient, content_type: str) -> None:
    for path in (HOOK_PATH, SCREENING_PATH):
        data = json.dumps(BASES[path]()).encode()
        response = client.post(path, content=data, headers={"Content-Type": content_type})
        assert_clean_answer(path, response, {200})


# --- regressions: bodies the fuzzing above turned into 500s (fixed in cds_hooks/prefetch.py and bundle.py) ---


def _hook_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body = copy.deepcopy(HOOK_BODY)
    change(body)
    return body


REGRESSIONS: list[tuple[str, str, Callable[[], dict[str, Any]], set[int]]] = [
    (
        "prefetch-entry-not-a-list",
        HOOK_PATH,
        lambda: _hook_with(lambda b: b["prefetch"]["conditions"].update(entry=7)),
        {400},
    ),
    (
        "prefetch-entry-search-is-a-list",
        HOOK_PATH,
        lambda: _hook_with(lambda b: b["prefetch"]["observations"]["entry"][0].update(search=["match"])),
        {200},
    ),
    (
        "prefetch-resourceType-is-a-list",
        HOOK_PATH,
        lambda: _hook_with(lambda b: b["prefetch"]["observations"]["entry"][0]["resource"].update(resourceType=[1])),
        {200},
    ),
    (
        "prefetch-resourceType-is-an-object",
        HOOK_PATH,
        lambda: _hook_with(lambda b: b["prefetch"]["conditions"]["entry"][0]["resource"].update(resourceType={})),
        {200},
    ),
    ("bundle-type-is-a-list", SCREENING_PATH, lambda: {**copy.deepcopy(BUNDLE), "type": ["collection"]}, {400}),
    ("bundle-type-is-an-object", SCREENING_PATH, lambda: {**copy.deepcopy(BUNDLE), "type": {}}, {400}),
]


@pytest.mark.parametrize(
    ("path", "make_body", "expected"), [r[1:] for r in REGRESSIONS], ids=[r[0] for r in REGRESSIONS]
)
def test_regressions_found_by_fuzzing(
    client: TestClient, path: str, make_body: Callable[[], dict[str, Any]], expected: set[int]
) -> None:
    assert_clean_answer(path, post_json(client, path, make_body()), expected)

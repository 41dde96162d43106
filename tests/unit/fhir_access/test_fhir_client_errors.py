"""FhirClient error paths over httpx.MockTransport (the happy path runs against SEKMET: tests/integration)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from service.fhir_access.client import FetchProblem, FhirClient
from service.fhir_access.errors import (
    FhirAuthError,
    FhirError,
    FhirResponseError,
    FhirServerNotAllowed,
    FhirUnavailable,
)

BASE = "https://ehr.example.org/fhir"
TOKEN = "s3cret-bearer-token"
PATIENT_ID = "pat-123"
Handler = Callable[[httpx.Request], httpx.Response]


def fhir(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/fhir+json", **headers},
    )


def outcome(code: str = "not-found") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": "Patient/pat-123 of Jane Doe"}],
    }


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    links = [{"relation": "next", "url": next_url}] if next_url else []
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


def condition(n: int) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": f"c{n}", "subject": {"reference": f"Patient/{PATIENT_ID}"}}


PATIENT = {"resourceType": "Patient", "id": PATIENT_ID}


def _no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError("no request may be sent")


# The allow-list is checked before any I/O; this client is never used to send.
OFFLINE = httpx.AsyncClient(transport=httpx.MockTransport(_no_network))


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., FhirClient]]:
    opened: list[httpx.AsyncClient] = []

    def make(handler: Handler, **kwargs: Any) -> FhirClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        opened.append(http)
        return FhirClient(http, [BASE], **kwargs)

    yield make
    for http in opened:
        await http.aclose()


def assert_clean(error: BaseException) -> None:
    text = str(error)
    assert TOKEN not in text
    assert PATIENT_ID not in text
    assert "Jane" not in text


# -- allow-list ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example.org/fhir",
        "https://ehr.example.org/fhir/",
        "https://EHR.example.org:443/fhir",
        "https://ehr.example.org/fhir/tenant-a",
    ],
)
def test_allowed(url: str) -> None:
    FhirClient(OFFLINE, [BASE + "/"]).check_allowed(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://ehr.example.org/fhir",  # scheme
        "https://ehr.example.org:8443/fhir",  # port
        "https://ehr.example.org/fhirx",  # path prefix without a segment boundary
        "https://ehr.example.org/",  # shorter path
        "https://ehr.example.org.evil.com/fhir",  # host suffix
        "https://evil.com/ehr.example.org/fhir",  # substring
        "https://ehr.example.org@evil.com/fhir",  # userinfo
        "https://user@ehr.example.org/fhir",
        "https://ehr.example.org/fhir/../admin",  # dot segments
        "https://ehr.example.org/fhir/%2e%2e/admin",
        "https://ehr.example.org/fhir?x=1",
        "ftp://ehr.example.org/fhir",
        "not a url",
        "",
    ],
)
def test_not_allowed(url: str) -> None:
    client = FhirClient(OFFLINE, [BASE])
    with pytest.raises(FhirServerNotAllowed):
        client.check_allowed(url)


def test_not_allowed_message_hides_credentials_and_query() -> None:
    with pytest.raises(FhirServerNotAllowed) as info:
        FhirClient(OFFLINE, [BASE]).check_allowed(f"https://user:{TOKEN}@evil.example.com/fhir?patient=pat-123")
    assert "https://evil.example.com/fhir" in str(info.value)
    assert_clean(info.value)


def test_empty_allow_list_allows_nothing() -> None:
    with pytest.raises(FhirServerNotAllowed):
        FhirClient(OFFLINE, []).check_allowed(BASE)


async def test_read_refuses_unlisted_server_without_a_request(make_client: Callable[..., FhirClient]) -> None:
    with pytest.raises(FhirServerNotAllowed):
        await make_client(_no_network).read("https://other.example.org/fhir", "Patient", "x", TOKEN)


# -- status codes and transport errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (401, FhirAuthError),
        (403, FhirAuthError),
        (404, FhirResponseError),
        (400, FhirResponseError),
        (429, FhirUnavailable),
        (500, FhirUnavailable),
        (503, FhirUnavailable),
        (302, FhirResponseError),
    ],
)
async def test_status_mapping(make_client: Callable[..., FhirClient], status: int, error_type: type[FhirError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return fhir(outcome(), status)

    with pytest.raises(error_type) as info:
        await make_client(handler).read(BASE, "Patient", PATIENT_ID, TOKEN)
    assert info.value.status == status
    assert str(status) in str(info.value)
    assert BASE in str(info.value)
    assert_clean(info.value)


async def test_404_names_the_outcome_code_not_its_diagnostics(make_client: Callable[..., FhirClient]) -> None:
    with pytest.raises(FhirResponseError) as info:
        await make_client(lambda r: fhir(outcome("not-found"), 404)).read(BASE, "Patient", PATIENT_ID, None)
    assert "error/not-found" in str(info.value)
    assert_clean(info.value)


async def test_429_mentions_retry_after_and_does_not_wait(make_client: Callable[..., FhirClient]) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return fhir(outcome("throttled"), 429, **{"Retry-After": "120"})

    with pytest.raises(FhirUnavailable) as info:
        await asyncio.wait_for(make_client(handler).read(BASE, "Patient", PATIENT_ID, TOKEN), timeout=2)
    assert info.value.retry_after == 120
    assert "Retry-After: 120 s" in str(info.value)
    assert calls == 1


async def test_redirect_is_not_followed(make_client: Callable[..., FhirClient]) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(307, headers={"Location": "https://evil.example.com/fhir/Patient/pat-123"})

    with pytest.raises(FhirResponseError, match="redirect"):
        await make_client(handler).read(BASE, "Patient", PATIENT_ID, TOKEN)
    assert len(seen) == 1


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectError("connection refused"),
    ],
)
async def test_transport_errors_are_unavailable(make_client: Callable[..., FhirClient], exc: httpx.HTTPError) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(FhirUnavailable) as info:
        await make_client(handler).read(BASE, "Patient", PATIENT_ID, TOKEN)
    assert info.value.timed_out == isinstance(exc, httpx.TimeoutException)
    assert isinstance(info.value.__cause__, httpx.HTTPError)
    assert_clean(info.value)


# -- bodies ------------------------------------------------------------------------------------------------


async def test_not_json(make_client: Callable[..., FhirClient]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>login page</html>", headers={"Content-Type": "text/html"})

    with pytest.raises(FhirResponseError, match="not JSON"):
        await make_client(handler).read(BASE, "Patient", PATIENT_ID, TOKEN)


async def test_a_nul_character_makes_the_response_unreadable(make_client: Callable[..., FhirClient]) -> None:
    """No audit row can keep a NUL: a card resting on it could be shown but never recorded."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = b'{"resourceType": "Patient", "id": "pat-123", "name": [{"text": "J\\u0000"}]}'
        return httpx.Response(200, content=body, headers={"Content-Type": "application/fhir+json"})

    with pytest.raises(FhirResponseError, match="NUL character"):
        await make_client(handler).read(BASE, "Patient", PATIENT_ID, TOKEN)


async def test_an_escaped_backslash_before_u0000_is_read(make_client: Callable[..., FhirClient]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = b'{"resourceType": "Patient", "id": "pat-123", "name": [{"text": "J\\\\u0000"}]}'
        return httpx.Response(200, content=body, headers={"Content-Type": "application/fhir+json"})

    patient = await make_client(handler).read(BASE, "Patient", PATIENT_ID, TOKEN)
    assert patient["name"][0]["text"] == "J\\u0000"


async def test_operation_outcome_with_200(make_client: Callable[..., FhirClient]) -> None:
    with pytest.raises(FhirResponseError, match="OperationOutcome") as info:
        await make_client(lambda r: fhir(outcome())).read(BASE, "Patient", PATIENT_ID, TOKEN)
    assert_clean(info.value)


async def test_wrong_resource_type(make_client: Callable[..., FhirClient]) -> None:
    with pytest.raises(FhirResponseError, match="resourceType"):
        await make_client(lambda r: fhir({"resourceType": "Practitioner", "id": "x"})).read(
            BASE, "Patient", PATIENT_ID, TOKEN
        )


async def test_wrong_bundle_type(make_client: Callable[..., FhirClient]) -> None:
    body = {"resourceType": "Bundle", "type": "collection", "entry": []}
    with pytest.raises(FhirResponseError, match="searchset"):
        await make_client(lambda r: fhir(body)).search(BASE, "Condition", {"patient": PATIENT_ID}, TOKEN)


async def test_too_large(make_client: Callable[..., FhirClient], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.fhir_access.client.MAX_RESPONSE_BYTES", 1000)

    def handler(request: httpx.Request) -> httpx.Response:
        return fhir(searchset(*(condition(n) for n in range(100))))

    with pytest.raises(FhirResponseError, match="exceeds"):
        await make_client(handler).search(BASE, "Condition", {"patient": PATIENT_ID}, TOKEN)


# -- paging ------------------------------------------------------------------------------------------------


async def test_endless_next_links_stop_at_the_cap(make_client: Callable[..., FhirClient]) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return fhir(searchset(condition(calls), next_url=f"{BASE}/Condition?_offset={calls}"))

    with pytest.raises(FhirResponseError, match="too many pages"):
        await make_client(handler, page_cap=5).search(BASE, "Condition", {"patient": PATIENT_ID}, TOKEN)
    assert calls == 5


async def test_next_link_to_another_host_is_not_followed(make_client: Callable[..., FhirClient]) -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return fhir(searchset(condition(1), next_url="https://evil.example.com/fhir/Condition?page=2"))

    with pytest.raises(FhirResponseError, match="outside the allowed servers") as info:
        await make_client(handler).search(BASE, "Condition", {"patient": PATIENT_ID}, TOKEN)
    assert hosts == ["ehr.example.org"]
    assert "evil" not in str(info.value)


async def test_paging_sends_token_and_accept_and_keeps_matches_only(
    make_client: Callable[..., FhirClient],
) -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if "_offset" not in request.url.params:
            page = searchset(condition(1), next_url=f"{BASE}/Condition?patient={PATIENT_ID}&_offset=1")
            page["entry"].append({"resource": outcome("not-supported"), "search": {"mode": "outcome"}})
            return fhir(page)
        return fhir(searchset(condition(2)))

    found = await make_client(handler, page_size=1).search(BASE, "Condition", {"patient": PATIENT_ID}, TOKEN)
    assert [r["id"] for r in found] == ["c1", "c2"]
    assert requests[0].url.params["_count"] == "1"
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in requests)
    assert all(r.headers["Accept"] == "application/fhir+json" for r in requests)


async def test_no_authorization_header_without_token(make_client: Callable[..., FhirClient]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return fhir(PATIENT)

    await make_client(handler).read(BASE, "Patient", PATIENT_ID, None)
    assert "Authorization" not in seen[0].headers


# -- fetch_record ------------------------------------------------------------------------------------------


async def test_fetch_record_isolates_failing_types(make_client: Callable[..., FhirClient]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith(f"/Patient/{PATIENT_ID}"):
            return fhir(PATIENT)
        if path.endswith("/Condition"):
            return fhir(searchset(condition(1)))
        if path.endswith("/Observation"):
            return fhir(outcome("exception"), 503)
        if path.endswith("/Procedure"):
            return fhir(outcome("forbidden"), 403)
        if path.endswith("/Immunization"):
            return httpx.Response(200, content=b"garbage")
        if path.endswith("/MedicationRequest"):
            assert request.url.params["_include"] == "MedicationRequest:medication"
            mr = {
                "resourceType": "MedicationRequest",
                "id": "mr1",
                "subject": {"reference": f"Patient/{PATIENT_ID}"},
                "medicationReference": {"reference": "Medication/m1"},
            }
            bundle = searchset(mr)
            bundle["entry"].append(
                {"resource": {"resourceType": "Medication", "id": "m1"}, "search": {"mode": "include"}}
            )
            return fhir(bundle)
        return fhir(searchset())

    types = ["Condition", "Observation", "Procedure", "Immunization", "MedicationRequest", "Medication"]
    record, problems = await make_client(handler).fetch_record(BASE, PATIENT_ID, TOKEN, types, budget_seconds=5)
    assert record.reference == f"Patient/{PATIENT_ID}"
    assert [r["id"] for r in record.of_type("Condition")] == ["c1"]
    assert [r["id"] for r in record.of_type("Medication")] == ["m1"]
    assert "Observation" not in record.resources
    assert "Procedure" not in record.resources
    kinds = {p.resource_type: p.kind for p in problems}
    assert kinds == {"Observation": "unavailable", "Procedure": "auth", "Immunization": "response"}
    for problem in problems:
        assert isinstance(problem, FetchProblem)
        assert_clean(Exception(problem.message))


async def test_fetch_record_patient_failure_raises(make_client: Callable[..., FhirClient]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "/Patient/" in request.url.path:
            return fhir(outcome(), 401)
        return fhir(searchset())

    with pytest.raises(FhirAuthError):
        await make_client(handler).fetch_record(BASE, PATIENT_ID, "wrong", ["Condition"], budget_seconds=5)


async def test_fetch_record_budget(make_client: Callable[..., FhirClient]) -> None:
    """A slow type times out inside the budget; the fast ones are kept."""

    async def slow(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Observation"):
            await asyncio.sleep(5)
        if "/Patient/" in request.url.path:
            return fhir(PATIENT)
        return fhir(searchset(condition(1)) if request.url.path.endswith("/Condition") else searchset())

    http = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    client = FhirClient(http, [BASE])
    loop = asyncio.get_running_loop()
    started = loop.time()
    record, problems = await client.fetch_record(
        BASE, PATIENT_ID, None, ["Condition", "Observation"], budget_seconds=0.3
    )
    assert loop.time() - started < 2
    assert problems == [FetchProblem("Observation", "timeout", problems[0].message)]
    assert len(record.of_type("Condition")) == 1
    await http.aclose()


async def test_fetch_record_budget_on_patient_read(make_client: Callable[..., FhirClient]) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return fhir(PATIENT)

    http = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    with pytest.raises(FhirUnavailable) as info:
        await FhirClient(http, [BASE]).fetch_record(BASE, PATIENT_ID, None, ["Condition"], budget_seconds=0.2)
    assert info.value.timed_out
    await http.aclose()


async def test_fetch_record_does_not_read_a_patient_it_was_given(make_client: Callable[..., FhirClient]) -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return fhir(searchset())

    given = {"resourceType": "Patient", "id": PATIENT_ID, "gender": "female"}
    record, problems = await make_client(handler).fetch_record(
        BASE, PATIENT_ID, TOKEN, ["Condition"], budget_seconds=5, patient=given
    )
    assert record.patient == given
    assert problems == []
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["Condition"]

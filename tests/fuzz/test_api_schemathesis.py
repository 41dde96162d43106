"""API fuzzing with schemathesis against the service's own OpenAPI: every documented operation, any input.

The whole app (create_app) runs in process through schemathesis' ASGI transport, with a SQLite audit store in
a temporary folder, JWT checks off and the audit bearer token sent on every call. Every operation of the
OpenAPI document (discovery, hook, feedback, screening, the audit API) gets a fixed budget of positive and
negative examples, derandomized (a fixed seed: CI runs the same cases every time, in seconds). Every built-in
check runs (no 5xx, status codes and bodies as documented, schema-valid requests accepted and invalid ones
refused, …), plus our own:

- every 4xx is a JSON object with a string ``error`` and a non-empty string ``reason`` (the HTML audit pages
  answer ``text/html``; they are not in the OpenAPI document, and an HTML 4xx is accepted if one shows up).

One built-in check is left out where a schema cannot say what is valid: "schema-valid data is accepted" for a
`cursor` (opaque: only the service's own nextCursor is one) and for the Bundle posted to /screening (a schema
cannot require exactly one Patient among the entries). The hook and feedback bodies are fuzzed more deeply by
tests/fuzz/test_hook_fuzz.py.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from service.app import create_app
from service.settings import Settings

AUDIT_TOKEN = "fuzz-token"
MAX_EXAMPLES = 25
CALLS: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()
BY_OPERATION: Counter[tuple[str, int]] = Counter()


def _build_app() -> FastAPI:
    """The app under test, built at import: schemathesis reads the schema when the module is collected."""
    folder = Path(tempfile.mkdtemp(prefix="trial-screen-fuzz-api-"))
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("TRIAL_SCREEN_")}
    try:  # a TRIAL_SCREEN_* variable of the caller's shell must not change the app under test
        settings = Settings(
            database_url=f"sqlite:///{folder}/audit.sqlite3", require_jwt=False, audit_token=AUDIT_TOKEN
        )
    finally:
        os.environ.update(saved)
    application = create_app(settings)
    # schemathesis' ASGI transport does not run the lifespan; create the audit tables as start-up would.
    application.state.audit.migrate()
    return application


APP = _build_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=MAX_EXAMPLES,
    deterministic=True,
    database="none",
)


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    if CALLS:
        print(f"\nschemathesis: {sum(CALLS.values())} calls over {len(CALLS)} operations; statuses {dict(STATUSES)}")
        print(sorted(BY_OPERATION.items()))


def json_reason_on_4xx(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every 4xx carries {"error": str, "reason": non-empty str} as JSON (HTML pages are exempt)."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = (response.headers.get("content-type") or [""])[0].lower()
    if content_type.startswith("text/html"):
        return None
    assert content_type.startswith("application/json"), (
        f"{response.status_code} with Content-Type {content_type!r}: {response.content[:200]!r}"
    )
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} body is not JSON: {response.content[:200]!r}") from exc
    assert isinstance(body, dict), f"{response.status_code} body is not a JSON object: {body!r}"
    assert isinstance(body.get("error"), str), f"no 'error' in {body!r}"
    assert body["error"], f"empty 'error' in {body!r}"
    assert isinstance(body.get("reason"), str), f"no 'reason' in {body!r}"
    assert body["reason"].strip(), f"empty 'reason' in {body!r}"
    assert "Traceback" not in body["reason"]
    return None


def _beyond_the_schema(case: schemathesis.Case) -> list[Any]:
    opaque = bool(case.query and case.query.get("cursor")) or case.operation.label == "POST /screening"
    return [positive_data_acceptance] if opaque else []


@schema.parametrize()
def test_no_server_error_and_json_reasons(case: schemathesis.Case) -> None:
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {AUDIT_TOKEN}"},
        additional_checks=[json_reason_on_4xx],
        excluded_checks=_beyond_the_schema(case),
    )
    CALLS[case.operation.label] += 1
    STATUSES[response.status_code] += 1
    BY_OPERATION[(case.operation.label, response.status_code)] += 1

"""Nothing lost under concurrency: 40 parallel hook calls (with prefetch) against a real uvicorn server, feedback
posted while other calls still run; every card returned is stored exactly once with its feedback.
Runs on SQLite and on PostgreSQL (a throwaway database)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from service.app import create_app
from service.audit.tables import audit_card, audit_feedback
from service.settings import Settings
from tests.integration.hook_support import (
    FEEDBACK_PATH,
    HOOK_PATH,
    hook_body,
    prefetch_for,
    serve_app,
    shared_screener,
    sle_patient_resources,
    trial_cards,
)
from tests.unit.audit.audit_helpers import fresh_database

pytestmark = pytest.mark.integration

CALLS = 40
RESOURCES = [sle_patient_resources(f"conc-{i % 4}") for i in range(4)]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/audit.sqlite3"
    else:
        with fresh_database("hook_concurrency") as url:
            yield url


async def _run(base: str) -> tuple[list[dict[str, Any]], set[str]]:
    limits = httpx.Limits(max_connections=CALLS, max_keepalive_connections=CALLS)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        feedback_tasks: list[asyncio.Task[httpx.Response]] = []
        given: set[str] = set()

        async def call(index: int) -> dict[str, Any]:
            resources = RESOURCES[index % len(RESOURCES)]
            response = await http.post(HOOK_PATH, json=hook_body(resources[0]["id"], prefetch=prefetch_for(resources)))
            assert response.status_code == 200, response.text
            payload: dict[str, Any] = response.json()
            if index % 2 == 0:  # feedback for half the calls, while the other calls are still running
                for card in trial_cards(payload):
                    given.add(card["uuid"])
                    body = {
                        "feedback": [
                            {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-23T10:00:00Z"}
                        ]
                    }
                    feedback_tasks.append(asyncio.ensure_future(http.post(FEEDBACK_PATH, json=body)))
            return payload

        payloads = await asyncio.gather(*(call(i) for i in range(CALLS)))
        for response in await asyncio.gather(*feedback_tasks):
            assert response.status_code == 200, response.text
    return list(payloads), given


def test_concurrent_hooks_lose_nothing(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, require_jwt=False), shared_screener())
    with serve_app(app) as base:
        payloads, given = asyncio.run(_run(base))

    returned = [card["uuid"] for payload in payloads for card in trial_cards(payload)]
    assert len(returned) >= CALLS, "every call should return at least one trial card"
    assert len(set(returned)) == len(returned), "a card uuid was issued twice"
    assert given

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            stored = dict(
                conn.execute(select(audit_card.c.card_uuid, func.count()).group_by(audit_card.c.card_uuid)).all()
            )
            feedback = dict(
                conn.execute(
                    select(audit_feedback.c.card_uuid, func.count()).group_by(audit_feedback.c.card_uuid)
                ).all()
            )
    finally:
        engine.dispose()
    assert set(stored) == set(returned), "stored cards differ from the cards returned"
    assert all(count == 1 for count in stored.values())
    assert set(feedback) == given
    assert all(count == 1 for count in feedback.values())

    check = create_app(Settings(database_url=database_url, require_jwt=False), shared_screener())
    audit = check.state.audit
    try:
        for uuid in given:
            assert [f.outcome for f in audit.get_card(uuid).feedback] == ["overridden"]
    finally:
        audit.close()

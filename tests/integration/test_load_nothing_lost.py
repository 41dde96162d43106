"""Load with nothing lost: `trial-screen serve` as a real subprocess, 8 concurrent clients for a fixed time.

Each client calls the hook with a full prefetch (a mix of the bundled demo patients) as fast as it can, and posts
feedback (accepted / overridden, alternating) for about half the trial cards it receives while the calls go on.
Afterwards the server is stopped with SIGTERM and the audit store is opened directly: every card uuid returned to
a client is stored exactly once, no other rows exist, every feedback that was answered 200 is attached to its
card, and no call was answered 5xx. Runs on SQLite and on a throwaway PostgreSQL database. Halfway through, one
client sends a poisoned call (a 200-character hookInstance, a NUL in userId: values no audit row can hold): it is
answered 400 and the cards behind it are stored as usual, with nothing in the dead letters.

LOAD_SECONDS (default 5, to keep CI short) is the duration per backend; `LOAD_SECONDS=60` is the load the service
is sized for (8 clients for 60 s). LOAD_WORKERS=2 runs `serve --workers 2`. LOAD_SIGTERM_AT=0.8 sends SIGTERM at
80 % of the duration while the clients are still calling: every card answered before the stop must be stored
(calls refused by the stopping server are not cards). Run with `-s` to see the figures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from service.audit.store import AuditStore, CardFilter
from service.audit.tables import audit_card, audit_dead_letter, audit_feedback
from service.demo.patients import load_demo_patients
from tests.integration.hook_support import FEEDBACK_PATH, HOOK_PATH, free_port, hook_body, prefetch_for, trial_cards
from tests.unit.audit.audit_helpers import fresh_database

pytestmark = pytest.mark.integration

CLIENTS = 8
LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "5"))
LOAD_WORKERS = int(os.environ.get("LOAD_WORKERS", "1"))
SIGTERM_AT = float(os.environ["LOAD_SIGTERM_AT"]) if os.environ.get("LOAD_SIGTERM_AT") else None
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
TRIAL_SCREEN = Path(sys.executable).parent / "trial-screen"
PATIENTS = load_demo_patients(dt.date.today())
PREFETCHES = [(p.key, prefetch_for(p.resources)) for p in PATIENTS]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/audit.sqlite3"
    else:
        with fresh_database("load_nothing_lost") as url:
            yield url


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    returned: list[str] = field(default_factory=list)  # every trial card uuid any client received
    feedback: dict[str, str] = field(default_factory=dict)  # card uuid → outcome, for feedback answered 200
    feedback_statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    poisoned: list[int] = field(default_factory=list)  # statuses of the poisoned calls
    after_stop: Counter[str] = field(default_factory=Counter)  # calls that failed once SIGTERM was sent


POISON = {"hookInstance": "h" * 200}


def _feedback_body(card: dict[str, Any], outcome: str) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card["uuid"], "outcome": outcome, "outcomeTimestamp": "2026-11-23T10:00:00Z"}
    if outcome == "accepted":
        item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    else:
        item["overrideReason"] = {
            "reason": {"system": "urn:trial-screen:override-reason", "code": "patient-declined"},
            "userComment": "load test",
        }
    return {"feedback": [item]}


async def _drive(base: str, seconds: float, stop: Any = None) -> Tally:
    """`stop`: called once at SIGTERM_AT of the duration (sends SIGTERM); the clients go on until the deadline."""
    tally = Tally()
    started = time.monotonic()
    deadline = started + seconds
    stopped_at: list[float] = []
    poison_at = started + seconds / 2
    pick = itertools.count()  # shared: the clients walk the demo patients together, so each sees a mix

    async def client(number: int) -> None:
        pending: list[asyncio.Task[None]] = []
        # Idle pooled connections expire before uvicorn's 5 s keep-alive does: otherwise a request can go out on
        # a connection the server is just closing (a ReadError with nothing processed; a client artifact).
        limits = httpx.Limits(max_connections=32, keepalive_expiry=1.0)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:

            async def give_feedback(card: dict[str, Any], outcome: str) -> None:
                try:
                    response = await http.post(FEEDBACK_PATH, json=_feedback_body(card, outcome))
                except httpx.HTTPError as exc:
                    if stopped_at:
                        tally.after_stop[f"feedback {type(exc).__name__}"] += 1
                    else:
                        tally.errors.append(f"feedback: {type(exc).__name__}")
                    return
                tally.feedback_statuses[response.status_code] += 1
                if response.status_code == 200:
                    tally.feedback[card["uuid"]] = outcome
                else:
                    tally.errors.append(f"feedback {response.status_code}: {response.text[:200]}")

            flip = number % 2
            while time.monotonic() < deadline:
                stop_due = SIGTERM_AT is not None and time.monotonic() >= started + seconds * SIGTERM_AT
                if stop is not None and stop_due and not stopped_at:
                    stopped_at.append(time.monotonic())
                    stop()
                patient_id, prefetch = PREFETCHES[next(pick) % len(PREFETCHES)]
                body = hook_body(patient_id, prefetch=prefetch)
                if number == 0 and not tally.poisoned and time.monotonic() >= poison_at:
                    body.update(POISON)
                    body["context"]["userId"] = "Practitioner/\x00"
                    response = await http.post(HOOK_PATH, json=body)
                    tally.poisoned.append(response.status_code)
                    continue
                began = time.perf_counter()
                try:
                    response = await http.post(HOOK_PATH, json=body)
                except httpx.HTTPError as exc:
                    if stopped_at:
                        tally.after_stop[type(exc).__name__] += 1
                        await asyncio.sleep(0.05)
                    else:
                        tally.errors.append(f"hook: {type(exc).__name__}")
                    continue
                tally.latencies.append(time.perf_counter() - began)
                tally.statuses[response.status_code] += 1
                if response.status_code != 200:
                    tally.errors.append(f"hook {response.status_code}: {response.text[:200]}")
                    continue
                for card in trial_cards(response.json()):
                    tally.returned.append(card["uuid"])
                    flip += 1
                    if flip % 2 == 0:  # about half the cards; accepted and overridden alternate
                        outcome = "accepted" if flip % 4 == 0 and card.get("suggestions") else "overridden"
                        pending.append(asyncio.create_task(give_feedback(card, outcome)))
            await asyncio.gather(*pending)

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return tally


def _start_server(database_url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_SCREEN_")}
    env.update(
        TRIAL_SCREEN_DATABASE_URL=database_url,
        TRIAL_SCREEN_REQUIRE_JWT="false",
        TRIAL_SCREEN_PUBLIC_URL=base,
    )
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(TRIAL_SCREEN), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(LOAD_WORKERS)],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise AssertionError(f"trial-screen serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base}/cds-services", timeout=1).status_code == 200:
                return process, base, log_path
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise AssertionError(f"trial-screen serve did not start:\n{log_path.read_text()}")
        time.sleep(0.1)


def _stop_server(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    return process.returncode


def _percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def test_load_with_nothing_lost(database_url: str, tmp_path: Path) -> None:
    process, base, log_path = _start_server(database_url, tmp_path)
    try:
        started = time.monotonic()
        stop = (lambda: process.send_signal(signal.SIGTERM)) if SIGTERM_AT is not None else None
        tally = asyncio.run(_drive(base, LOAD_SECONDS, stop))
        elapsed = time.monotonic() - started
    finally:
        code = _stop_server(process)
    log = log_path.read_text(errors="replace")

    backend = database_url.split(":", 1)[0]
    calls = len(tally.latencies)
    print(
        f"\n[load {backend}, {LOAD_WORKERS} worker(s)] {CLIENTS} clients, {elapsed:.1f} s: "
        f"{calls} hook calls ({calls / elapsed:.1f}/s), "
        f"{len(tally.returned)} trial cards, {len(tally.feedback)} feedback posted and answered 200 "
        f"({Counter(tally.feedback.values())}), hook latency p50 {_percentile(tally.latencies, 50) * 1000:.0f} ms "
        f"p99 {_percentile(tally.latencies, 99) * 1000:.0f} ms, statuses {dict(tally.statuses)}, "
        f"poisoned call answered {tally.poisoned}, after SIGTERM {dict(tally.after_stop)}"
    )

    # uvicorn shuts down gracefully, then re-raises the signal it caught: exit -15 is a clean stop.
    assert code in (0, -signal.SIGTERM), f"the server did not stop cleanly on SIGTERM (exit {code}):\n{log[-3000:]}"
    assert "Application shutdown complete" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert tally.errors == [], tally.errors[:10]
    assert tally.poisoned == [400], tally.poisoned
    assert not [s for s in tally.statuses if s >= 500], tally.statuses
    assert not [s for s in tally.feedback_statuses if s >= 500], tally.feedback_statuses
    assert set(tally.statuses) == {200}, tally.statuses
    assert calls >= CLIENTS, "the load did not run"
    assert len(set(tally.returned)) == len(tally.returned), "a card uuid was issued twice"
    assert tally.feedback, "no feedback was posted"
    assert set(tally.feedback.values()) == {"accepted", "overridden"}

    # Raw rows: exactly the returned cards, each once; feedback rows exactly the feedback answered 200.
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            card_rows = dict(
                conn.execute(select(audit_card.c.card_uuid, func.count()).group_by(audit_card.c.card_uuid)).all()
            )
            dead_letters = conn.scalar(select(func.count()).select_from(audit_dead_letter))
            feedback_rows = dict(
                conn.execute(
                    select(audit_feedback.c.card_uuid, func.count()).group_by(audit_feedback.c.card_uuid)
                ).all()
            )
    finally:
        engine.dispose()
    assert sum(card_rows.values()) == len(tally.returned), "stored card rows differ in number from cards returned"
    assert set(card_rows) == set(tally.returned), "stored cards differ from the cards returned"
    assert set(card_rows.values()) == {1}
    assert dead_letters == 0
    assert set(feedback_rows) == set(tally.feedback), "feedback rows differ from the feedback answered 200"
    assert set(feedback_rows.values()) == {1}

    # Through the product's own store: every card listed once, with exactly the feedback posted for it.
    store = AuditStore(database_url)
    listed: dict[str, list[str]] = {}
    try:
        cursor: str | None = None
        while True:
            page = store.list_cards(CardFilter(), limit=1000, cursor=cursor)
            for card in page.items:
                assert card.card_uuid not in listed, f"card {card.card_uuid} listed twice"
                listed[card.card_uuid] = [f.outcome for f in card.feedback]
            cursor = page.next_cursor
            if cursor is None:
                break
    finally:
        store.close()
    assert set(listed) == set(tally.returned)
    for uuid, outcomes in listed.items():
        expected = [tally.feedback[uuid]] if uuid in tally.feedback else []
        assert outcomes == expected, (uuid, outcomes, expected)
    print(
        f"[load {backend}] rows checked: {len(card_rows)} cards stored for {len(tally.returned)} returned, "
        f"{dead_letters} dead letters, {sum(feedback_rows.values())} feedback; "
        f"all {len(tally.feedback)} feedback attached; 0 5xx; server exit {code} on SIGTERM"
    )

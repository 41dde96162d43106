"""Clients that stop sending: a body that stops arriving is a 408 after the body timeout (never a wait for ever),
and a client that disconnects mid-body is one info line in the log, not an internal error with a trace."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI

from service.app import create_app
from service.settings import Settings
from tests.integration.hook_support import shared_screener

HOOK = "/cds-services/trial-prescreen"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/audit.sqlite3",
        require_jwt=False,
        body_timeout_seconds=0.2,
    )
    return create_app(settings, shared_screener())


async def _post(app: FastAPI, path: str, messages: Iterator[dict[str, Any]]) -> int:
    """Call the app as uvicorn would, with a client whose body is `messages` and then nothing more (it stalls)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100000")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        for message in messages:
            return message
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


@pytest.mark.parametrize("path", [HOOK, f"{HOOK}/feedback", "/screening"])
async def test_a_body_that_stops_arriving_is_a_408(app: FastAPI, path: str) -> None:
    first_part = iter([{"type": "http.request", "body": b'{"hook": "patient-view", ', "more_body": True}])
    assert await _post(app, path, first_part) == 408


@pytest.mark.parametrize("path", [HOOK, "/screening"])
async def test_a_client_that_disconnects_mid_body_is_one_info_line(
    app: FastAPI, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    messages = iter([{"type": "http.request", "body": b'{"hook": ', "more_body": True}, {"type": "http.disconnect"}])
    await _post(app, path, messages)
    assert [r.levelno for r in caplog.records if r.name.startswith("trial_screen")] == [logging.INFO]
    assert not any(r.exc_info for r in caplog.records)
    assert "disconnected" in caplog.text


async def test_the_whole_body_at_once_is_answered(app: FastAPI) -> None:
    body = b'{"resourceType": "Bundle", "type": "collection", "entry": []}'
    assert await _post(app, "/screening", iter([{"type": "http.request", "body": body, "more_body": False}])) == 400

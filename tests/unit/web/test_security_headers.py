"""SecurityHeaders adds each header a response lacks, once, and leaves the ones it already has."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from service.app import SECURITY_HEADERS, SecurityHeaders


def _started(headers: list[tuple[bytes, bytes]]) -> Message:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    asyncio.run(SecurityHeaders(app)({"type": "http"}, receive, send))
    assert sent[1] == {"type": "http.response.body", "body": b"{}"}
    return sent[0]


def test_every_security_header_is_added_after_the_responses_own() -> None:
    own = [(b"content-type", b"application/json")]
    added = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
    assert _started(list(own))["headers"] == own + added


def test_a_header_the_response_sets_is_kept_and_not_repeated() -> None:
    own = [(b"cache-control", b"public, max-age=3600")]
    headers = _started(list(own))["headers"]
    assert [value for name, value in headers if name == b"cache-control"] == [b"public, max-age=3600"]
    assert {name for name, _ in headers} == {name.lower().encode() for name in SECURITY_HEADERS}

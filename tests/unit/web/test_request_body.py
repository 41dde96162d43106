"""`read_capped` gives the body as it arrived: its pieces joined, one piece as it is (not copied), and refuses a
body over the cap however it is cut."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request
from starlette.types import Message

from service.request_body import BodyLimits, RequestTooLargeError, read_capped


def _read(pieces: list[bytes], max_bytes: int = 100) -> bytes:
    messages = [{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1} for i, p in enumerate(pieces)]

    async def receive() -> Message:
        return messages.pop(0)

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    return asyncio.run(read_capped(request, BodyLimits(max_bytes, 5.0)))


@pytest.mark.parametrize("pieces", [[b""], [b"{}"], [b'{"a"', b"", b": 1}"], [b"x" * 100], [b"x" * 60, b"y" * 40]])
def test_the_pieces_joined(pieces: list[bytes]) -> None:
    body = _read(pieces)
    assert type(body) is bytes
    assert body == b"".join(pieces)


def test_one_piece_is_not_copied() -> None:
    piece = b"x" * 100
    assert _read([piece]) is piece


@pytest.mark.parametrize("pieces", [[b"x" * 101], [b"x" * 60, b"y" * 41], [b"x" * 60, b"", b"y" * 41]])
def test_over_the_cap_however_it_is_cut(pieces: list[bytes]) -> None:
    with pytest.raises(RequestTooLargeError):
        _read(pieces)

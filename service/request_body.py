"""Reading request bodies at the HTTP edge: capped in size and in time while streaming, JSON content types only."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from starlette.requests import Request

JSON_CONTENT_TYPES = ("application/json", "application/fhir+json")


class RequestTooLargeError(Exception):
    """The request body is over the configured cap (413 at the edge)."""


class RequestTimeoutError(Exception):
    """The request body stopped arriving (a client that declared more than it sends, or stalls): 408 at the edge."""


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_bytes: int
    timeout_seconds: float  # for the whole body, from the first read


async def read_capped(request: Request, limits: BodyLimits) -> bytes:
    """The body, refused as soon as it (declared or streamed) exceeds the size limit, or takes longer than the
    time limit to arrive."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise RequestTooLargeError
    chunks: list[bytes] = []
    size = 0
    with anyio.move_on_after(limits.timeout_seconds) as scope:
        async for chunk in request.stream():
            if chunk:  # the stream ends with an empty one
                size += len(chunk)
                if size > limits.max_bytes:
                    raise RequestTooLargeError
                chunks.append(chunk)
    if scope.cancelled_caught:
        raise RequestTimeoutError
    # not copied when it came in one piece, as a hook body of ~100 KB usually does
    return b"".join(chunks)


def is_json(request: Request) -> bool:
    """A missing Content-Type counts as JSON (curl and some EHRs omit it)."""
    content_type = request.headers.get("content-type", "application/json")
    return content_type.split(";")[0].strip().lower() in JSON_CONTENT_TYPES

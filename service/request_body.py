"""Reading request bodies at the HTTP edge: capped while streaming, JSON content types only."""

from __future__ import annotations

from starlette.requests import Request

JSON_CONTENT_TYPES = ("application/json", "application/fhir+json")


class RequestTooLargeError(Exception):
    """The request body is over the configured cap (413 at the edge)."""


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it (declared or streamed) exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeError
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise RequestTooLargeError
    return bytes(body)


def is_json(request: Request) -> bool:
    """A missing Content-Type counts as JSON (curl and some EHRs omit it)."""
    content_type = request.headers.get("content-type", "application/json")
    return content_type.split(";")[0].strip().lower() in JSON_CONTENT_TYPES

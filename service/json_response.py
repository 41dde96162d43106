"""JSON responses rendered with orjson (fast, and the same bytes everywhere).

Kept by hand on purpose: FastAPI's own `ORJSONResponse` is deprecated in the pinned FastAPI (it points to
response models instead, which would mean re-validating the cards and reports we already built), and starlette's
`JSONResponse` runs the standard library's `json`, which is slower on the hook's ~50 KB card bodies.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


ERROR_BODY: Final = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
    "required": ["error", "reason"],
}
_MEANINGS: Final = {
    400: "Malformed request; the reason names what is wrong",
    401: "No valid credential",
    403: "The fhirServer is not on this service's allow-list",
    404: "No such resource",
    408: "The request body did not arrive in time",
    413: "The request body is larger than this service accepts",
    503: "The audit store is unavailable; try again later",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the errors an operation can answer, each with the `{"error", "reason"}` body."""
    return {
        status: {"description": _MEANINGS[status], "content": {"application/json": {"schema": ERROR_BODY}}}
        for status in statuses
    }

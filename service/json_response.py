"""JSON responses rendered with orjson (fast, and the same bytes everywhere).

Kept by hand on purpose: FastAPI's own `ORJSONResponse` is deprecated in the pinned FastAPI (it points to
response models instead, which would mean re-validating the cards and reports we already built), and starlette's
`JSONResponse` runs the standard library's `json`, which is slower on the hook's ~50 KB card bodies.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)

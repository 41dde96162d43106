"""What start-up parses, cached under the user's cache directory (TRIAL_SCREEN_CACHE_DIR overrides it).

Parsed YAML is cached as JSON keyed by the text's SHA-256; pint keeps its parsed unit definitions in
`cache_dir() / "pint"`.

The catalog's YAML (~0.8 MB) takes PyYAML about a third of a second to parse, which is a fifth of the service's
start. The JSON copy loads in a few milliseconds. A cache that is missing, stale, unreadable or unwritable is
never an error: the YAML is parsed as before. Only data that survives a JSON round trip unchanged is cached.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import yaml

from service.cache_dir import cache_dir, keep


def load_yaml(text: str) -> Any:
    """yaml.safe_load (C loader when available), through the cache. Raises yaml.YAMLError."""
    path = cache_dir() / f"yaml-{hashlib.sha256(text.encode()).hexdigest()}.json"
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        pass
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader (C or pure Python)
    try:
        encoded = orjson.dumps(data)
    except (TypeError, orjson.JSONEncodeError):
        return data
    if orjson.loads(encoded) == data:
        keep(path, encoded)
    return data

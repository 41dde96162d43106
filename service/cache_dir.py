"""Where start-up keeps what it derives from the package's own files, to skip the work at the next start: the
catalog's parsed YAML, pint's unit definitions, the trials' parse trees and compiled code. The user's cache
directory, or TRIAL_SCREEN_CACHE_DIR. Only this user writes there, as for their other caches."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    configured = os.environ.get("TRIAL_SCREEN_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "trial-screen"


def keep(entry: Path, data: bytes) -> None:
    """Write a cache entry whole or not at all (a concurrent reader sees all of it or none); a cache that cannot
    be written is not an error: the next start derives it again."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        partial = entry.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        partial.replace(entry)
    except OSError:
        pass

"""Where start-up keeps what it derives from the package's own files, to skip the work at the next start: the
catalog's parsed YAML, pint's unit definitions, the trials' parse trees. The user's cache directory, or
TRIAL_SCREEN_CACHE_DIR. Only this user writes there, as for their other caches."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    configured = os.environ.get("TRIAL_SCREEN_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "trial-screen"

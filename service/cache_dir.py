"""Where start-up keeps what it derives from the package's own files, to skip the work at the next start: the
catalog's parsed YAML, pint's unit definitions, the trials' parse trees and compiled code. The user's cache
directory, or TRIAL_SCREEN_CACHE_DIR. Only this user writes there, as for their other caches."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


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


def through_cache(
    name: Callable[[], str], read: Callable[[bytes], T | None], make: Callable[[], T], dump: Callable[[T], bytes]
) -> T:
    """`make()`, kept in the cache directory as the entry `name()` and read back by `read` at the next call (None:
    unusable, made again). A cache entry that is missing, partial, written by other code or cannot be written is
    never an error: the value is made as without a cache."""
    try:
        entry = cache_dir() / name()
    except (OSError, RuntimeError):  # no home directory (a container's arbitrary user): nowhere to keep it
        return make()
    try:
        found = read(entry.read_bytes())
    except Exception:  # missing, partial, or written by other code: made again
        found = None
    if found is not None:
        return found
    made = make()
    keep(entry, dump(made))
    return made

"""Garbage-collector settings for a process that screens many patients with data loaded once.

A hook call parses and indexes ~10,000 small dicts and lists that reference counting frees at the end of the
call; with CPython's default young-generation threshold (700 allocations) the collector runs dozens of times per
call and promotes the live record into older generations that are then rescanned. Freezing what was loaded at
start (trials, catalog, codes) and collecting the young generation every 50,000 allocations instead cut the
CPU per hook call by about a third (in-process measurement, docs/performance.md). Cycles are still collected.

The start of `serve` (imports, trials, catalog, app) allocates hundreds of thousands of objects that all live
on, and next to no garbage: the collector's passes over them cost ~0.1 s of a ~1 s start for nothing, so `serve`
starts with the collector paused; `tune_for_serving` turns it back on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 50_000


@contextmanager
def paused_for_start() -> Iterator[None]:
    """No collection inside until `tune_for_serving` (at the app's start); on again however the block ends."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def tune_for_serving() -> None:
    """Call once everything long-lived is loaded. After a paused start the garbage it left (~0.25 MB of
    temporary classes and functions) is frozen with the rest instead of collected: a full collection over
    everything loaded costs ~0.06-0.09 s just before the first request."""
    if gc.isenabled():
        gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 100)
    gc.enable()

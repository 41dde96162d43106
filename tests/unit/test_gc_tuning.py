"""The collector during `serve`'s start: paused, on again at the app's start, and on again however the start ends."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from service.gc_tuning import YOUNG_THRESHOLD, paused_for_start, tune_for_serving


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    gc.enable()


def test_paused_until_tuned_for_serving() -> None:
    with paused_for_start():
        assert not gc.isenabled()
        tune_for_serving()
        assert gc.isenabled()
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0
    assert gc.isenabled()


def test_on_again_when_the_start_fails() -> None:
    with pytest.raises(RuntimeError), paused_for_start():
        raise RuntimeError("a bad trial file")
    assert gc.isenabled()


def test_tuning_an_unpaused_process_collects_first() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    garbage = weakref.ref(Cycle())
    assert garbage() is not None
    tune_for_serving()
    assert garbage() is None

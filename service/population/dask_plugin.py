"""The Dask worker plugin: every worker (also one that joins or replaces a lost one) loads the trials once.

It also checks that the worker loaded the same trial versions as the coordinator: a cluster whose workers run
other trial files would write reports that disagree with what the coordinator summarises.
"""

from __future__ import annotations

from pathlib import Path

from distributed import Worker, WorkerPlugin

from service.gc_tuning import tune_for_serving
from service.population.worker import PLUGIN_NAME
from service.screening.screen import Screener, load_screener


class ScreenerPlugin(WorkerPlugin):
    name = PLUGIN_NAME

    def __init__(self, trials_dir: str | None, versions: dict[str, str]) -> None:
        self.trials_dir = trials_dir
        self.versions = versions
        self.screener: Screener | None = None

    def setup(self, worker: Worker) -> None:
        screener = load_screener(Path(self.trials_dir) if self.trials_dir else None)
        if screener.versions() != self.versions:
            raise RuntimeError(f"worker {worker.address} loaded other trial versions than the coordinator")
        self.screener = screener
        tune_for_serving()

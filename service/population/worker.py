"""One loaded screener per worker process: a Dask worker plugin on a cluster, a pool initializer on one machine.

Loading the trials and the catalog takes about a second, so it is done once per worker, never per task.
`distributed` is imported only where a cluster is used (it costs two seconds per process to import).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from service.screening.screen import Screener, load_screener

PLUGIN_NAME = "trial-screen-screener"
_local: dict[str, tuple[str | None, Screener]] = {}  # "screener" → (trials folder, this process's screener)


def load_local_screener(trials_dir: str | None, screener: Screener | None = None) -> None:
    """The process-pool initializer (and the in-process run): load this process's screener once.

    `screener`: the one the coordinator loaded already from `trials_dir` (to check the trials), kept instead of a
    second load (~0.15 s of CPU). A pool process forked from a coordinator that has it inherits it (and its
    frozen heap, shared until written): it does not load it again.
    """
    from service.gc_tuning import tune_for_serving

    loaded = _local.get("screener")
    if loaded is not None and loaded[0] == trials_dir:
        return
    _local["screener"] = (trials_dir, screener or load_screener(Path(trials_dir) if trials_dir else None))
    tune_for_serving()


def current_screener() -> Screener:
    """The screener of the process this task runs in: its Dask worker plugin's, else the local one."""
    if "distributed" in sys.modules:
        from distributed import get_worker

        try:
            worker: Any = get_worker()
        except ValueError:
            pass
        else:
            screener: Screener | None = worker.plugins[PLUGIN_NAME].screener
            if screener is None:
                raise RuntimeError("the screener plugin did not load on this worker")
            return screener
    return _local["screener"][1]

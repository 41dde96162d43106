"""Where the tasks of a run execute: in this process, on a local process pool, or on a Dask cluster.

Each executor runs one function over a list of jobs and yields (job, result or the exception it raised) as
tasks finish, so the coordinator can report a failed task and go on. On Dask, a task whose worker dies is
rescheduled by the scheduler (its outputs are written whole, so the retry replaces them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Protocol, TypeVar

from service.population.worker import load_local_screener
from service.screening.screen import Screener

J = TypeVar("J")
R = TypeVar("R")


class Executor(Protocol):
    def run(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[tuple[J, R | BaseException]]: ...

    def close(self) -> None: ...


class InProcess:
    """One process: tests and `--workers 1`."""

    def __init__(self, trials_dir: str | None, screener: Screener | None = None) -> None:
        load_local_screener(trials_dir, screener)

    def run(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[tuple[J, R | BaseException]]:
        for job in jobs:
            try:
                yield job, fn(job)
            except Exception as exc:
                yield job, exc

    def close(self) -> None:
        return None


class LocalPool:
    """Every core of this machine, without a scheduler to start: one screener per pool process."""

    def __init__(self, trials_dir: str | None, workers: int | None = None, screener: Screener | None = None) -> None:
        """The screener is loaded here first (or `screener` kept): pool processes forked from this one inherit it
        (with the default start method on Linux) instead of each loading it again before its first task."""
        self.workers = max(1, workers or os.cpu_count() or 1)
        load_local_screener(trials_dir, screener)
        self._pool = ProcessPoolExecutor(self.workers, initializer=load_local_screener, initargs=(trials_dir,))

    def run(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[tuple[J, R | BaseException]]:
        futures = {self._pool.submit(fn, job): job for job in jobs}
        for future in as_completed(futures):
            error = future.exception()
            yield futures[future], (error if error is not None else future.result())

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


class DaskCluster:
    """A Dask distributed cluster (`tcp://host:8786`), or a LocalCluster started for the run (`local`)."""

    def __init__(self, scheduler: str, trials_dir: str | None, versions: dict[str, str]) -> None:
        from distributed import Client, LocalCluster

        from service.population.dask_plugin import ScreenerPlugin

        self._cluster: Any = None
        if scheduler == "local":
            self._cluster = LocalCluster(threads_per_worker=1, processes=True, dashboard_address=None)
            self.client = Client(self._cluster)
        else:
            self.client = Client(scheduler)
        self.client.register_plugin(ScreenerPlugin(trials_dir, versions))

    def run(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[tuple[J, R | BaseException]]:
        from distributed import as_completed as dask_completed

        futures = self.client.map(fn, jobs, pure=False)
        by_key = {future.key: job for future, job in zip(futures, jobs, strict=True)}
        for future in dask_completed(futures):
            job = by_key[future.key]
            if future.status == "error":
                yield job, future.exception()
            else:
                yield job, future.result()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def open_executor(
    *,
    scheduler: str | None,
    workers: int | None,
    trials_dir: str | None,
    versions: dict[str, str],
    screener: Screener | None = None,
) -> Executor:
    """`screener`: the caller's, loaded from `trials_dir`, for the local executors to keep (a cluster's workers
    load their own)."""
    if scheduler:
        return DaskCluster(scheduler, trials_dir, versions)
    if workers == 1:
        return InProcess(trials_dir, screener)
    return LocalPool(trials_dir, workers, screener)

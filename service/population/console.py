"""What `screen-bulk` prints on stderr: a progress bar per pass, then the summary (counts only, no PHI)."""

from __future__ import annotations

import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.population.feasibility import STATUSES
from service.population.run import FIRST_REJECTS_SHOWN, RunSummary
from service.population.run import Progress as ProgressCallback


@contextmanager
def progress_bars(console: Console) -> Iterator[ProgressCallback]:
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bars:

        def update(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bars.add_task(name, total=total)
            bars.update(tasks[name], completed=done, total=total)

        yield update


def peak_rss_mb() -> tuple[float, float]:
    """(this process, the largest of its finished child processes) peak resident memory in MB (Linux: KB)."""
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / scale
    return own, children


def print_summary(console: Console, summary: RunSummary, trial_ids: list[str], rejects_path: str) -> None:
    rate = summary.patients / summary.seconds if summary.seconds else 0.0
    title = f"{summary.patients} patient(s) screened in {summary.seconds:.1f} s ({rate:.0f} patients/s)"
    table = Table(title=title)
    table.add_column("trial")
    for status in STATUSES:
        table.add_column(status, justify="right")
    statuses = summary.feasibility.trial_statuses
    for trial in trial_ids:
        table.add_row(trial, *(str(statuses[(trial, s)]) for s in STATUSES))
    console.print(table)
    console.print(
        f"{summary.candidates} candidate row(s); {summary.lines} line(s) in {summary.files} file(s), "
        f"{summary.partitions} partition(s), {summary.buckets} bucket(s); "
        f"{summary.unread} line(s) of resource types not read"
    )
    if summary.rejected:
        console.print(f"{summary.rejected} line(s) rejected (written to {rejects_path}):")
        for reject in summary.first_rejects:
            console.print(f"  {reject.file}:{reject.line}: {reject.reason}", markup=False, highlight=False)
        if summary.rejected > FIRST_REJECTS_SHOWN:
            console.print(f"  … and {summary.rejected - FIRST_REJECTS_SHOWN} more")
    if summary.damaged_records:
        console.print(
            f"{len(summary.damaged_records)} patient(s) were screened without some of their lines (rejected above): "
            "their candidate rows count them in rejected_lines; check those records before acting on 'eligible'"
        )
    if summary.orphans:
        console.print(f"{summary.orphans} patient id(s) had resources but no Patient resource (not screened)")
    if summary.error_count:
        console.print(f"{summary.error_count} patient(s) or partition(s) could not be screened:")
        for where, error in summary.errors:
            console.print(f"  {where}: {error}", markup=False, highlight=False)
    own, children = peak_rss_mb()
    console.print(f"peak memory (RSS): coordinator {own:.0f} MB, largest local worker {children:.0f} MB")

"""What the audit trail costs per hook call: `python bench/audit_write.py [--calls N] [--per-batch K] [--profile]`.

Builds the cards of the benchmark's 16 worst-case patients (150 resources, carded for four trials) as the hook
does (`prescreen`), then writes them through `AuditStore`'s writer (`_write_queued`, what the write-behind thread
runs) into a fresh SQLite file, K hook calls per transaction (the writer gathers the calls of 50 ms into one).
Prints the CPU per call (min of the passes, `time.process_time`) and the database bytes per call. Imports
nothing from `bench`: run it with PYTHONPATH at another source tree to measure that tree.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import pstats
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


def hook_cards(patients: int) -> list[list[Any]]:
    """The CardRecords of each patient's hook call, as `prescreen` makes them."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/patients.py, by file: it imports nothing
    from patients import patient_resources  # type: ignore[import-not-found]

    from service.fhir_access.bundle import record_from_resources
    from service.screening.prescreen import ChartOpened, prescreen
    from service.screening.screen import load_screener

    screener = load_screener()
    calls = []
    for i in range(patients):
        resources = patient_resources(150, seed=i, key=f"bench150x{i:02d}")
        record = record_from_resources(resources[0], resources[1:])
        chart = ChartOpened(record, f"bench-{resources[0]['id']}", None, "Practitioner/bench")
        calls.append(list(prescreen(screener, chart).records))
    return calls


def batches(calls: list[list[Any]], count: int, per_batch: int) -> list[list[Any]]:
    """`count` transactions of `per_batch` hook calls each, the patients in turn, every card a fresh uuid."""
    out = []
    for b in range(count):
        batch = []
        for c in range(per_batch):
            for card in calls[(b * per_batch + c) % len(calls)]:
                batch.append(dataclasses.replace(card, card_uuid=str(uuid.uuid4())))
        out.append(batch)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400, help="hook calls written per pass")
    parser.add_argument("--per-batch", type=int, default=1, help="hook calls per transaction")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one pass instead")
    args = parser.parse_args()

    from service.audit.store import AuditStore

    calls = hook_cards(16)
    count = args.calls // args.per_batch
    with tempfile.TemporaryDirectory(prefix="audit-write-") as tmp:
        store = AuditStore(f"sqlite:///{tmp}/warm.db")
        store.migrate()
        for batch in batches(calls, 50, args.per_batch):  # warm-up: statement cache, pages
            store._write_queued(batch)
        timings, sizes = [], []
        for n in range(args.passes):
            path = Path(tmp) / f"pass{n}.db"
            store = AuditStore(f"sqlite:///{path}")
            store.migrate()
            todo = batches(calls, count, args.per_batch)
            empty = _bytes(path)
            profile = cProfile.Profile(time.process_time) if args.profile else None
            started = time.process_time()
            if profile:
                profile.enable()
            for batch in todo:
                store._write_queued(batch)
            if profile:
                profile.disable()
                pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
                return
            timings.append((time.process_time() - started) / (count * args.per_batch) * 1000)
            store.close()
            sizes.append((_bytes(path) - empty) / (count * args.per_batch))
    result = {"cpu_ms_per_call": round(min(timings), 4), "all": [round(t, 4) for t in timings]}
    result["db_bytes_per_call"] = round(min(sizes))
    result["cards_per_call"] = sum(len(c) for c in calls) / len(calls)
    print(json.dumps(result), flush=True)


def _bytes(path: Path) -> int:
    """The database's size once its write-ahead log is checkpointed into it."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, size, free = (
            conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size", "freelist_count")
        )
    return int((pages - free) * size)


if __name__ == "__main__":
    main()

"""The benchmark's offline engine row, run as a script in a child process: `python bench/offline_engine.py
PATIENTS.json SECONDS`, with PYTHONPATH pointing at the source tree to measure (the working tree, or the other
revision of `python -m bench --compare`). Imports nothing from `bench`, so that the tree measured is the only
code in play.

PATIENTS.json: {"size": [[resource, …] per patient, Patient first], …}. Prints {"size": ms per patient, …} as
JSON: Screener.screen (report included) on the patients in turn, each record built once beforehand.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(patients_file: str, seconds_each: float) -> None:
    from service.fhir_access.bundle import record_from_resources
    from service.screening.screen import load_screener

    screener = load_screener()
    by_size = json.loads(Path(patients_file).read_text(encoding="utf-8"))
    result: dict[str, float] = {}
    for size, patients in by_size.items():
        records = [record_from_resources(resources[0], resources[1:]) for resources in patients]
        for record in records:  # warm-up: one pass
            screener.screen(record)
        n, started = 0, time.perf_counter()
        while n < 2 * len(records) or (time.perf_counter() - started < seconds_each and n < 2000):
            screener.screen(records[n % len(records)])
            n += 1
        result[size] = (time.perf_counter() - started) / n * 1000
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))

"""trial-screen benchmark: `python -m bench` (or `python bench/run.py`). Loopback only, bounded in time.

Starts `trial-screen serve` (JWT off, SQLite in a temporary folder) and, when `.fhir-venv` is installed, the
SEKMET FHIR test server; stops both in `finally`. Prints one table. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import orjson

from bench.bulk_exports import write_synthea_export
from bench.fhir_server import free_port
from bench.patients import hook_request, patient_resources, write_export

ROOT = Path(__file__).resolve().parent.parent
SIZES = (50, 150, 500, 2000)
HOOK = "/cds-services/trial-prescreen"
HEADERS = {"content-type": "application/json"}


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} CPU(s) (nproc {len(os.sched_getaffinity(0))}), {model}; Python {platform.python_version()}; "
        f"load average before the run {load[0]:.2f}"
    )


def reference_loop_ms() -> float:
    """A fixed pure-Python workload (dicts, strings, sorting: what the engine does), best of 5 runs.

    The build machines are shared VMs whose speed drifts by up to 2x within an hour; printing this at the start
    and the end of a run tells whether two tables were measured on an equally fast machine.
    """
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        rows = [{"id": f"r{i}", "value": i * 7 % 1000, "unit": "mg/dL"} for i in range(20_000)]
        rows.sort(key=lambda row: (row["value"], row["id"]))
        index: dict[int, list[str]] = {}
        for row in rows:
            index.setdefault(row["value"], []).append(row["id"])
        best = min(best, time.perf_counter() - started)
    return best * 1000


def peak_rss_mb(pid: int) -> float | None:
    try:
        import psutil  # type: ignore[import-not-found]

        info = psutil.Process(pid).memory_info()
        return float(getattr(info, "peak_wset", info.rss)) / 2**20
    except Exception:
        pass
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def trial_screen_exe() -> str:
    return shutil.which("trial-screen") or str(Path(sys.executable).with_name("trial-screen"))


def clean_env() -> dict[str, str]:
    """This process's environment without TRIAL_SCREEN_* settings, so every run starts from the defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_SCREEN_")}


def latency_row(label: str, samples: list[float], cpu: str = "") -> tuple[str, str]:
    p50, p95, p99 = percentiles(samples)
    return f"{label} ({len(samples)} calls)", f"p50 {p50:.1f} ms  p95 {p95:.1f} ms  p99 {p99:.1f} ms{cpu}"


def concurrent_row(label: str, base: str, body: bytes, seconds: float) -> tuple[str, str]:
    rate, errors, latencies = concurrent(base, body, clients=8, seconds=seconds)
    p50, _, p99 = percentiles(latencies)
    return label, f"{rate:.0f} calls/s (p50 {p50:.0f} ms, p99 {p99:.0f} ms, {errors} errors)"


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return statistics.median(ordered) * 1000, pick(0.95) * 1000, pick(0.99) * 1000


class Server:
    def __init__(self, tmp: Path, env_extra: dict[str, str], workers: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = clean_env()
        env.update(
            {
                "TRIAL_SCREEN_REQUIRE_JWT": "false",
                "TRIAL_SCREEN_DATABASE_URL": f"sqlite:///{tmp / 'bench-audit.sqlite3'}",
                "TRIAL_SCREEN_PUBLIC_URL": self.base,
                **env_extra,
            }
        )
        exe = trial_screen_exe()
        self.log = (tmp / "serve.log").open("wb")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [exe, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )

    def wait_first_answer(self, body: bytes, timeout: float = 60.0) -> tuple[float, float]:
        """Seconds from spawn to the first discovery answer and to the first hook answer."""
        deadline = self.started + timeout
        with httpx.Client(base_url=self.base, timeout=5.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"trial-screen serve exited with {self.process.returncode}")
                try:
                    if client.get("/cds-services").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() > deadline:
                    raise RuntimeError("trial-screen serve did not answer in time")
                time.sleep(0.005)
            first = time.perf_counter() - self.started
            response = client.post(HOOK, content=body, headers=HEADERS)
            response.raise_for_status()
            return first, time.perf_counter() - self.started

    def stop(self) -> None:
        if self.process.poll() is None:  # the whole group: `--workers` forks children
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


class Caller:
    """One keep-alive connection through the standard library's http.client: the load generator shares the
    two cores with the server, so it should spend as little CPU per call as it can (httpx costs several times
    more)."""

    def __init__(self, base: str) -> None:
        url = urllib.parse.urlsplit(base)
        self.connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30.0)

    def post(self, body: bytes) -> int:
        self.connection.request("POST", HOOK, body=body, headers=HEADERS)
        response = self.connection.getresponse()
        response.read()
        return response.status

    def close(self) -> None:
        self.connection.close()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), for CPU per call: a figure that, unlike
    latency, hardly moves when the machine is busy with something else."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def sequential(base: str, body: bytes, *, max_calls: int, max_seconds: float) -> list[float]:
    samples: list[float] = []
    caller = Caller(base)
    try:
        for _ in range(5):
            if caller.post(body) != 200:
                raise RuntimeError("the hook did not answer 200")
        stop = time.perf_counter() + max_seconds
        while len(samples) < max_calls and time.perf_counter() < stop:
            t = time.perf_counter()
            status = caller.post(body)
            samples.append(time.perf_counter() - t)
            if status != 200:
                raise RuntimeError(f"the hook answered {status}")
    finally:
        caller.close()
    return samples


def sequential_with_cpu(server: Server, body: bytes, *, max_calls: int, max_seconds: float) -> tuple[list[float], str]:
    """`sequential`, plus the server's CPU per call as a printable suffix ("" where /proc is not readable)."""
    before = cpu_seconds(server.process.pid)
    samples = sequential(server.base, body, max_calls=max_calls, max_seconds=max_seconds)
    after = cpu_seconds(server.process.pid)
    if before is None or after is None:
        return samples, ""
    return samples, f"  server CPU {(after - before) / (len(samples) + 5) * 1000:.1f} ms/call"  # 5 warm-up calls


def concurrent(base: str, body: bytes, *, clients: int, seconds: float) -> tuple[float, int, list[float]]:
    """Calls/s over `seconds` with `clients` threads each sending one request at a time."""
    stop = time.perf_counter() + seconds
    counts = [0] * clients
    errors = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]

    def run(i: int) -> None:
        caller = Caller(base)
        while time.perf_counter() < stop:
            t = time.perf_counter()
            try:
                ok = caller.post(body) == 200
            except (OSError, http.client.HTTPException):
                ok = False
                caller.close()
                caller = Caller(base)
            latencies[i].append(time.perf_counter() - t)
            counts[i] += ok
            errors[i] += not ok
        caller.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return sum(counts) / elapsed, sum(errors), [x for lat in latencies for x in lat]


def offline(sizes: tuple[int, ...], seconds_each: float) -> dict[int, float]:
    """ms per patient of Screener.screen in this process (record built once, report included)."""
    from service.fhir_access.bundle import record_from_resources
    from service.screening.screen import load_screener

    screener = load_screener()
    result = {}
    for size in sizes:
        resources = patient_resources(size)
        record = record_from_resources(resources[0], resources[1:])
        for _ in range(3):
            screener.screen(record)
        n, t0 = 0, time.perf_counter()
        while n < 5 or (time.perf_counter() - t0 < seconds_each and n < 2000):
            screener.screen(record)
            n += 1
        result[size] = (time.perf_counter() - t0) / n * 1000
    return result


def start_fhir(tmp: Path) -> Any:
    if not (ROOT / ".fhir-venv" / "bin" / "sekmet").exists() and not os.environ.get("SEKMET_BIN"):
        return None
    sys.path.insert(0, str(ROOT))
    from bench.fhir_server import start_fhir_server

    return start_fhir_server(tmp / "fhir")


def seed_patient(fhir: Any, resources: list[dict[str, Any]]) -> str:
    from bench.fhir_server import created_id, seed_transaction
    from service.demo.builder import transaction_bundle

    bundle = transaction_bundle(resources)
    return created_id(seed_transaction(fhir.base_url, bundle), bundle, "Patient")


def bulk(export: Path, out: Path) -> tuple[float, float, str]:
    """(patients/s of the whole screen-bulk run, seconds, its peak-memory line) for an export on disk."""
    every_status = ["--status", "eligible", "--status", "possibly-eligible", "--status", "ineligible"]
    t0 = time.perf_counter()
    done = subprocess.run(
        [trial_screen_exe(), "screen-bulk", str(export), "--reports", str(out / "reports"), *every_status],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    seconds = time.perf_counter() - t0
    lines = sum(1 for part in (out / "reports").glob("part-*.ndjson") for _ in part.open("rb"))
    memory = next((line for line in done.stderr.splitlines() if line.startswith("peak memory")), "")
    return lines / seconds, seconds, memory.removeprefix("peak memory (RSS): ")


def bulk_rows(tmp: Path, args: argparse.Namespace) -> list[tuple[str, str]]:
    """screen-bulk on a generated 150-resource export and on real Synthea patients (ids rewritten)."""
    shrink = 5 if args.quick else 1
    n = max(10, args.bulk_patients // shrink)
    write_export(tmp / "export-150", n, 150)
    rate, seconds, memory = bulk(tmp / "export-150", tmp / "bulk-150")
    rows = [
        (
            f"screen-bulk, {n} patients x 150 resources, {os.cpu_count()} worker(s)",
            f"{rate:.0f} patients/s ({seconds:.1f} s incl. start); peak RSS {memory}",
        )
    ]
    patients = write_synthea_export(tmp / "export-synthea", max(1, args.synthea_patients // shrink // 11))
    rate, seconds, memory = bulk(tmp / "export-synthea", tmp / "bulk-synthea")
    rows.append(
        (
            f"screen-bulk, {patients} Synthea patients (~610 resources, ~1 MB each), {os.cpu_count()} worker(s)",
            f"{rate:.0f} patients/s ({seconds:.1f} s incl. start); peak RSS {memory}",
        )
    )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Shorter phases (for a smoke run).")
    parser.add_argument("--bulk-patients", type=int, default=1000)
    parser.add_argument("--synthea-patients", type=int, default=550, help="Real Synthea bundles, ids rewritten.")
    parser.add_argument("--concurrency-seconds", type=float, default=10.0)
    parser.add_argument("--only-bulk", action="store_true", help="Only the screen-bulk rows.")
    args = parser.parse_args(argv)
    if args.only_bulk:
        with tempfile.TemporaryDirectory(prefix="trial-screen-bench-") as tmp_name:
            for name, value in bulk_rows(Path(tmp_name), args):
                print(f"{name}  {value}")
        return
    phase = 0.3 if args.quick else 1.0
    rows: list[tuple[str, str]] = []
    started = time.perf_counter()
    print(f"Machine: {machine()}", flush=True)
    speed_before = reference_loop_ms()
    bodies = {size: orjson.dumps(hook_request(patient_resources(size))) for size in SIZES}
    with tempfile.TemporaryDirectory(prefix="trial-screen-bench-") as tmp_name:
        tmp = Path(tmp_name)
        fhir = server = None
        try:
            fhir = start_fhir(tmp)
            extra = {"TRIAL_SCREEN_ALLOWED_FHIR_SERVERS": fhir.base_url} if fhir else {}
            server = Server(tmp, extra)
            first, first_hook = server.wait_first_answer(bodies[150])
            rows.append(("start → first answer (discovery / first hook call)", f"{first:.2f} s / {first_hook:.2f} s"))
            for size in SIZES:
                samples, cpu = sequential_with_cpu(
                    server, bodies[size], max_calls=300 if size <= 500 else 60, max_seconds=8 * phase
                )
                rows.append(latency_row(f"hook, full prefetch, sequential, {size} resources", samples, cpu))
            typical = orjson.dumps(hook_request(patient_resources(150, key="bench-typical", target_disease=False)))
            samples, cpu = sequential_with_cpu(server, typical, max_calls=300, max_seconds=8 * phase)
            label = "hook, same chart without the SLE diagnosis (no card), 150 resources"
            rows.append(latency_row(label, samples, cpu))
            label = "hook, full prefetch, 8 concurrent clients, 150 resources"
            rows.append(concurrent_row(label, server.base, bodies[150], args.concurrency_seconds * phase))
            if fhir is not None:
                patient_id = seed_patient(fhir, patient_resources(150, key="benchfhir"))
                resources = [{"resourceType": "Patient", "id": patient_id}]
                body = orjson.dumps(hook_request(resources, with_prefetch=False, fhir_server=fhir.base_url))
                samples = sequential(server.base, body, max_calls=100, max_seconds=6 * phase)
                rows.append(latency_row("hook, no prefetch (SEKMET on loopback), sequential, 150 resources", samples))
                rate, errors, _ = concurrent(server.base, body, clients=8, seconds=5 * phase)
                rows.append(("hook, no prefetch, 8 concurrent clients", f"{rate:.0f} calls/s ({errors} errors)"))
            else:
                rows.append(("hook, no prefetch", "skipped: .fhir-venv (SEKMET) is not installed"))
            rss = peak_rss_mb(server.process.pid)
            rows.append(("peak RSS of the server (VmHWM)", f"{rss:.0f} MB" if rss is not None else "unknown"))
            server.stop()
            server = Server(tmp, extra, workers=2)
            server.wait_first_answer(bodies[150])
            label = "hook, full prefetch, 8 concurrent clients, 150 resources, serve --workers 2"
            rows.append(concurrent_row(label, server.base, bodies[150], args.concurrency_seconds * phase))
        finally:
            if server is not None:
                server.stop()
            if fhir is not None:
                fhir.stop()
        per_patient = offline(SIZES, 2 * phase)
        rows.append(
            (
                "offline engine, Screener.screen in-process",
                "  ".join(f"{size}: {ms:.1f} ms" for size, ms in per_patient.items()),
            )
        )
        rows.append(
            (
                "  2,000 / 150 resources cost ratio",
                f"{per_patient[2000] / per_patient[150]:.1f}x",
            )
        )
        rows.extend(bulk_rows(tmp, args))
    rows.append(
        (
            "machine speed: reference Python loop, start / end of the run",
            f"{speed_before:.1f} ms / {reference_loop_ms():.1f} ms (lower is faster)",
        )
    )
    width = max(len(name) for name, _ in rows)
    print(f"\ntrial-screen benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"\n(whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()

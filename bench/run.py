"""trial-screen benchmark: `python -m bench` (or `python bench/run.py`). Loopback only, bounded in time.

Starts `trial-screen serve` (JWT off, SQLite in a temporary folder) and, when `.fhir-venv` is installed, the
SEKMET FHIR test server; stops both in `finally`. Every hook phase sends a different generated patient on every
call (16 distinct patients in turn), so no cache keyed on the request can answer it. Prints one table. Nothing
here asserts a timing.

`--compare REV` checks REV out into a temporary worktree and measures it and the working tree alternately,
phase by phase, in the same minutes (same interpreter and packages, each side's code on its PYTHONPATH); the
table then has one column per side: REV | working tree.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import http.client
import itertools
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
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
PATIENTS = 16  # distinct generated patients per phase, sent in turn
HOOK = "/cds-services/trial-prescreen"
HEADERS = {"content-type": "application/json"}
CLIENTS = 8
_CLI = "import sys; sys.argv[0] = 'trial-screen'; from service.cli import main; main()"

Row = tuple[str, list[str]]  # a label, then one value per side (a single value: the same for all sides)


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
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def clean_env() -> dict[str, str]:
    """This process's environment without TRIAL_SCREEN_* settings, so every run starts from the defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TRIAL_SCREEN_")}


@dataclass(frozen=True)
class Side:
    """One source tree under test: its code is put first on the PYTHONPATH of every process started for it."""

    label: str
    root: Path

    def command(self, *args: str) -> list[str]:
        """`trial-screen ARGS` from this tree, with the bench's interpreter (and so the same packages)."""
        return [sys.executable, "-c", _CLI, *args]

    def compile_bytecode(self) -> None:
        """Each package's bytecode written beside its sources, as `pip install` does in the Docker image: with
        PYTHONDONTWRITEBYTECODE set (as here) every spawned `serve` would otherwise compile the project's modules
        from source again, ~0.1 s of each start that a deployed service never pays."""
        packages = [str(self.root / name) for name in ("service", "cds_hooks", "mappings")]
        subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True, stdout=subprocess.DEVNULL)

    def env(self) -> dict[str, str]:
        env = clean_env()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.root), env.get("PYTHONPATH", "")) if p)
        return env


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return statistics.median(ordered) * 1000, pick(0.95) * 1000, pick(0.99) * 1000


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time so far of a process and its descendants (the workers of `--workers N`), from
    Linux /proc: a figure that, unlike latency, hardly moves when the machine is busy with something else."""
    try:
        total = 0.0
        for one in [pid, *_descendants(pid)]:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total
    except (OSError, ValueError, IndexError):
        return None


def _descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [int(c) for c in children.read_text().split()] if children.exists() else []
    return found + [d for c in found for d in _descendants(c)]


class Server:
    def __init__(self, side: Side, tmp: Path, env_extra: dict[str, str], workers: int = 1) -> None:
        self.side = side
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = side.env()
        env.update(
            {
                "TRIAL_SCREEN_REQUIRE_JWT": "false",
                "TRIAL_SCREEN_DATABASE_URL": f"sqlite:///{tmp / f'audit-{self.port}.sqlite3'}",
                "TRIAL_SCREEN_PUBLIC_URL": self.base,
                **env_extra,
            }
        )
        self.log = (tmp / f"serve-{self.port}.log").open("wb")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            side.command("serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=tmp,
            start_new_session=True,
        )

    def wait_first_answer(self, body: bytes, timeout: float = 60.0) -> tuple[float, float]:
        """Seconds from spawn to the first discovery answer and to the first hook answer."""
        deadline = self.started + timeout
        with httpx.Client(base_url=self.base, timeout=5.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"trial-screen serve ({self.side.label}) exited with {self.process.returncode}")
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

    def cpu(self) -> float | None:
        return cpu_seconds(self.process.pid)

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


def sequential(base: str, bodies: Sequence[bytes], *, max_calls: int, max_seconds: float) -> list[float]:
    """Latencies of calls one after the other, each with the next patient of `bodies` (after one warm-up call
    per patient, not counted)."""
    samples: list[float] = []
    caller = Caller(base)
    try:
        for body in bodies:
            if caller.post(body) != 200:
                raise RuntimeError("the hook did not answer 200")
        stop = time.perf_counter() + max_seconds
        turn = itertools.cycle(bodies)
        while len(samples) < max_calls and time.perf_counter() < stop:
            body = next(turn)
            t = time.perf_counter()
            status = caller.post(body)
            samples.append(time.perf_counter() - t)
            if status != 200:
                raise RuntimeError(f"the hook answered {status}")
    finally:
        caller.close()
    return samples


@dataclass
class Calls:
    """What one phase measured on one side, summed over its rounds."""

    latencies: list[float] = field(default_factory=list)
    answered: int = 0  # calls the server answered in the phase, warm-ups included (for CPU per call)
    seconds: float = 0.0  # wall time of the measured calls (for calls/s)
    errors: int = 0
    server_cpu: float | None = 0.0  # None where /proc is not readable
    client_cpu: float = 0.0

    def __iadd__(self, other: Calls) -> Calls:
        self.latencies += other.latencies
        self.answered += other.answered
        self.seconds += other.seconds
        self.errors += other.errors
        both = self.server_cpu is not None and other.server_cpu is not None
        self.server_cpu = self.server_cpu + other.server_cpu if both else None  # type: ignore[operator]
        self.client_cpu += other.client_cpu
        return self

    def cpu_per_call(self) -> str:
        calls = max(1, self.answered)
        client = f"client CPU {self.client_cpu / calls * 1000:.1f}"
        return client if self.server_cpu is None else f"CPU {self.server_cpu / calls * 1000:.1f}, {client}"

    def latency_cell(self) -> str:
        p50, p95, p99 = percentiles(self.latencies)
        latency = f"p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f} ms"
        return f"{latency}, {self.cpu_per_call()} ms/call ({len(self.latencies)} calls)"

    def throughput_cell(self) -> str:
        p50, _, p99 = percentiles(self.latencies)
        rate = len(self.latencies) / max(self.seconds, 1e-9)
        return (
            f"{rate:.0f} calls/s (p50 {p50:.0f}, p99 {p99:.0f} ms, {self.errors} errors); {self.cpu_per_call()} ms/call"
        )


@contextmanager
def metered(server: Server, calls: Calls) -> Iterator[None]:
    """CPU of the server (all its processes) and of this load client (which shares the cores) over the block."""
    server_before, client_before = server.cpu(), time.process_time()
    yield
    server_after, client_after = server.cpu(), time.process_time()
    calls.client_cpu = client_after - client_before
    calls.server_cpu = None if server_before is None or server_after is None else server_after - server_before


def sequential_phase(server: Server, bodies: Sequence[bytes], *, max_calls: int, max_seconds: float) -> Calls:
    calls = Calls()
    with metered(server, calls):
        calls.latencies = sequential(server.base, bodies, max_calls=max_calls, max_seconds=max_seconds)
    calls.answered = len(calls.latencies) + len(bodies)  # the warm-up calls too
    calls.seconds = sum(calls.latencies)
    return calls


def concurrent(base: str, bodies: Sequence[bytes], *, clients: int, seconds: float) -> tuple[float, int, list[float]]:
    """Calls/s over `seconds` with `clients` threads each sending one request at a time; every call takes the
    next patient of `bodies` (one counter shared by the threads)."""
    stop = time.perf_counter() + seconds
    counts = [0] * clients
    errors = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    turn = itertools.count()  # next() on it is atomic under the GIL

    def run(i: int) -> None:
        caller = Caller(base)
        while time.perf_counter() < stop:
            body = bodies[next(turn) % len(bodies)]
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


def concurrent_phase(server: Server, bodies: Sequence[bytes], *, seconds: float) -> Calls:
    calls = Calls()
    with metered(server, calls):
        started = time.perf_counter()
        _, calls.errors, calls.latencies = concurrent(server.base, bodies, clients=CLIENTS, seconds=seconds)
        calls.seconds = time.perf_counter() - started
    calls.answered = len(calls.latencies)
    return calls


def start_fhir(tmp: Path) -> Any:
    if not (ROOT / ".fhir-venv" / "bin" / "sekmet").exists() and not os.environ.get("SEKMET_BIN"):
        return None
    from bench.fhir_server import start_fhir_server

    return start_fhir_server(tmp / "fhir")


def seed_patient(fhir: Any, resources: list[dict[str, Any]]) -> str:
    from bench.fhir_server import created_id, seed_transaction
    from service.demo.builder import transaction_bundle

    bundle = transaction_bundle(resources)
    return created_id(seed_transaction(fhir.base_url, bundle), bundle, "Patient")


def offline(side: Side, patients_file: Path, seconds_each: float) -> dict[int, float]:
    """ms per patient of Screener.screen in a child process running the side's code (bench/offline_engine.py)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "offline_engine.py"), str(patients_file), str(seconds_each)],
        check=True,
        capture_output=True,
        text=True,
        env=side.env(),
        cwd=patients_file.parent,
    )
    return {int(size): ms for size, ms in json.loads(done.stdout.splitlines()[-1]).items()}


@dataclass(frozen=True)
class BulkRun:
    """One screen-bulk run: wall seconds, CPU seconds of the coordinator and its workers, peak memory."""

    seconds: float
    cpu: float
    memory: str


def bulk_run(side: Side, export: Path, out: Path) -> BulkRun:
    """screen-bulk on an export on disk as a coordinator runs it (candidate list and feasibility page)."""
    out.mkdir(parents=True, exist_ok=True)
    outputs = ["--candidates", str(out / "candidates.csv"), "--feasibility", str(out / "feasibility.html")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        side.command("screen-bulk", str(export), *outputs),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=side.env(),
        cwd=out.parent,
    )
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    memory = next((line for line in done.stderr.splitlines() if line.startswith("peak memory")), "")
    return BulkRun(seconds, cpu, memory.removeprefix("peak memory (RSS): "))


def bulk(side: Side, export: tuple[Path, int], tiny: tuple[Path, int], out: Path) -> str:
    """A table cell: patients/s of the whole run, and past the fixed start (loading the trials, starting the
    workers: what a million-patient export never sees again), read off a tiny export's runs just before:
    (patients − tiny patients) / (seconds − tiny seconds), and CPU per patient the same way."""
    smalls = [bulk_run(side, tiny[0], out / "tiny") for _ in range(2)]  # the least of two: one run is noisy
    small = BulkRun(min(r.seconds for r in smalls), min(r.cpu for r in smalls), smalls[0].memory)
    run = bulk_run(side, export[0], out / "full")
    patients = export[1] - tiny[1]
    steady = patients / max(1e-9, run.seconds - small.seconds)
    cpu_ms = (run.cpu - small.cpu) * 1000 / patients
    return (
        f"{export[1] / run.seconds:.0f} patients/s ({run.seconds:.1f} s incl. start); past the start {steady:.0f}"
        f" patients/s, CPU {cpu_ms:.2f} ms/patient ({tiny[1]}-patient run {small.seconds:.1f} s);"
        f" peak RSS {run.memory}"
    )


def bulk_rows(sides: Sequence[Side], tmp: Path, args: argparse.Namespace) -> list[Row]:
    """screen-bulk on a generated 150-resource export and on real Synthea patients (ids rewritten), the sides
    alternately; candidates and the feasibility page, as a coordinator runs it. Each beside a tiny export of the
    same kind, whose run gives the fixed start the steady-state figures leave out."""
    shrink = 5 if args.quick else 1
    n = max(20, args.bulk_patients // shrink)
    write_export(tmp / "export-150", n, 150)
    write_export(tmp / "tiny-150", 10, 150)
    patients = write_synthea_export(tmp / "export-synthea", max(2, args.synthea_patients // shrink // 11))
    tiny_synthea = write_synthea_export(tmp / "tiny-synthea", 1)
    rows: list[Row] = []
    for label, export, tiny in (
        (f"screen-bulk, {n} patients x 150 resources, {os.cpu_count()} worker(s)", ("export-150", n), ("tiny-150", 10)),
        (
            f"screen-bulk, {patients} Synthea patients (~610 resources, ~1 MB each), {os.cpu_count()} worker(s)",
            ("export-synthea", patients),
            ("tiny-synthea", tiny_synthea),
        ),
    ):
        cells = [
            bulk(side, (tmp / export[0], export[1]), (tmp / tiny[0], tiny[1]), tmp / f"bulk-{export[0]}-{i}")
            for i, side in enumerate(sides)
        ]
        rows.append((label, cells))
    return rows


@dataclass
class Bodies:
    """The hook bodies of every phase: PATIENTS distinct generated patients each."""

    full: dict[int, list[bytes]]  # per size: the SLE patient (carded for four trials), full prefetch
    typical: list[bytes]  # 150 resources without the SLE diagnosis: no card
    resources: dict[int, list[list[dict[str, Any]]]]  # per size: the patients' resources (offline engine)

    @classmethod
    def generate(cls, sizes: Sequence[int]) -> Bodies:
        resources = {
            size: [patient_resources(size, seed=i, key=f"bench{size}x{i:02d}") for i in range(PATIENTS)]
            for size in sizes
        }
        typical = [
            orjson.dumps(hook_request(patient_resources(150, seed=i, key=f"typical{i:02d}", target_disease=False)))
            for i in range(PATIENTS)
        ]
        full = {size: [orjson.dumps(hook_request(r)) for r in patients] for size, patients in resources.items()}
        return cls(full, typical, resources)


@contextmanager
def revision_tree(rev: str, tmp: Path) -> Iterator[Path]:
    """REV checked out (detached) into a temporary git worktree, removed again afterwards."""
    where = tmp / "compare-rev"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(where), rev], check=True)
    try:
        yield where
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], check=False)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)


def each(
    servers: Sequence[Server], rounds: int, measure: Callable[[Server], Calls], cell: Callable[[Calls], str]
) -> list[str]:
    """One phase on every side: `rounds` rounds of `measure`, the sides in turn within each (so that a drift of
    the machine's speed hits them alike), and a short pause after each, so that one side's audit writes are
    done before the other is measured. One table cell per side, from the rounds' sums."""
    totals = [Calls() for _ in servers]
    for _ in range(rounds):
        for total, server in zip(totals, servers, strict=True):
            total += measure(server)
            time.sleep(0.2)
    return [cell(total) for total in totals]


def latency(
    servers: Sequence[Server], rounds: int, bodies: Sequence[bytes], *, max_calls: int, max_seconds: float
) -> list[str]:
    """Calls one after the other: latency percentiles and CPU per call, per side."""
    calls, seconds = max(1, max_calls // rounds), max_seconds / rounds
    measure = functools.partial(sequential_phase, bodies=bodies, max_calls=calls, max_seconds=seconds)
    return each(servers, rounds, measure, Calls.latency_cell)


def throughput(servers: Sequence[Server], rounds: int, bodies: Sequence[bytes], seconds: float) -> list[str]:
    """CLIENTS clients at once: calls/s, latency and CPU per call, per side."""
    measure = functools.partial(concurrent_phase, bodies=bodies, seconds=seconds / rounds)
    return each(servers, rounds, measure, Calls.throughput_cell)


def start_servers(
    sides: Sequence[Side], tmp: Path, extra: dict[str, str], body: bytes, workers: int
) -> tuple[list[Server], list[str]]:
    """A server per side, started one after the other (so the start times do not compete)."""
    servers: list[Server] = []
    started: list[str] = []
    try:
        for side in sides:
            server = Server(side, tmp, extra, workers)
            servers.append(server)
            first, first_hook = server.wait_first_answer(body)
            started.append(f"{first:.2f} s / {first_hook:.2f} s")
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers, started


def hook_rows(sides: Sequence[Side], tmp: Path, bodies: Bodies, args: argparse.Namespace, phase: float) -> list[Row]:
    fhir = None
    servers: list[Server] = []
    rows: list[Row] = []
    sizes = sorted(bodies.full)
    main_size = 150 if 150 in bodies.full else sizes[0]
    rounds = args.rounds
    try:
        fhir = start_fhir(tmp)
        extra = {"TRIAL_SCREEN_ALLOWED_FHIR_SERVERS": fhir.base_url} if fhir else {}
        servers, started = start_servers(sides, tmp, extra, bodies.full[main_size][0], workers=1)
        rows.append(("start → first answer (discovery / first hook call)", started))
        for size in sizes:
            calls = 300 if size <= 500 else 60
            label = f"hook, full prefetch, sequential, {size} resources"
            rows.append((label, latency(servers, rounds, bodies.full[size], max_calls=calls, max_seconds=8 * phase)))
        label = "hook, same chart without the SLE diagnosis (no card), 150 resources"
        rows.append((label, latency(servers, rounds, bodies.typical, max_calls=300, max_seconds=8 * phase)))
        label = f"hook, full prefetch, {CLIENTS} concurrent clients, {main_size} resources"
        seconds = args.concurrency_seconds * phase
        rows.append((label, throughput(servers, rounds, bodies.full[main_size], seconds)))
        if fhir is not None:
            ids = [seed_patient(fhir, patient_resources(150, seed=i, key=f"fhir{i:02d}")) for i in range(PATIENTS)]
            no_prefetch = [
                orjson.dumps(
                    hook_request(
                        [{"resourceType": "Patient", "id": patient_id}], with_prefetch=False, fhir_server=fhir.base_url
                    )
                )
                for patient_id in ids
            ]
            label = "hook, no prefetch (SEKMET on loopback), sequential, 150 resources"
            rows.append((label, latency(servers, rounds, no_prefetch, max_calls=100, max_seconds=6 * phase)))
            label = f"hook, no prefetch, {CLIENTS} concurrent clients"
            rows.append((label, throughput(servers, rounds, no_prefetch, 5 * phase)))
        else:
            rows.append(("hook, no prefetch", ["skipped: .fhir-venv (SEKMET) is not installed"]))
        rows.append(("peak RSS of the server (VmHWM)", [_rss(s) for s in servers]))
        for server in servers:
            server.stop()
        servers, _ = start_servers(sides, tmp, extra, bodies.full[main_size][0], workers=2)
        label = f"hook, full prefetch, {CLIENTS} concurrent clients, {main_size} resources, serve --workers 2"
        rows.append((label, throughput(servers, rounds, bodies.full[main_size], seconds)))
    finally:
        for server in servers:
            server.stop()
        if fhir is not None:
            fhir.stop()
    return rows


def _rss(server: Server) -> str:
    rss = peak_rss_mb(server.process.pid)
    return f"{rss:.0f} MB" if rss is not None else "unknown"


def offline_rows(sides: Sequence[Side], tmp: Path, bodies: Bodies, phase: float, rounds: int) -> list[Row]:
    """The engine alone, in a child process per side and round, the sides in turn; the best round counts (as
    for the machine-speed loop: what a drift of the machine adds is never less)."""
    patients_file = tmp / "offline-patients.json"
    patients_file.write_bytes(orjson.dumps({str(size): patients for size, patients in bodies.resources.items()}))
    best: list[dict[int, float]] = [{} for _ in sides]
    for _ in range(rounds):
        for side, side_best in zip(sides, best, strict=True):
            for size, ms in offline(side, patients_file, 2 * phase / rounds).items():
                side_best[size] = min(ms, side_best.get(size, ms))
    rows: list[Row] = [
        (
            "offline engine, Screener.screen in-process",
            ["  ".join(f"{n}: {ms:.1f} ms" for n, ms in r.items()) for r in best],
        )
    ]
    if 150 in bodies.resources and 2000 in bodies.resources:
        rows.append(("  2,000 / 150 resources cost ratio", [f"{r[2000] / r[150]:.1f}x" for r in best]))
    return rows


def print_table(sides: Sequence[Side], rows: Sequence[Row]) -> None:
    width = max(len(name) for name, _ in rows)
    columns = [
        max([len(side.label)] + [len(v[i]) for _, v in rows if len(v) == len(sides)]) for i, side in enumerate(sides)
    ]
    print(f"\ntrial-screen benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n")
    if len(sides) > 1:
        print(f"{'':<{width}}  " + " | ".join(f"{side.label:<{w}}" for side, w in zip(sides, columns, strict=True)))
    for name, values in rows:
        if len(values) == len(sides):
            print(f"{name:<{width}}  " + " | ".join(f"{v:<{w}}" for v, w in zip(values, columns, strict=True)).rstrip())
        else:
            print(f"{name:<{width}}  {' '.join(values)}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Shorter phases (for a smoke run).")
    parser.add_argument("--compare", metavar="REV", help="Also measure git revision REV, alternately with this tree.")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="Patient sizes (resources).")
    parser.add_argument("--no-bulk", action="store_true", help="Leave out the screen-bulk rows.")
    parser.add_argument("--bulk-patients", type=int, default=1000)
    parser.add_argument("--synthea-patients", type=int, default=550, help="Real Synthea bundles, ids rewritten.")
    parser.add_argument("--concurrency-seconds", type=float, default=10.0)
    parser.add_argument("--only-bulk", action="store_true", help="Only the screen-bulk rows.")
    parser.add_argument(
        "--rounds", type=int, help="Rounds per phase, the sides in turn in each (default: 3 with --compare, else 1)."
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 3 if args.compare else 1
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    phase = 0.3 if args.quick else 1.0
    started = time.perf_counter()
    print(f"Machine: {machine()}", flush=True)
    speed_before = reference_loop_ms()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="trial-screen-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with revision_tree(args.compare, tmp) if args.compare else _no_tree() as old:
            sides = (
                [Side("working tree", ROOT)] if old is None else [Side(args.compare, old), Side("working tree", ROOT)]
            )
            for side in sides:
                side.compile_bytecode()
            if not args.only_bulk:
                bodies = Bodies.generate(args.sizes)
                rows += hook_rows(sides, tmp, bodies, args, phase)
                rows += offline_rows(sides, tmp, bodies, phase, args.rounds)
            if not args.no_bulk:
                rows += bulk_rows(sides, tmp, args)
    speed = f"{speed_before:.1f} ms / {reference_loop_ms():.1f} ms (lower is faster)"
    rows.append(("machine speed: reference Python loop, start / end of the run", [speed]))
    print_table(sides, rows)
    print(f"\n(whole run {time.perf_counter() - started:.0f} s)")


@contextmanager
def _no_tree() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    main()

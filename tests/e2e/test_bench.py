"""`python -m bench`, by its pieces: a different patient on every call, another revision measured from its own
checkout, the two sides printed side by side. Nothing here looks at a timing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from bench.run import (
    PATIENTS,
    ROOT,
    Bodies,
    Server,
    Side,
    concurrent,
    main,
    offline,
    print_table,
    revision_tree,
    sequential,
)
from bench.threads import per_thread


@pytest.fixture(scope="module")
def bodies() -> Bodies:
    return Bodies.generate([50])


def _patient_refs(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT patient_ref FROM audit_card")]


def test_every_phase_has_distinct_patients(bodies: Bodies) -> None:
    for phase in (bodies.full[50], bodies.typical):
        ids = {orjson.loads(body)["context"]["patientId"] for body in phase}
        assert len(ids) == len(phase) == PATIENTS
    assert len({orjson.dumps(r[1:]) for r in bodies.resources[50]}) == PATIENTS  # not only the ids differ


def test_sequential_and_concurrent_calls_take_the_patients_in_turn(bodies: Bodies, tmp_path: Path) -> None:
    server = Server(Side("working tree", ROOT), tmp_path, {})
    try:
        server.wait_first_answer(bodies.full[50][0])
        sequential(server.base, bodies.full[50], max_calls=PATIENTS, max_seconds=60)
        database = next(tmp_path.glob("audit-*.sqlite3"))
        server_cpu = server.cpu()
        assert server_cpu is not None
        assert server_cpu > 0
    finally:
        server.stop()
    refs = _patient_refs(database)
    # the first answer, one warm-up call per patient, then PATIENTS calls: every patient twice more, in turn
    assert len(set(refs)) == PATIENTS


def test_concurrent_clients_share_one_turn(bodies: Bodies, tmp_path: Path) -> None:
    server = Server(Side("working tree", ROOT), tmp_path, {})
    try:
        server.wait_first_answer(bodies.full[50][0])
        rate, errors, latencies = concurrent(server.base, bodies.full[50], clients=4, seconds=1.0)
    finally:
        server.stop()
    assert errors == 0
    assert rate > 0
    database = next(tmp_path.glob("audit-*.sqlite3"))
    assert len(set(_patient_refs(database))) == min(PATIENTS, len(latencies))  # one counter: 0, 1, 2, … in turn


def test_another_revision_runs_from_its_own_checkout(tmp_path: Path) -> None:
    resources = Bodies.generate([50]).resources
    patients = tmp_path / "patients.json"
    patients.write_bytes(orjson.dumps({"50": resources[50][:2]}))
    with revision_tree("HEAD", tmp_path) as tree:
        assert (tree / "service" / "cli.py").is_file()
        side = Side("HEAD", tree)
        assert side.env()["PYTHONPATH"].split(":")[0] == str(tree)
        per_patient = offline(side, patients, 0.01)
    assert not tree.exists()
    assert set(per_patient) == {50}
    assert per_patient[50] > 0


def test_the_table_has_a_column_per_side(capsys: pytest.CaptureFixture[str]) -> None:
    sides = [Side("main", Path("/old")), Side("working tree", ROOT)]
    print_table(sides, [("a row", ["1 ms", "2 ms"]), ("machine speed", ["20 ms / 21 ms"])])
    lines = capsys.readouterr().out.splitlines()
    assert any("main" in line and "working tree" in line for line in lines)
    assert any(line.startswith("a row") and "1 ms" in line and "| 2 ms" in line for line in lines)
    assert any(line.startswith("machine speed") and "20 ms / 21 ms" in line for line in lines)


def test_compare_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    """The whole `--compare` run, as short as it goes (~40 s): every hook row has a value for both sides."""
    main(["--quick", "--sizes", "50", "--no-bulk", "--compare", "HEAD", "--rounds", "1", "--concurrency-seconds", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert any("HEAD" in line and "| working tree" in line for line in lines)
    hook_rows = [line for line in lines if line.startswith("hook, full prefetch")]
    assert len(hook_rows) == 3  # sequential, 8 clients, 8 clients with two workers
    for row in hook_rows:
        assert row.count("|") == 1
        assert " ms/call" in row.split("|")[0]
        assert " ms/call" in row.split("|")[1]
    assert all("0 errors" in cell for row in hook_rows if "calls/s" in row for cell in row.split("|"))


def test_per_thread_cpu_names_the_event_loop_first(bodies: Bodies, tmp_path: Path) -> None:
    spent = per_thread(Side("working tree", ROOT), tmp_path, bodies.full[50], calls=PATIENTS)
    assert spent[0] > 0  # the event loop, which screens a record of this size itself; then the audit writer
    assert all(ms >= 0 for ms in spent)

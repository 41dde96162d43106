"""Where a hook call's CPU goes, by thread: `python -m bench.threads [--compare REV] [--pairs N]`.

Starts one `serve` per side (the working tree, and REV from a temporary worktree), sends each 50 warm-up calls
and then `--calls` sequential calls (150 resources, the benchmark's 16 patients in turn), and prints the CPU per
call of each of the server's threads (from Linux /proc): the event loop (request, record, the engine for a record
of up to 300 resources, cards, response), a screening thread for a larger record, and the audit writer. With
`--compare`, the sides alternate `--pairs` times.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from contextlib import nullcontext
from pathlib import Path

from bench.run import ROOT, Bodies, Server, Side, revision_tree, sequential


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far of each thread of a process, by thread id."""
    cpu = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        cpu[task.name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return cpu


def per_thread(side: Side, tmp: Path, bodies: list[bytes], calls: int) -> list[float]:
    """ms of CPU per call of each thread that worked during the calls, the main thread (the event loop) first."""
    server = Server(side, tmp, {})
    try:
        server.wait_first_answer(bodies[0])
        sequential(server.base, bodies, max_calls=50, max_seconds=60)
        before = thread_cpu(server.process.pid)
        sequential(server.base, bodies, max_calls=calls, max_seconds=120)
        after = thread_cpu(server.process.pid)
    finally:
        server.stop()
    main = str(server.process.pid)
    spent = {tid: (after[tid] - before.get(tid, 0.0)) / (calls + len(bodies)) * 1000 for tid in after}
    return [spent.pop(main, 0.0), *sorted((ms for ms in spent.values() if ms > 0), reverse=True)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", metavar="REV", help="Also measure git revision REV, alternately.")
    parser.add_argument("--pairs", type=int, default=3, help="Rounds of the sides in turn.")
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    bodies = Bodies.generate([150]).full[150]
    with tempfile.TemporaryDirectory(prefix="trial-screen-threads-") as tmp_name:
        tmp = Path(tmp_name)
        sides = [Side("working tree", ROOT)]
        with revision_tree(args.compare, tmp) if args.compare else nullcontext() as old:
            if old is not None:
                sides.insert(0, Side(args.compare, old))
            print("ms of CPU per call: event loop, then the other threads that worked (screening, audit writer)")
            for n in range(args.pairs):
                for i, side in enumerate(sides):
                    (tmp / f"{n}-{i}").mkdir()
                    spent = per_thread(side, tmp / f"{n}-{i}", bodies, args.calls)
                    others = "  ".join(f"{ms:.2f}" for ms in spent[1:])
                    print(f"{side.label:<14} event loop {spent[0]:.2f}  others {others}  total {sum(spent):.2f}")


if __name__ == "__main__":
    main()

"""The Ray executor's overhead on one machine (issue 15): the same study drained by the
local worker and by the Ray driver, each a fresh process, start-up included (TensorFlow's
import, the networks' builds, and for Ray its instance and its workers).

    python -m bench.ray_overhead                      # 8 cells: 2 backbones x 4 seeds, 128 px, 100 steps
    python -m bench.ray_overhead --size 32 --iterations 5   # a quick check that it works
    python -m bench.ray_overhead --cpus-per-task 2 --cells  # one task at a time; each cell's losses

Prints both wall times, the ratio ray / local (target: at most 1.10) and the largest
relative difference of the two stores' output losses. A benchmark, not a test: nothing
is asserted. Needs `pip install -r requirements-ray.txt`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def queue_study(db: Path, size: int, iterations: int, seeds: int, weights: str) -> None:
    """The `backbones` preset on one synthetic pair with `seeds` seeds: 2 x seeds cells."""
    from tests.conftest import synthetic_image
    from workbench import queue
    from workbench.studies import get_preset

    overrides = {"size": size, "iterations": iterations, "weights": weights, "snapshot_every": 50}
    contents = [(synthetic_image(size, size * 5 // 4, seed=1), "photo.png")]
    styles = [(synthetic_image(size, size, seed=2), "painting.png")]
    inputs = queue.StudyInputs(get_preset("backbones"), overrides, list(range(seeds)), contents, styles)
    queue.launch_study(db, inputs)


def drain_seconds(command: list[str], log: Path) -> float:
    """Wall seconds of a fresh process draining a queue (its output to `log`)."""
    env = {**os.environ, "NST_NO_WORKER": "1", "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - t0


def outcome(db: Path) -> dict[str, tuple[str, float | None]]:
    """(status, output loss) of every run, by study cell."""
    from store.db import connect
    from store.runs import get_run

    with connect(db) as con:
        ids = [r[0] for r in con.execute("SELECT id FROM runs ORDER BY id").fetchall()]
    rows = [get_run(db, i) for i in ids]
    return {r["study_cell"]: (r["status"], r["total_loss"]) for r in rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ray_overhead", description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--seeds", type=int, default=4, help="seeds per backbone: cells = 2 x seeds [default: 4]")
    p.add_argument("--weights", default="none")
    p.add_argument("--ray-address", default=None, help="a running cluster (default: start a Ray instance here)")
    p.add_argument("--cpus-per-task", type=int, default=None, help="CPUs per Ray task [default: 1]")
    p.add_argument("--cells", action="store_true", help="print each cell's status and output loss in both stores")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as tmp:
        local_db, ray_db = Path(tmp) / "local.duckdb", Path(tmp) / "ray.duckdb"
        for db in (local_db, ray_db):
            queue_study(db, args.size, args.iterations, args.seeds, args.weights)
        py = sys.executable
        local_s = drain_seconds([py, "-m", "workbench", "worker", "--db", str(local_db)], Path(tmp) / "local.log")
        ray_cmd = [py, "-m", "workbench.ray_executor", "--db", str(ray_db)]
        if args.ray_address:
            ray_cmd += ["--ray-address", args.ray_address]
        if args.cpus_per_task:  # e.g. all CPUs: one task at a time, as the local worker runs
            ray_cmd += ["--cpus-per-task", str(args.cpus_per_task)]
        ray_s = drain_seconds(ray_cmd, Path(tmp) / "ray.log")
        local, remote = outcome(local_db), outcome(ray_db)
        statuses = {s for s, _ in [*local.values(), *remote.values()]}
        diffs = [
            abs(remote[c][1] - loss) / abs(loss) for c, (_, loss) in local.items() if loss and remote[c][1] is not None
        ]
        if args.cells:
            for cell, (status, loss) in sorted(local.items()):
                print(f"{cell}: local {status} {loss}, ray {remote[cell][0]} {remote[cell][1]}")
    cells = len(local)
    print(f"{cells} cells, {args.size} px, {args.iterations} steps, weights {args.weights}, {os.cpu_count()} CPUs")
    print(f"local worker: {local_s:.1f} s")
    print(f"ray driver:   {ray_s:.1f} s")
    print(f"ratio ray / local: {ray_s / local_s:.3f} (target <= 1.10)")
    print(f"statuses: {', '.join(sorted(statuses))}; largest output-loss difference: {max(diffs, default=0):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

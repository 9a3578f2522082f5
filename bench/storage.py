"""Store benchmarks: the cost of logging a run, and dashboard queries on a big store."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from store.recorder import RunRecorder
from store.runs import claim_run, create_run

CONFIG = {
    "backbone": "vgg16",
    "content_layer": "block5_conv2",
    "style_layers": ["block1_conv1"],
    "style_layer_weights": [1.0],
    "content_weight": 1.0,
    "style_weight": 1.0,
    "tv_weight": 0.0,
    "learning_rate": 15.0,
    "iterations": 1000,
    "size": 128,
    "init": "content",
    "seed": 0,
    "snapshot_every": 100,
    "weights": "none",
}


def logging_seconds(iterations: int = 1000, step_s: float = 0.01) -> tuple[float, float]:
    """(seconds the run loop itself spends handing `iterations` rows to the recorder,
    seconds the final flush then waits). A sleep of `step_s` stands in for each step, so
    the writer thread works beside the loop as it does in a run."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "log.duckdb"
        run_id = create_run(db, CONFIG, "c", "s", "bench")
        claim_run(db, run_id, "bench", "CPU")
        rec = RunRecorder(db, run_id)
        in_loop = 0.0
        for step in range(1, iterations + 1):
            t0 = time.perf_counter()
            rec.add_iteration((step, 1.0, 0.5, 0.5, 0.0, step_s, step * step_s, 128))
            in_loop += time.perf_counter() - t0
            time.sleep(step_s)
        t0 = time.perf_counter()
        rec.close()
        return in_loop, time.perf_counter() - t0

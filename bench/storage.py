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


def logging_seconds(iterations: int = 1000) -> tuple[float, float]:
    """(seconds the run loop spends handing `iterations` rows to the recorder, seconds
    until they are all on disk). The first is what a run pays; the second runs beside it."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "log.duckdb"
        run_id = create_run(db, CONFIG, "c", "s", "bench")
        claim_run(db, run_id, "bench", "CPU")
        rec = RunRecorder(db, run_id)
        in_loop = 0.0
        t_start = time.perf_counter()
        for step in range(1, iterations + 1):
            t0 = time.perf_counter()
            rec.add_iteration((step, 1.0, 0.5, 0.5, 0.0, 0.01, step * 0.01))
            in_loop += time.perf_counter() - t0
            time.sleep(0.001)  # stand-in for the step, so the writer thread has time to work
        t0 = time.perf_counter()
        rec.close()
        end = time.perf_counter()
        in_loop += end - t0
        return in_loop, end - t_start - iterations * 0.001

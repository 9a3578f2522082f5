"""Step cost: a bare compiled step against the engine's full run with store logging.

(a) bare: the model, the losses, the gradient and the Adam update in one `tf.function`,
    timed around the call and the copy of the four loss values, nothing else.
(b) engine: `python -m engine run`'s own code path (`engine.runner.execute_run`) into a
    temporary store, with snapshots every 10 steps, timed from the stored
    `elapsed_seconds` (so it includes the callback, logging and snapshot work between
    steps).
Both report the median over the timed steps (the first steps, which compile the graph,
are left out).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from engine.backbones import get_backbone
from engine.config import TransferConfig, validate
from engine.runner import execute_run, queue_run
from engine.transfer import FeatureExtractor, initial_image, make_loss_fn, make_step_fn, pixel_bounds, prepare_images
from store import runs as store_runs

WARMUP = 3


def bare_step_seconds(cfg: TransferConfig, model, content: np.ndarray, style: np.ndarray, steps: int) -> float:
    """Median seconds of a bare compiled Adam step (see module docstring)."""
    bb = get_backbone(cfg.backbone)
    c, s = prepare_images(cfg, bb, content, style)
    loss_fn = make_loss_fn(FeatureExtractor(model, cfg.content_layer, cfg.style_layers), cfg, c, s)
    image = tf.Variable(initial_image(cfg, bb, c, style))
    step = make_step_fn(loss_fn, image, keras.optimizers.Adam(cfg.learning_rate), pixel_bounds(bb))
    times = []
    for _ in range(WARMUP + steps):
        t0 = time.perf_counter()
        step().numpy()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[WARMUP:])


def engine_step_seconds(cfg: TransferConfig, model, content: np.ndarray, style: np.ndarray) -> float:
    """Median seconds between consecutive steps of a full engine run with logging."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        run_id = queue_run(db, cfg, content, style)
        outcome = execute_run(db, run_id, model=model)
        if outcome.status != "finished":
            raise RuntimeError(f"benchmark run {outcome.status}: {outcome.error}")
        elapsed = store_runs.get_iterations(db, run_id)["elapsed_seconds"].to_numpy()
    return float(np.median(np.diff(elapsed)[WARMUP:]))


def step_cost(backbone: str, size: int, steps: int, weights: str, content, style) -> list[dict]:
    """Rows for one (backbone, size): bare, engine and their ratio."""
    cfg = validate(
        TransferConfig(backbone=backbone, size=size, iterations=WARMUP + steps + 1, weights=weights, snapshot_every=10)
    )
    model = get_backbone(backbone).build(weights=None if weights == "none" else weights)
    # Bare before and after the engine run, so a machine that speeds up or slows down
    # during the measurement (other load, frequency) does not bias the ratio.
    before = bare_step_seconds(cfg, model, content, style, steps)
    full = engine_step_seconds(cfg, model, content, style)
    bare = (before + bare_step_seconds(cfg, model, content, style, steps)) / 2
    row = {"benchmark": "step", "backbone": backbone, "size": size}
    return [
        {**row, "metric": "bare_s_per_step", "value": bare},
        {**row, "metric": "engine_s_per_step", "value": full},
        {**row, "metric": "engine_over_bare", "value": full / bare},
    ]

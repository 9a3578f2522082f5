"""Step cost: a bare compiled step against the engine's full run with store logging.

(a) bare: the model, the losses, the gradient and the Adam update in one `tf.function`,
    timed around the call and the copy of the four loss values, nothing else.
(b) engine: `python -m workbench run`'s own code path (`workbench.runner.execute_run`) into a
    temporary store, with snapshots every 10 steps, timed from the stored
    `elapsed_seconds` (so it includes the callback, logging and snapshot work between
    steps).
Both report the median over the timed steps (the first steps, which compile the graph,
are left out).
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from engine.backbones import get_backbone
from engine.config import TransferConfig, validate
from engine.optimizers import Adam
from engine.transfer import FeatureExtractor, initial_image, make_loss_fn, pixel_bounds, prepare_images
from engine.weights import load_backbone
from store import runs as store_runs
from workbench.models import ModelCache, backbone_key
from workbench.queue import queue_arrays
from workbench.runner import execute_run

WARMUP = 3


def bare_step_seconds(cfg: TransferConfig, model, content: np.ndarray, style: np.ndarray, steps: int) -> float:
    """Median seconds of a bare compiled Adam step (see module docstring)."""
    bb = get_backbone(cfg.backbone)
    c, s = prepare_images(cfg, bb, content, style)
    loss_fn = make_loss_fn(FeatureExtractor(model, cfg.content_layer, cfg.style_layers), cfg, c, s)
    image = tf.Variable(initial_image(cfg, bb, c, style))
    # The engine's own Adam step compiled alone: no loop, chunking or callback around it.
    step = tf.function(Adam(loss_fn, image, cfg.learning_rate, pixel_bounds(bb)).step)
    times = []
    for _ in range(WARMUP + steps):
        t0 = time.perf_counter()
        step()["total"].numpy()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[WARMUP:])


# Engine options that change the time per step, not the path: measured as extra rows.
STEP_OPTIONS = {"engine_10_per_call_s_per_step": {"steps_per_call": 10}, "engine_xla_s_per_step": {"jit_compile": True}}


def engine_step_seconds(cfg: TransferConfig, model, content: np.ndarray, style: np.ndarray) -> float:
    """Seconds per step of a full engine run with logging, from the stored elapsed
    times (so it includes everything between the steps), the first steps left out: the
    median step after WARMUP steps, or with K steps per call, whose steps share their
    call's time evenly, the mean over the calls after the first."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        run_id = queue_arrays(db, cfg, (content, None), (style, None))
        models = ModelCache()
        models.put(backbone_key(cfg.backbone, cfg.weights, cfg.seed), model)
        outcome = execute_run(db, run_id, models)
        if outcome.status != "finished":
            raise RuntimeError(f"benchmark run {outcome.status}: {outcome.error}")
        elapsed = store_runs.get_iterations(db, run_id)["elapsed_seconds"].to_numpy()
    k = cfg.steps_per_call
    if k > 1:
        return float((elapsed[-1] - elapsed[k - 1]) / (len(elapsed) - k))
    return float(np.median(np.diff(elapsed)[WARMUP:]))


def step_cost(backbone: str, size: int, steps: int, weights: str, content, style, rounds: int = 3) -> list[dict]:
    """Rows for one (backbone, size): bare, engine, their ratio, and the engine with the
    options that change the time per step (K steps per call, XLA)."""
    cfg = validate(
        TransferConfig(backbone=backbone, size=size, iterations=WARMUP + steps + 1, weights=weights, snapshot_every=10)
    )
    model = load_backbone(get_backbone(backbone), weights)
    # Bare and engine alternate, bare first and last; each engine run is set against the
    # mean of the bare runs around it, and the ratio reported is the median over rounds,
    # so a machine that speeds up or slows down meanwhile does not bias it (single
    # rounds on this 2-core machine varied by +-20 %).
    bare = [bare_step_seconds(cfg, model, content, style, steps)]
    full = []
    for _ in range(rounds):
        full.append(engine_step_seconds(cfg, model, content, style))
        bare.append(bare_step_seconds(cfg, model, content, style, steps))
    ratios = [f / ((b0 + b1) / 2) for f, b0, b1 in zip(full, bare, bare[1:], strict=False)]
    row = {"benchmark": "step", "backbone": backbone, "size": size}
    rows = [
        {**row, "metric": "bare_s_per_step", "value": statistics.median(bare)},
        {**row, "metric": "engine_s_per_step", "value": statistics.median(full)},
        {**row, "metric": "engine_over_bare", "value": statistics.median(ratios)},
    ]
    for metric, option in STEP_OPTIONS.items():
        k = option.get("steps_per_call", 1)
        warmup = k if k > 1 else WARMUP + 1  # XLA: compiled in the first step
        fast = dataclasses.replace(cfg, iterations=warmup + max(steps, k), **option)
        rows.append({**row, "metric": metric, "value": engine_step_seconds(validate(fast), model, content, style)})
    return rows

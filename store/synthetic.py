"""A synthetic store of many finished runs, for benchmarks and scale checks of the
dashboard queries (never for results: every number in it is made up)."""

from __future__ import annotations

from typing import Any

import numpy as np

from store.db import connect
from store.images import insert_blobs, make_blob
from store.runs import insert_run

LAYER_SETS = {
    "vgg16": (["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"], ["block1_conv1"]),
    "resnet50": (["conv1_relu", "conv2_block1_out", "conv3_block1_1_conv"], ["conv1_relu"]),
}
CONTENT = {"vgg16": "block5_conv2", "resnet50": "conv3_block4_out"}
LEARNING_RATES = (1.0, 10.0, 15.0, 20.0, 30.0)


def _config(i: int, iterations: int) -> dict[str, Any]:
    backbone = ("vgg16", "resnet50")[i % 2]
    layers = LAYER_SETS[backbone][(i // 10) % 2]
    return {
        "backbone": backbone, "content_layer": CONTENT[backbone], "style_layers": layers,
        "style_layer_weights": [1.0] * len(layers), "content_weight": 1.0, "style_weight": 1.0, "tv_weight": 0.0,
        "learning_rate": LEARNING_RATES[(i // 2) % 5], "iterations": iterations, "size": 256, "init": "content",
        "seed": i, "snapshot_every": 100, "weights": "none",
    }  # fmt: skip


def make_synthetic_store(db: Any, runs: int, iterations: int, distinct_outputs: int = 50) -> None:
    """Add `runs` finished runs with `iterations` iteration rows each and thumbnails
    (`distinct_outputs` different output images, 4 inputs), in one transaction."""
    rng = np.random.default_rng(0)
    blobs = [make_blob(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)) for _ in range(4 + distinct_outputs)]
    with connect(db) as con:
        insert_blobs(con, blobs)
        for i in range(runs):
            cfg = _config(i, iterations)
            rid = insert_run(con, cfg, blobs[i % 2].id, blobs[2 + (i // 3) % 2].id, "synthetic", status="finished")
            scale = 1e6 if cfg["backbone"] == "vgg16" else 1.0
            con.execute(
                "INSERT INTO iterations SELECT ?, s, ? * (1 + 100.0 / s), ? / s, ? * (1 + 99.0 / s), "
                "  0, 0.05, 0.05 * s, 256 FROM range(1, ? + 1) t(s)",
                [rid, scale, scale, scale, iterations],
            )
            con.execute(
                "UPDATE runs SET steps_done = ?, total_loss = ?, output_image = ?, wall_seconds = ?, "
                "started_at = created_at, finished_at = created_at WHERE id = ?",
                [iterations, scale * 1.1, blobs[4 + i % distinct_outputs].id, 0.05 * iterations, rid],
            )

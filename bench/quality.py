"""Time-to-quality: how long each speed option takes to reach the total loss that the
baseline reaches, the baseline being plain Adam at the study's settings (the backbone's
learning rate, one scale, one step per call) for `steps` steps at the target size.

Each option runs through `engine.transfer.run_transfer`, the engine's own loop, and
stops at the first step whose loss, at the target size, is at or below the target (a
coarse scale's loss does not count: it is another image). Times are wall seconds from
the start of the run (graph tracing included, model loading excluded), read from the
steps' `elapsed_seconds`. Steps are loss-and-gradient evaluations under every option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.backbones import get_backbone
from engine.config import TransferConfig, validate
from engine.transfer import StepEvent, run_transfer

# Option name -> config fields over the baseline's; the first is the baseline itself.
# `coarse_fraction`: the coarse scale's steps as a share of the baseline's. Options that
# change the time per step but not the path (steps per call, XLA) are measured by the
# step benchmark instead: here their runs would only add noise to the same curve.
OPTIONS: dict[str, dict[str, Any]] = {
    "adam": {},
    "lbfgs": {"optimizer": "lbfgs"},
    "adam, 2 scales": {"scales": 2, "coarse_fraction": 0.2},
    "lbfgs, 2 scales": {"optimizer": "lbfgs", "scales": 2, "coarse_fraction": 0.1},
}
# Options may run this many times the baseline's steps to get to its loss (they stop as
# soon as they do), since two optimisers' losses do not fall in step.
BUDGET = 1.5


@dataclass
class _Watch:
    """Records (step, size, loss, elapsed) and asks the run to stop once on target."""

    target: float
    size: int
    reached: StepEvent | None = None
    events: list[StepEvent] = field(default_factory=list)

    def on_step(self, ev: StepEvent) -> None:
        self.events.append(ev)
        if self.reached is None and ev.size == self.size and ev.total_loss <= self.target:
            self.reached = ev

    def should_stop(self) -> bool:
        return self.reached is not None


def option_config(base: TransferConfig, option: dict[str, Any]) -> TransferConfig:
    """The baseline's config with an option's fields and `BUDGET` times its steps."""
    fields = dict(option)
    fraction = fields.pop("coarse_fraction", None)
    if fraction is not None:
        fields["coarse_iterations"] = max(1, int(base.iterations * fraction))
    budget = int(base.iterations * BUDGET) if fields else base.iterations
    unset = {"learning_rate": None, "coarse_iterations": None, "iterations": budget}
    return validate(TransferConfig.from_dict({**base.to_dict(), **unset, **fields}))


def time_to_quality(
    backbone: str, size: int, steps: int, weights: str, content: np.ndarray, style: np.ndarray, options=OPTIONS
) -> list[dict]:
    """Rows per option: seconds and steps to reach the baseline's last loss, and the
    speed-up over the baseline (NaN where an option never got there). The baseline's
    own row is its first step at or below that loss (Adam's loss is not monotone)."""
    base = validate(TransferConfig(backbone=backbone, size=size, iterations=steps, weights=weights, snapshot_every=0))
    model = get_backbone(backbone).build(weights=None if weights == "none" else weights)
    baseline = _Watch(target=-np.inf, size=size)
    run_transfer(base, content, style, baseline.on_step, None, model)
    target = baseline.events[-1].total_loss  # the loss Adam's last step started from
    row = {"benchmark": "quality", "backbone": backbone, "size": size}
    rows, base_s = [{**row, "metric": "target_loss", "value": target}], None
    for name, option in options.items():
        watch = _Watch(target=target, size=size)
        if option:
            cfg = option_config(base, option)
            run_transfer(cfg, content, style, watch.on_step, watch.should_stop, model)
        else:
            for ev in baseline.events:
                watch.on_step(ev)
        hit = watch.reached
        seconds = hit.elapsed_seconds if hit else float("nan")
        base_s = seconds if base_s is None else base_s
        rows += [
            {**row, "metric": f"{name}: s to target", "value": seconds},
            {**row, "metric": f"{name}: steps to target", "value": hit.step if hit else float("nan")},
            {**row, "metric": f"{name}: speed-up", "value": base_s / seconds},
        ]
    return rows

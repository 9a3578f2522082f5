"""Time-to-quality: how long each speed option takes to reach the total loss that plain
Adam reaches at the study's settings (the backbone's learning rate, one scale, one step
per call) in `steps` steps at the target size.

Adam's loss is not monotone (at the study's rates it wanders up and down once it has
converged), so "the loss Adam reaches" is measured two ways: `final`, its loss at the
last step, and `best`, the lowest loss of the run. Adam's own time to a target is its
first step at or below it.

Each option runs through `engine.transfer.run_transfer`, the engine's own loop, until it
has reached both targets or used `BUDGET` times Adam's steps. A coarse scale's loss does
not count (it is another image). Times are wall seconds from the start of the run (graph
tracing included, model loading excluded), read from the steps' `elapsed_seconds`. Steps
are loss-and-gradient evaluations under every option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.backbones import get_backbone
from engine.config import TransferConfig, validate
from engine.transfer import StepEvent, run_transfer
from engine.weights import load_backbone

# Option name -> config fields over the baseline's; the first is the baseline itself.
# `coarse_fraction`: the coarse scale's steps as a share of the baseline's. XLA changes
# only the time per step, so the step benchmark measures it; steps per call is here
# with L-BFGS, whose per-step host overhead is the larger.
OPTIONS: dict[str, dict[str, Any]] = {
    "adam": {},
    "lbfgs": {"optimizer": "lbfgs"},
    "lbfgs, 10 steps per call": {"optimizer": "lbfgs", "steps_per_call": 10},
    "adam, 2 scales": {"scales": 2, "coarse_fraction": 0.2},
    "lbfgs, 2 scales": {"optimizer": "lbfgs", "scales": 2, "coarse_fraction": 0.1},
}
TARGETS = ("final", "best")
# Options may run this many times the baseline's steps to get to its loss (they stop as
# soon as they do), since two optimisers' losses do not fall in step.
BUDGET = 1.5


@dataclass
class _Watch:
    """Records each step and the first one at or below each target loss (at the target
    size); asks the run to stop once every target is reached."""

    targets: dict[str, float]
    size: int
    steps_per_call: int = 1
    reached: dict[str, StepEvent] = field(default_factory=dict)
    events: list[StepEvent] = field(default_factory=list)

    def on_step(self, ev: StepEvent) -> None:
        self.events.append(ev)
        for name, target in self.targets.items():
            if name not in self.reached and ev.size == self.size and ev.total_loss <= target:
                self.reached[name] = ev

    def should_stop(self) -> bool:
        return len(self.reached) == len(self.targets)

    def seconds(self, target: str) -> float:
        """When the step that reached `target` was known: the end of its compiled call
        (the engine spreads a call's time evenly over its steps, which would credit a
        step inside the call, and the first call's tracing, too early)."""
        hit = self.reached.get(target)
        if hit is None:
            return float("nan")
        k = self.steps_per_call
        return self.events[min(-(-hit.step // k) * k, len(self.events)) - 1].elapsed_seconds


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
    """Rows per target and option: seconds and steps to reach the target, and the
    speed-up over Adam (NaN where an option never got there)."""
    base = validate(TransferConfig(backbone=backbone, size=size, iterations=steps, weights=weights, snapshot_every=0))
    model = load_backbone(get_backbone(backbone), weights)
    baseline = _Watch(targets={}, size=size)
    run_transfer(base, content, style, baseline.on_step, None, model)
    losses = [ev.total_loss for ev in baseline.events]
    targets = {"final": losses[-1], "best": min(losses)}
    row = {"benchmark": "quality", "backbone": backbone, "size": size}
    rows = [{**row, "metric": f"target_{t}_loss", "value": targets[t]} for t in TARGETS]
    watches = {}
    for name, option in options.items():
        watch = watches[name] = _Watch(targets=targets, size=size, steps_per_call=option.get("steps_per_call", 1))
        if option:
            run_transfer(option_config(base, option), content, style, watch.on_step, watch.should_stop, model)
        else:
            for ev in baseline.events:
                watch.on_step(ev)
    first = watches[next(iter(options))]
    for t in TARGETS:
        for name, watch in watches.items():
            hit, seconds = watch.reached.get(t), watch.seconds(t)
            rows += [
                {**row, "metric": f"{t}: {name}: s to target", "value": seconds},
                {**row, "metric": f"{t}: {name}: steps to target", "value": hit.step if hit else float("nan")},
                {**row, "metric": f"{t}: {name}: speed-up", "value": first.seconds(t) / seconds},
            ]
    return rows

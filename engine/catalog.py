"""What the engine offers, as plain data that imports without TensorFlow: its loss
conventions, optimisers and precisions, with what a form, a stored row or a report needs to know of
them. The implementations are keyed by the same names (`engine.losses.CONVENTIONS`,
`engine.optimizers.OPTIMIZERS`, `engine.precision.PRECISIONS`; a test holds the keys together), so `engine.config` and
the dashboard's forms and tables use this module and never load TensorFlow for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConventionInfo:
    """A loss convention's name and its formulas, stored in `runs.gram_convention`."""

    name: str
    summary: str


@dataclass(frozen=True)
class OptimizerInfo:
    """An optimiser's name, default step size and one-line description."""

    name: str
    # None: the backbone's tuned Adam rate (`engine.backbones.LossDefaults.learning_rate`).
    default_learning_rate: float | None
    description: str


CONVENTIONS: dict[str, ConventionInfo] = {
    c.name: c
    for c in (
        ConventionInfo(
            "portable",
            "portable: G=F^T F/M; E_l=|G-A|^2/|A|^2; style=weighted mean of E_l; content=|F-P|^2/|P|^2; "
            "tv=mean squared neighbour difference (0-1 scale)",
        ),
        ConventionInfo(
            "gatys",
            "gatys: G=F^T F/M (own positions); E_l=sum((G-A)^2)/(4 N_l^2); style=weighted sum; "
            "content=sum((F-P)^2); tv=sum of squared neighbour differences (0-255)",
        ),
    )
}

OPTIMIZERS: dict[str, OptimizerInfo] = {
    o.name: o
    for o in (
        OptimizerInfo("adam", None, "Adam, as in the study; learning rate per backbone"),
        OptimizerInfo("lbfgs", 1.0, "L-BFGS, no line search, one evaluation per step; learning rate 1"),
    )
}


@dataclass(frozen=True)
class PrecisionInfo:
    """A precision's name and what it computes in."""

    name: str
    description: str


PRECISIONS: dict[str, PrecisionInfo] = {
    p.name: p
    for p in (
        PrecisionInfo("float32", "float32 throughout"),
        PrecisionInfo("mixed", "backbone in float16 (GPU tensor cores), image and losses float32, loss scaled"),
    )
}

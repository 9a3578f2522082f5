"""Numeric precision of the backbone's forward and backward pass, as data (`PRECISIONS`).

`float32` runs everything in float32 (the study's and every run's before this option).
`mixed` runs the backbone in float16 (a GPU's tensor cores roughly double its speed and
halve its activation memory) while the image, the Gram matrices, the losses and the
optimiser stay float32: the features are cast to float32 as they leave the network
(`engine.transfer.FeatureExtractor`).

Float16 has a narrow range (normal numbers from 6e-5 to 65504), and the gradients of a
loss with respect to single activations are often far smaller: without care they
underflow to zero on the way back through the network. So the loss is scaled before the
backward pass and the image's gradient unscaled after it (loss scaling: Micikevicius et
al., "Mixed Precision Training", ICLR 2018; Keras's `LossScaleOptimizer`). We depart from
its dynamic scale (grown, and halved with the step skipped on overflow) because a skipped
step does not fit our fixed K-step compiled loop: the total is scaled to the constant
`loss_scale` instead (multiplied by `loss_scale / total`, that factor held constant for
the gradient; `engine.optimizers.value_and_grad`). The backward pass then sees the same
magnitudes whatever the convention (the `gatys` sums run 1e5 times the `portable`
relative errors), the image size or the backbone. A gradient that still overflows makes
the image non-finite, and the run stops as diverged.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class Precision:
    """One precision: the Keras dtype policy of the backbone's layers (None: the model as
    built, float32) and the value the total loss is scaled to for the backward pass (0:
    not scaled)."""

    name: str
    policy: str | None
    loss_scale: float = 0.0


# Keyed as `engine.catalog.PRECISIONS` (names and descriptions, TensorFlow-free).
PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("float32", None),
        # The scale: measured by `python -m bench.precision` (README "Mixed precision").
        Precision("mixed", "mixed_float16", loss_scale=2.0**12),
    )
}

# One cast copy per model and policy (built on first use, dropped with the model).
_CASTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def with_precision(model: keras.Model, precision: str) -> keras.Model:
    """`model` itself for float32, else a copy of it whose layers compute under the
    precision's dtype policy, with the same weights (its variables stay float32)."""
    policy = PRECISIONS[precision].policy
    if policy is None:
        return model
    copies = _CASTS.setdefault(model, {})
    if policy not in copies:
        copies[policy] = _clone(model, policy)
    return copies[policy]


def _clone(model: keras.Model, policy: str) -> keras.Model:
    import keras

    def relayer(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        config["dtype"] = policy
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=relayer)
    copy.set_weights(model.get_weights())
    return copy

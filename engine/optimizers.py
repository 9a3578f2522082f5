"""Optimisers that move the image: Adam and L-BFGS, as data (`OPTIMIZERS`).

Each optimiser is an object with `step() -> losses`: one loss-and-gradient evaluation
and one update of the image variable, written in TensorFlow ops only, so that
`engine.transfer` can run K steps inside one compiled call (`tf.while_loop`) and
optionally under XLA.

L-BFGS here starts from `torch.optim.LBFGS` without a line search, the form Gatys-style
reference code uses, plus a safeguard against overshooting (see `LBFGS`): every step is
exactly one evaluation, so a step costs the same under both optimisers and the step
column of a run counts function evaluations. A classic line search would make steps cost
a varying number of evaluations and could not run inside a fixed K-step loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

LossFn = Callable[[tf.Variable], dict[str, tf.Tensor]]  # image -> named losses, "total" among them
Bounds = tuple[np.ndarray, np.ndarray]  # per-channel (low, high) of the valid pixels

# L-BFGS memory: the pairs (s, y) of the last HISTORY steps (torch's default is 100; 10 is
# the usual choice for NST and costs 2 x 10 copies of the image).
HISTORY = 10
# Curvature pairs with y.s at or below this are skipped (as torch does): they would make
# the inverse-Hessian estimate indefinite.
MIN_CURVATURE = 1e-10
# After an accepted step the step size grows back by this factor (capped at the learning
# rate); a rejected one halves it. 2 did better than 1.25 and than torch's fixed step
# with real VGG16/ResNet50 weights (128 px, 100 steps).
GROW = 2.0


def value_and_grad(
    loss_fn: LossFn, image: tf.Variable, loss_scale: float = 0.0
) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    """The named losses at `image` and the gradient of their total. `loss_scale` > 0 (a
    float16 backbone, `engine.precision`): the backward pass runs on the total scaled to
    that value, and the gradient is scaled back."""
    with tf.GradientTape() as tape:
        losses = loss_fn(image)
        total = losses["total"]
        if loss_scale:
            factor = loss_scale / tf.stop_gradient(tf.maximum(tf.abs(total), 1e-30))
            total = total * factor
    grad = tape.gradient(total, image)
    return losses, grad / factor if loss_scale else grad


class Adam:
    """Keras Adam on the image, clipped to the valid pixel range after each update."""

    def __init__(
        self, loss_fn: LossFn, image: tf.Variable, learning_rate: float, bounds: Bounds, loss_scale: float = 0.0
    ) -> None:
        self.loss_fn, self.image, self.bounds, self.loss_scale = loss_fn, image, bounds, loss_scale
        self.optimizer = keras.optimizers.Adam(learning_rate=float(learning_rate))  # an int (2) is refused by Keras
        self.optimizer.build([image])  # its variables must exist before any compiled loop

    def get_state(self) -> list[np.ndarray]:
        """Adam's variables (step count, moments) as arrays: a tiled scale keeps one set
        per tile and swaps them in with `set_state` (`engine.transfer._TiledStage`)."""
        return [v.numpy() for v in self.optimizer.variables]

    def set_state(self, state: list[np.ndarray]) -> None:
        """Restore what `get_state` returned."""
        for variable, value in zip(self.optimizer.variables, state, strict=True):
            variable.assign(value)

    def step(self) -> dict[str, tf.Tensor]:
        """One evaluation and update; returns the losses of the image before it."""
        losses, grad = value_and_grad(self.loss_fn, self.image, self.loss_scale)
        self.optimizer.apply_gradients([(grad, self.image)])
        self.image.assign(tf.clip_by_value(self.image, *self.bounds))
        return losses


class LBFGS:
    """Limited-memory BFGS with step size `learning_rate` (1 is the quasi-Newton step)
    and no line search; see the module docstring.

    Without a line search a quasi-Newton step can overshoot: with the real VGG16 weights
    torch's fixed step sent the loss from 3.5e5 to 2.3e7 within 10 steps (128 px) and
    ended 1.8x above Adam after 100. So each evaluation also judges the previous step: if
    the loss went up, that step is rejected (the image goes back, nothing is learnt from
    it) and the step size halves: backtracking spread over steps, at no extra evaluation.
    A rejected evaluation is still a step in the log (its loss shows as a spike).
    After a good step the size grows back towards `learning_rate`. The pair (s, y) is
    taken from the image's actual move, after clipping to the pixel range, so the
    curvature estimate describes the step really made. The first step is scaled by
    1 / |g|_1 (as torch does), since the inverse Hessian is unknown there.
    """

    def __init__(
        self, loss_fn: LossFn, image: tf.Variable, learning_rate: float, bounds: Bounds, loss_scale: float = 0.0
    ) -> None:
        self.loss_fn, self.image, self.bounds, self.loss_scale = loss_fn, image, bounds, loss_scale
        self.lr = float(learning_rate)
        n = int(np.prod(image.shape))
        self.s = tf.Variable(tf.zeros((HISTORY, n)), trainable=False)  # ring buffers, newest at head - 1
        self.y = tf.Variable(tf.zeros((HISTORY, n)), trainable=False)
        self.rho = tf.Variable(tf.zeros(HISTORY), trainable=False)
        self.count = tf.Variable(0, trainable=False)  # pairs stored, <= HISTORY
        self.head = tf.Variable(0, trainable=False)  # slot the next pair goes to
        self.h_diag = tf.Variable(1.0, trainable=False)  # scale of the initial inverse Hessian
        self.prev_x = tf.Variable(tf.zeros(n), trainable=False)  # the last accepted point
        self.prev_g = tf.Variable(tf.zeros(n), trainable=False)
        self.prev_f = tf.Variable(np.inf, dtype=tf.float32, trainable=False)
        self.rate = tf.Variable(self.lr, trainable=False)  # step size now, <= learning_rate
        self.steps = tf.Variable(0, trainable=False)
        self.rejected = tf.Variable(0, trainable=False)  # evaluations whose step was undone

    def step(self) -> dict[str, tf.Tensor]:
        """One evaluation and update; returns the losses of the image before it.

        Branch-free (`tf.where` instead of `if`): XLA could not compile the gradient of
        max-pooling inside a conditional, and a GPU prefers it too."""
        losses, grad = value_and_grad(self.loss_fn, self.image, self.loss_scale)
        reject = losses["total"] > self.prev_f  # the last step made things worse: take it back
        x = tf.where(reject, self.prev_x, tf.reshape(self.image, [-1]))
        g = tf.where(reject, self.prev_g, tf.reshape(grad, [-1]))
        self._remember(x - self.prev_x, g - self.prev_g, tf.logical_not(reject) & (self.steps > 0))
        self.rate.assign(tf.where(reject, self.rate * 0.5, tf.minimum(self.lr, self.rate * GROW)))
        self.rejected.assign_add(tf.cast(reject, tf.int32))
        self.prev_x.assign(x)
        self.prev_g.assign(g)
        self.prev_f.assign(tf.where(reject, self.prev_f, losses["total"]))
        direction = self._direction(g)
        first = tf.minimum(1.0, 1.0 / tf.reduce_sum(tf.abs(g)))
        scale = tf.where(self.count == 0, first, 1.0)
        moved = tf.reshape(x + self.rate * scale * direction, self.image.shape)
        self.image.assign(tf.clip_by_value(moved, *self.bounds))
        self.steps.assign_add(1)
        return losses

    def _remember(self, s: tf.Tensor, y: tf.Tensor, accepted: tf.Tensor) -> None:
        """Store the pair (s, y) if the step was accepted and has positive curvature."""
        ys = tf.tensordot(y, s, 1)
        keep = accepted & (ys > MIN_CURVATURE)
        # Scatter/gather rather than `v[i].assign(...)`: XLA needs slice bounds known when
        # it compiles, and the ring buffer's slot is only known when it runs. A pair that
        # is not kept rewrites the slot with what it held.
        slot = tf.reshape(self.head, [1, 1])
        self.s.scatter_nd_update(slot, tf.where(keep, s, tf.gather(self.s, self.head))[None])
        self.y.scatter_nd_update(slot, tf.where(keep, y, tf.gather(self.y, self.head))[None])
        rho = tf.where(keep, 1.0 / ys, tf.gather(self.rho, self.head))
        self.rho.scatter_nd_update(slot, tf.reshape(rho, [1]))
        self.head.assign(tf.where(keep, (self.head + 1) % HISTORY, self.head))
        self.count.assign(tf.where(keep, tf.minimum(self.count + 1, HISTORY), self.count))
        self.h_diag.assign(tf.where(keep, ys / tf.tensordot(y, y, 1), self.h_diag))

    def _direction(self, g: tf.Tensor) -> tf.Tensor:
        """-H g by the two-loop recursion over the stored pairs (newest first, then back).

        The loops always run HISTORY times, unrolled, with slots past `count` masked out:
        a trip count that depends on the gradient sent XLA's value inference into the
        max-pooling gradient, where it fails."""
        q = -g
        alphas = []
        for j in range(HISTORY):
            i = (self.head - 1 - j) % HISTORY
            a = tf.where(j < self.count, tf.gather(self.rho, i) * tf.tensordot(tf.gather(self.s, i), q, 1), 0.0)
            q -= a * tf.gather(self.y, i)
            alphas.append(a)
        r = self.h_diag * q
        for j in reversed(range(HISTORY)):  # oldest stored pair first
            i = (self.head - 1 - j) % HISTORY
            b = tf.gather(self.rho, i) * tf.tensordot(tf.gather(self.y, i), r, 1)
            r += tf.where(j < self.count, alphas[j] - b, 0.0) * tf.gather(self.s, i)
        return r


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimiser choice: how to build it."""

    build: Callable[..., Adam | LBFGS]  # (loss_fn, image, learning_rate, bounds, loss_scale=0)


# Keyed as `engine.catalog.OPTIMIZERS`, which holds each one's default rate and description.
OPTIMIZERS: dict[str, OptimizerSpec] = {"adam": OptimizerSpec(Adam), "lbfgs": OptimizerSpec(LBFGS)}

"""The optimisation loop: arrays and a config in, an image and per-step events out.

This module knows nothing about storage or UI. It reports every step through a callback
with a `StepEvent` and checks `should_stop` between steps, so callers can log, draw or
cancel without the loop knowing how.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from engine.backbones import Backbone, get_backbone
from engine.config import TransferConfig
from engine.images import resize_longest, resize_to
from engine.losses import content_loss, gram_matrix, softmax_features, style_loss, total_variation_loss
from engine.weights import load_backbone


@dataclass(frozen=True)
class StepEvent:
    """One optimisation step. Losses are those of the image *before* this step's update
    (the value the step minimised); `image` is the image *after* it, only at snapshots."""

    step: int
    total_loss: float
    content_loss: float
    style_loss: float
    tv_loss: float
    step_seconds: float
    elapsed_seconds: float
    image: np.ndarray | None = None


@dataclass(frozen=True)
class TransferResult:
    """The outcome of a run. Final losses are evaluated on the returned image."""

    image: np.ndarray
    total_loss: float
    content_loss: float
    style_loss: float
    tv_loss: float
    steps_done: int
    cancelled: bool
    wall_seconds: float


class DivergedError(RuntimeError):
    """The loss became NaN or infinite; steps before `step` are valid."""

    def __init__(self, step: int) -> None:
        super().__init__(f"diverged at step {step}: the loss became NaN or infinite")
        self.step = step


class FeatureExtractor:
    """Reads the content layer and the style layers of a backbone in one forward pass,
    applying the SWAG softmax (`softmax_features`) to the layers in `transform_layers`."""

    def __init__(
        self,
        model: keras.Model,
        content_layer: str,
        style_layers: Sequence[str],
        transform_layers: Sequence[str] = (),
        temperature: float = 1.0,
    ) -> None:
        names = list(dict.fromkeys([content_layer, *style_layers]))  # unique, ordered
        outputs = [model.get_layer(n).output for n in names]
        self._model = keras.Model(model.inputs, outputs)
        self._content_index = names.index(content_layer)
        self._style_index = [names.index(n) for n in style_layers]
        # Per unique layer, so a layer read for content and style is transformed once.
        self._transform = [n in set(transform_layers) for n in names]
        self._temperature = temperature

    def __call__(self, image: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        outs = self._model(image, training=False)
        outs = outs if isinstance(outs, list | tuple) else [outs]
        outs = [softmax_features(o, self._temperature) if t else o for o, t in zip(outs, self._transform, strict=True)]
        return outs[self._content_index], [outs[i] for i in self._style_index]


def prepare_images(
    cfg: TransferConfig, backbone: Backbone, content_rgb: np.ndarray, style_rgb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Resize both images so the longest side is `cfg.size` (never below the backbone's
    minimum side), preprocess them, and add the batch axis."""
    content = resize_longest(content_rgb, cfg.size, backbone.min_size)
    style = resize_longest(style_rgb, cfg.size, backbone.min_size)
    return backbone.preprocess(content)[None], backbone.preprocess(style)[None]


def initial_image(cfg: TransferConfig, backbone: Backbone, content: np.ndarray, style_rgb: np.ndarray) -> np.ndarray:
    """The starting point of the optimisation, already preprocessed (1, H, W, 3)."""
    if cfg.init == "content":
        return content.copy()
    shape = content.shape[1:3]
    if cfg.init == "style":
        return backbone.preprocess(resize_to(style_rgb, shape))[None]
    noise = np.random.default_rng(cfg.seed).uniform(0, 255, size=(*shape, 3))
    return backbone.preprocess(noise)[None]


def make_loss_fn(
    extractor: FeatureExtractor, cfg: TransferConfig, content: np.ndarray, style: np.ndarray
) -> Callable[[tf.Tensor], tf.Tensor]:
    """Targets are computed once; the returned function maps an image to
    [total, content, style, tv] as one tensor (one device->host copy per step)."""
    content_target, _ = extractor(tf.constant(content))
    _, style_features = extractor(tf.constant(style))
    style_grams = [gram_matrix(f) for f in style_features]
    alpha, beta, gamma = cfg.content_weight, cfg.style_weight, cfg.tv_weight
    layer_weights = list(cfg.style_layer_weights)

    def loss_fn(image: tf.Tensor) -> tf.Tensor:
        c_feat, s_feats = extractor(image)
        lc = content_loss(c_feat, content_target)
        ls = style_loss(s_feats, style_grams, layer_weights)
        ltv = total_variation_loss(image)
        return tf.stack([alpha * lc + beta * ls + gamma * ltv, lc, ls, ltv])

    return loss_fn


def make_step_fn(loss_fn: Callable, image: tf.Variable, optimizer: keras.optimizers.Optimizer, bounds) -> Callable:
    """One compiled Adam step on the image, clipped to the valid pixel range after."""
    lo, hi = bounds

    @tf.function
    def step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            losses = loss_fn(image)
            total = losses[0]  # indexed inside the tape, or the gradient is None
        grad = tape.gradient(total, image)
        optimizer.apply_gradients([(grad, image)])
        image.assign(tf.clip_by_value(image, lo, hi))
        return losses

    return step


def pixel_bounds(backbone: Backbone) -> tuple[np.ndarray, np.ndarray]:
    """The preprocessed values of black and white: the valid range per channel."""
    return backbone.preprocess(np.zeros(3)), backbone.preprocess(np.full(3, 255.0))


def run_transfer(
    cfg: TransferConfig,
    content_rgb: np.ndarray,
    style_rgb: np.ndarray,
    on_step: Callable[[StepEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    model: keras.Model | None = None,
) -> TransferResult:
    """Run a Gatys transfer. `cfg` must be resolved (see `engine.config.validate`).

    `model` lets callers reuse an already loaded backbone; otherwise it is loaded from
    `cfg.weights`. Raises `DivergedError` if the loss stops being finite.
    """
    backbone = get_backbone(cfg.backbone)
    keras.utils.set_random_seed(cfg.seed)  # random weights and noise init are seeded
    model = model if model is not None else load_backbone(backbone, cfg.weights)
    content, style = prepare_images(cfg, backbone, content_rgb, style_rgb)
    extractor = FeatureExtractor(
        model, cfg.content_layer, cfg.style_layers, cfg.transform_layers or (), cfg.transform_temperature
    )
    loss_fn = make_loss_fn(extractor, cfg, content, style)
    image = tf.Variable(initial_image(cfg, backbone, content, style_rgb), dtype=tf.float32)
    optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate)
    step_fn = make_step_fn(loss_fn, image, optimizer, pixel_bounds(backbone))
    steps_done, cancelled, start = _loop(cfg, backbone, image, step_fn, on_step, should_stop)
    final = loss_fn(image).numpy()  # eager: one forward pass, cheaper than tracing a second graph
    return TransferResult(
        image=backbone.deprocess(image.numpy()[0]),
        total_loss=float(final[0]),
        content_loss=float(final[1]),
        style_loss=float(final[2]),
        tv_loss=float(final[3]),
        steps_done=steps_done,
        cancelled=cancelled,
        wall_seconds=time.perf_counter() - start,
    )


def _loop(cfg, backbone, image, step_fn, on_step, should_stop) -> tuple[int, bool, float]:
    """The hot loop: one compiled call and one small host copy per step, nothing else
    unless a snapshot is due. Returns (steps done, cancelled?, start time)."""
    start = time.perf_counter()
    every = cfg.snapshot_every
    for step in range(1, cfg.iterations + 1):
        if should_stop is not None and should_stop():
            return step - 1, True, start
        t0 = time.perf_counter()
        losses = step_fn().numpy()
        t1 = time.perf_counter()
        if not np.isfinite(losses).all():
            raise DivergedError(step)
        if on_step is not None:
            snap = (every and step % every == 0) or step == cfg.iterations
            on_step(
                StepEvent(
                    step,
                    *map(float, losses),
                    step_seconds=t1 - t0,
                    elapsed_seconds=t1 - start,
                    image=backbone.deprocess(image.numpy()[0]) if snap else None,
                )
            )
    return cfg.iterations, False, start

"""The optimisation loop: arrays and a config in, an image and per-step events out.

This module knows nothing about storage or UI. It reports every step through a callback
with a `StepEvent` and checks `should_stop` between steps, so callers can log, draw or
cancel without the loop knowing how.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from engine.backbones import Backbone, get_backbone
from engine.colors import COLOR_MODES
from engine.config import TransferConfig, scale_plan
from engine.errors import DivergedError
from engine.images import resize_longest, resize_to
from engine.losses import (
    get_convention,
    gram_matrix,
    layer_shares,
    masked_gram,
    softmax_features,
    stack_losses,
    unstack_losses,
    weighted_total,
)
from engine.optimizers import LBFGS, OPTIMIZERS, Adam
from engine.precision import PRECISIONS, with_precision
from engine.styles import blend_weights, mask_array, prepare_style, resolve_styles
from engine.tiling import ownership, tile_grid
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
    size: int = 0  # longest side of the image at this step's scale
    image: np.ndarray | None = None


@dataclass(frozen=True)
class TransferResult:
    """The outcome of a run. Final losses are evaluated on the returned image (the last
    one, or the lowest-loss one with `keep_best`). `best_loss` is the lowest total loss of
    any image of the last scale (the logged ones and the last) and `best_step` how many
    steps had been taken before that image (step k logs the image after k - 1 steps)."""

    image: np.ndarray
    total_loss: float
    content_loss: float
    style_loss: float
    tv_loss: float
    steps_done: int
    cancelled: bool
    wall_seconds: float
    best_loss: float | None = None
    best_step: int | None = None


# A run is stopped as diverging when, after GRACE_STEPS steps of a scale, its total loss
# stays more than DIVERGE_FACTOR times that scale's first for SUSTAINED steps in a row: no
# useful run climbs that far (a too-large step size or a broken feature transform does,
# and would otherwise end as `finished` with noise as its output). One step above it is
# not enough: L-BFGS logs a step it then undoes as a spike (`engine.optimizers.LBFGS`).
DIVERGE_FACTOR = 10.0
GRACE_STEPS = 20
SUSTAINED = 5


def temperature_for(transform: str, features: tf.Tensor, temperature: float) -> tf.Tensor | float:
    """The softmax temperature of one layer's activations under `transform`.

    `softmax` takes T as given (the SWAG paper's T = 1 was set for torchvision's inputs:
    0-1 scaled, normalised by ImageNet std). Keras's ResNet50 takes 0-255 caffe inputs and
    its residual outputs are far larger and peakier, so the same T means a far sharper
    softmax there (with the study's losses T = 1 sent a run into noise). `softmax-std`
    therefore measures T in units of the layer's own activation std on that image
    (T = t x std, held constant for the gradient), the same whatever the input scale or
    the network. README "The ResNet fix" has what either did to the outputs."""
    if transform == "softmax-std":
        flat = tf.reshape(features, (tf.shape(features)[0], -1))
        return temperature * tf.stop_gradient(tf.math.reduce_std(flat, axis=-1) + 1e-12)
    return temperature


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
        transform: str = "softmax",
        precision: str = "float32",
    ) -> None:
        names = list(dict.fromkeys([content_layer, *style_layers]))  # unique, ordered
        model = with_precision(model, precision)  # float16 layers for "mixed"
        outputs = [model.get_layer(n).output for n in names]
        self._model = keras.Model(model.inputs, outputs)
        self._content_index = names.index(content_layer)
        self._style_index = [names.index(n) for n in style_layers]
        # Per unique layer, so a layer read for content and style is transformed once.
        self._transform = [n in set(transform_layers) for n in names]
        self._temperature, self._kind = temperature, transform

    @classmethod
    def for_config(cls, model: keras.Model, cfg: TransferConfig) -> FeatureExtractor:
        """The extractor of a resolved run config: its layers and feature transform."""
        layers = (cfg.content_layer, cfg.style_layers, cfg.transform_layers or ())
        return cls(model, *layers, cfg.transform_temperature, cfg.feature_transform, cfg.precision)

    def _smooth(self, features: tf.Tensor) -> tf.Tensor:
        return softmax_features(features, temperature_for(self._kind, features, self._temperature))

    def __call__(self, image: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        outs = self._model(image, training=False)
        # float32 from here on whatever the network computed in: Gram matrices and losses
        # of float16 features would overflow (`engine.precision`).
        outs = [tf.cast(o, tf.float32) for o in (outs if isinstance(outs, list | tuple) else [outs])]
        outs = [self._smooth(o) if t else o for o, t in zip(outs, self._transform, strict=True)]
        return outs[self._content_index], [outs[i] for i in self._style_index]


def prepare_images(
    cfg: TransferConfig, backbone: Backbone, content_rgb: np.ndarray, style_rgb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Resize the photo so its longest side is `cfg.size` and the painting to
    `cfg.size` x `cfg.style_scale` (never below the backbone's minimum side), preprocess
    them, and add the batch axis."""
    content = resize_longest(content_rgb, cfg.size, backbone.min_size)
    style = prepare_style(cfg, style_rgb, cfg.size)
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


LossFn = Callable[[tf.Tensor], dict[str, tf.Tensor]]


@dataclass(frozen=True)
class StyleTargets:
    """The style side of the loss at one scale: each style image's Gram matrix per style
    layer (each normalised by its own image's positions) and its blend weight."""

    grams: list[list[tf.Tensor]]
    weights: tuple[float, ...]

    def blended(self) -> list[tf.Tensor]:
        """Per layer, the weighted mean of the style images' Grams: the target without
        masks (one style: its own Grams, exactly)."""
        total = sum(self.weights)
        return [
            tf.add_n([w / total * grams[layer] for w, grams in zip(self.weights, self.grams, strict=True)])
            for layer in range(len(self.grams[0]))
        ]


def _owned_sums(extractor: FeatureExtractor, piece: np.ndarray, own: np.ndarray) -> list[tuple[tf.Tensor, tf.Tensor]]:
    """Per style layer of one tile: (sum of f f^T over the positions it owns, how many)."""
    sums = []
    for f in extractor(tf.constant(piece))[1]:
        gram, share = masked_gram(f, tf.constant(own))
        count = share * tf.cast(tf.reduce_prod(tf.shape(f)[1:3]), f.dtype)
        sums.append((gram * count, count))
    return sums


def style_grams(extractor: FeatureExtractor, style: np.ndarray, tile: int = 0) -> list[tf.Tensor]:
    """The Gram matrix of each style layer of a preprocessed painting (1, H, W, 3).

    A painting larger than `tile` px (when tiling) is read in tiles: each adds the outer
    products of the positions it owns (`engine.tiling.ownership`: overlaps count once) and
    the sums are divided by the positions counted. That is the whole painting's Gram up to
    the tiles' inner edges, where deep features see less context; it keeps a 4096 px
    painting's shallow layers (4 GiB for VGG16's first) out of memory."""
    h, w = style.shape[1:3]
    if not tile or max(h, w) <= tile:
        return [gram_matrix(f) for f in extractor(tf.constant(style))[1]]
    pieces = tile_grid(h, w, tile)
    total = None
    for piece in pieces:
        sums = _owned_sums(
            extractor, style[:, piece.y0 : piece.y1, piece.x0 : piece.x1], ownership(piece, pieces, h, w)
        )
        total = sums if total is None else [(a + c, b + d) for (a, b), (c, d) in zip(total, sums, strict=True)]
    return [gram / count for gram, count in total]


def style_targets(extractor: FeatureExtractor, cfg: TransferConfig, styles: Sequence[np.ndarray], size: int):
    """`StyleTargets` of RGB paintings for an output of longest side `size`."""
    backbone = get_backbone(cfg.backbone)
    grams = [
        style_grams(extractor, backbone.preprocess(prepare_style(cfg, rgb, size))[None], cfg.max_tile_px)
        for rgb in styles
    ]
    return StyleTargets(grams, blend_weights(cfg, len(styles)))


def loss_from_targets(
    extractor: FeatureExtractor,
    cfg: TransferConfig,
    content_target: tf.Tensor,
    targets: StyleTargets,
    masks: Sequence[tf.Tensor] | None = None,
) -> LossFn:
    """An image -> its named losses under `cfg.loss_convention` ({"total", "content",
    "style", "tv"}). Without `masks` the style target is the blend of the paintings'
    Grams; with them (one per painting, over the output) each painting pulls in its region
    (`LossConvention.masked_layer_terms`). The targets may be variables a tiled scale
    reassigns per tile."""
    convention = get_convention(cfg.loss_convention)
    weights = {name: getattr(cfg, name) for name in ("content_weight", "style_weight", "tv_weight")}
    layer_weights = list(cfg.style_layer_weights)
    blended = targets.blended() if masks is None else None
    regions = None if masks is None else list(zip(targets.grams, targets.weights, masks, strict=True))

    def loss_fn(image: tf.Tensor) -> dict[str, tf.Tensor]:
        c_feat, s_feats = extractor(image)
        if regions is None:
            layer_terms = convention.layer_terms(s_feats, blended)
        else:
            layer_terms = convention.masked_layer_terms(s_feats, regions)
        terms = {
            "content": convention.content(c_feat, content_target),
            "style": convention.combine(layer_terms, layer_weights),
            "tv": convention.tv(image),
        }
        return weighted_total(terms, weights)

    return loss_fn


def make_loss_fn(
    extractor: FeatureExtractor, cfg: TransferConfig, content: np.ndarray, style: np.ndarray | StyleTargets
) -> LossFn:
    """The loss of one preprocessed photo against one preprocessed painting (or given
    `StyleTargets`); targets are computed once (see `loss_from_targets`)."""
    targets = style if isinstance(style, StyleTargets) else StyleTargets([style_grams(extractor, style)], (1.0,))
    content_target, _ = extractor(tf.constant(content))
    return loss_from_targets(extractor, cfg, content_target, targets)


class BestImage:
    """The lowest-loss image a loss function has been evaluated on, kept on the device:
    Adam's last iterate can sit well above the best one it passed (2.5-3.4x in the
    study's settings), so a run can output the best instead (`keep_best`)."""

    def __init__(self, image: tf.Variable) -> None:
        self.loss = tf.Variable(np.inf, dtype=tf.float32, trainable=False)
        self.image = tf.Variable(image, trainable=False)

    def watch(self, loss_fn: LossFn) -> LossFn:
        """`loss_fn` that also remembers the best image it saw (two cheap assigns)."""

        def watched(image: tf.Tensor) -> dict[str, tf.Tensor]:
            losses = loss_fn(image)
            better = losses["total"] < self.loss
            self.loss.assign(tf.where(better, losses["total"], self.loss))
            self.image.assign(tf.where(better, tf.convert_to_tensor(image), self.image))
            return losses

        return watched


def style_layer_shares(
    cfg: TransferConfig, content_rgb: np.ndarray, style_rgb: np.ndarray, model: keras.Model | None = None
) -> dict[str, float]:
    """Each style layer's share of the weighted style loss of the starting image (at the
    full size; `cfg` resolved): how evenly the layers pull. Under the study's Gatys sums
    VGG16's shallow layers take almost all of it; the portable convention evens it out."""
    backbone = get_backbone(cfg.backbone)
    model = model if model is not None else load_backbone(backbone, cfg.weights)
    extractor = FeatureExtractor.for_config(model, cfg)
    content, style = prepare_images(cfg, backbone, content_rgb, style_rgb)
    _, targets = extractor(tf.constant(style))
    _, features = extractor(tf.constant(initial_image(cfg, backbone, content, style_rgb)))
    terms = get_convention(cfg.loss_convention).layer_terms(features, [gram_matrix(f) for f in targets])
    shares = layer_shares([float(t) for t in terms], cfg.style_layer_weights)
    return dict(zip(cfg.style_layers, shares, strict=True))


def pixel_bounds(backbone: Backbone) -> tuple[np.ndarray, np.ndarray]:
    """The preprocessed values of black and white: the valid range per channel."""
    return backbone.preprocess(np.zeros(3)), backbone.preprocess(np.full(3, 255.0))


def make_steps_fn(
    optimizer: Adam | LBFGS, jit_compile: bool = False, steps_per_call: int = 0
) -> Callable[[int], np.ndarray]:
    """`run(n)`: n optimiser steps in one compiled call, returning their (n, len(LOSS_NAMES))
    losses.

    Autograph turns the loop over `tf.range` into a `tf.while_loop` that gathers the
    losses in a `TensorArray`, so the host dispatches one call and copies one small array
    per n steps instead of per step (the per-step overhead a GPU feels most). With
    `steps_per_call` 1 the step is compiled alone: the loop's bookkeeping would cost a
    few per cent of a short step for nothing."""
    if steps_per_call == 1:
        single = tf.function(lambda: stack_losses(optimizer.step()), jit_compile=jit_compile)
        return lambda n: single().numpy()[None]

    @tf.function(jit_compile=jit_compile)
    def run(n: tf.Tensor) -> tf.Tensor:
        losses = tf.TensorArray(tf.float32, size=n)
        for i in tf.range(n):
            losses = losses.write(i, stack_losses(optimizer.step()))
        return losses.stack()

    return lambda n: run(tf.constant(n, tf.int32)).numpy()


def carry_up(result: np.ndarray, content: np.ndarray, next_content: np.ndarray, bounds) -> np.ndarray:
    """The next scale's starting image: its own content image plus what the coarser scale
    changed, resized (all preprocessed, (1, H, W, 3)).

    Resizing the coarse result itself would start the finer scale from a blurred picture;
    adding only the change keeps the photo's fine detail and carries the stylisation. The
    finer scale still starts above a fresh start's loss at its size (ResNet50, tubingen x
    starry night, 128 -> 256 px: 5.4e6 this way, 6.1e6 from the resized result, 3.3e6
    from the photo): its Gram matrices ask for fine texture the coarse scale could not
    draw. What the coarse scale gives is large-scale structure, cheaply."""
    shape = next_content.shape[1:3]
    change = tf.image.resize(result - content, shape, method="bicubic")
    return tf.clip_by_value(next_content + change, *bounds).numpy()


@dataclass(frozen=True)
class _Inputs:
    """A run's images as the network is to see them (after the colour mode): the photo,
    the paintings (RGB uint8) and their masks over the output (float 0-1, or None)."""

    content: np.ndarray
    styles: list[np.ndarray]
    masks: list[np.ndarray] | None


@dataclass(frozen=True)
class _Stage:
    """One scale of a run: its images, loss, image variable and compiled steps."""

    size: int
    content: np.ndarray  # the preprocessed content image at this scale
    image: tf.Variable
    loss_fn: LossFn
    run: Callable[[int], np.ndarray]
    best: BestImage | None


def _build_stage(cfg, backbone, extractor, size, inputs: _Inputs, previous):
    """Prepare the scale `size`, starting from the `previous` (coarser) scale's result if
    any; a scale above `cfg.max_tile_px` is optimised in tiles (`engine.tiled.TiledStage`)."""
    scaled = dataclasses.replace(cfg, size=size)
    content = backbone.preprocess(resize_longest(inputs.content, size, backbone.min_size))[None]
    bounds = pixel_bounds(backbone)
    if previous is None:
        start = initial_image(scaled, backbone, content, inputs.styles[0])
    else:
        start = carry_up(previous.image.numpy(), previous.content, content, bounds)
    targets = style_targets(extractor, cfg, inputs.styles, size)
    if cfg.max_tile_px and size > cfg.max_tile_px:
        from engine.tiled import TiledStage  # it builds on this module's losses and steps

        return TiledStage(cfg, extractor, size, content, start, targets, inputs.masks, bounds)
    image = tf.Variable(start, dtype=tf.float32)
    masks = None if inputs.masks is None else [tf.constant(m) for m in inputs.masks]
    loss_fn = loss_from_targets(extractor, cfg, extractor(tf.constant(content))[0], targets, masks)
    best = BestImage(image)
    scale = PRECISIONS[cfg.precision].loss_scale
    optimizer = OPTIMIZERS[cfg.optimizer].build(best.watch(loss_fn), image, cfg.learning_rate, bounds, scale)
    run = make_steps_fn(optimizer, cfg.jit_compile, cfg.steps_per_call)
    return _Stage(size, content, image, loss_fn, run, best)


def _inputs(cfg: TransferConfig, content_rgb: np.ndarray, style_rgb, masks) -> tuple[TransferConfig, _Inputs]:
    """The resolved styles of a run (`engine.styles.resolve_styles`: ConfigError for
    counts that do not match) and its images after the colour mode's preparation."""
    styles = [style_rgb] if isinstance(style_rgb, np.ndarray) else list(style_rgb)
    cfg = resolve_styles(cfg, len(styles), 0 if masks is None else len(masks))
    colors = COLOR_MODES[cfg.preserve_colors]
    prepared = [colors.prepare(content_rgb, style) for style in styles]
    grey = None if masks is None else [mask_array(m, f"mask {i + 1}") for i, m in enumerate(masks)]
    return cfg, _Inputs(prepared[0][0], [style for _, style in prepared], grey)


def run_transfer(
    cfg: TransferConfig,
    content_rgb: np.ndarray,
    style_rgb: np.ndarray | Sequence[np.ndarray],
    on_step: Callable[[StepEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    model: keras.Model | None = None,
    on_start: Callable[[np.ndarray], None] | None = None,
    masks: Sequence[np.ndarray] | None = None,
) -> TransferResult:
    """Run a Gatys transfer, coarse to fine over `scale_plan(cfg)` (one scale unless
    `cfg.scales` > 1). `cfg` must be resolved (see `engine.config.validate`).

    `style_rgb` is one painting or several, blended by `cfg.style_blend_weights`;
    `masks`, one per painting (any resolution), say where on the output each applies
    (`engine.styles`). Steps are numbered across scales; each scale starts its optimiser
    afresh, from its own content image plus the previous scale's change (`carry_up`);
    scales above `cfg.max_tile_px` run in tiles. `model` lets callers reuse a loaded
    backbone; otherwise it is loaded from `cfg.weights`. `on_start` gets the initial image
    (RGB uint8, before any step) when `cfg.snapshot_every` asks for snapshots: the "step
    0" of a run's snapshots. Raises `DivergedError` if the loss stops being finite.
    """
    cfg, inputs = _inputs(cfg, content_rgb, style_rgb, masks)
    backbone = get_backbone(cfg.backbone)
    keras.utils.set_random_seed(cfg.seed)  # random weights and noise init are seeded
    model = model if model is not None else load_backbone(backbone, cfg.weights)
    extractor = FeatureExtractor.for_config(model, cfg)
    colors = COLOR_MODES[cfg.preserve_colors]  # what the network sees, and the output made from it
    show = lambda x: colors.finish(backbone.deprocess(np.asarray(x)[0]), content_rgb)  # noqa: E731 - image -> RGB
    loop = _Loop(cfg, on_step, should_stop, show)
    stage, last = None, 0
    for size, steps in scale_plan(cfg):
        first = stage is None
        stage = _build_stage(cfg, backbone, extractor, size, inputs, stage)
        if first and on_start is not None and cfg.snapshot_every:
            on_start(show(stage.image))
        last += steps
        if not loop.run(stage, last):
            break
    image = stage.image
    last = stage.loss_fn(image)  # eager: one forward pass, cheaper than tracing a second graph
    best_loss, best_step, last_is_best = _best(loop, float(last["total"]))
    output = image if last_is_best or not cfg.keep_best else stage.best.image
    final = last if output is image else stage.loss_fn(output)
    return TransferResult(
        image=show(output),
        **{f"{name}_loss": float(value) for name, value in final.items()},
        steps_done=loop.step,
        cancelled=loop.cancelled,
        wall_seconds=time.perf_counter() - loop.start,
        best_loss=best_loss,
        best_step=best_step,
    )


def _best(loop: _Loop, last_total: float) -> tuple[float, int, bool]:
    """(best loss, steps taken before the best image, whether it is the last image) of
    the last scale: the lowest logged loss (step k logs the image after k - 1 steps) or
    the last image's, if lower."""
    if loop.best_loss is None or last_total <= loop.best_loss:
        return last_total, loop.step, True
    return loop.best_loss, loop.best_step - 1, False


class _Loop:
    """The hot loop, across scales: one compiled call and one small host copy per chunk
    of steps, nothing else unless a snapshot is due. A chunk is `steps_per_call` steps,
    cut short so that it ends at every snapshot step and at the end of each scale (the
    image is only visible between calls); stop requests are checked between chunks."""

    def __init__(self, cfg: TransferConfig, on_step, should_stop, show: Callable[[tf.Variable], np.ndarray]) -> None:
        self.cfg, self.show = cfg, show  # show: the image variable -> the RGB a snapshot stores
        self.on_step, self.should_stop = on_step, should_stop
        self.step, self.cancelled = 0, False
        self.start = time.perf_counter()
        self.stage_start, self.stage_first = 0, None  # the current scale's first step and loss
        self.above = 0  # steps in a row far above the scale's first loss
        self.best_loss, self.best_step = None, None  # of the current scale

    def run(self, stage: _Stage, last: int) -> bool:
        """Steps up to global step `last` on `stage`; False if stopped early."""
        self.stage_start, self.stage_first = self.step, None
        self.best_loss, self.best_step = None, None
        while self.step < last:
            if self.should_stop is not None and self.should_stop():
                self.cancelled = True
                return False
            n = self._chunk(last)
            t0 = time.perf_counter()
            losses = stage.run(n)
            self._report(stage, losses, t0, time.perf_counter(), last)
            self.step += n
        return True

    def _chunk(self, last: int) -> int:
        n = min(self.cfg.steps_per_call, last - self.step)
        every = self.cfg.snapshot_every
        return min(n, every - self.step % every) if every else n

    def _check(self, step: int, total: float, row: np.ndarray) -> None:
        """Raise `DivergedError` for a non-finite step or one far above its scale's start;
        otherwise note the scale's first and best losses."""
        if not np.isfinite(row).all():
            raise DivergedError(step)
        if self.stage_first is None:
            self.stage_first, self.above = total, 0
        high = step - self.stage_start > GRACE_STEPS and total > DIVERGE_FACTOR * self.stage_first > 0
        self.above = self.above + 1 if high else 0
        if self.above >= SUSTAINED:
            start = self.stage_first
            raise DivergedError(
                step, f"diverging: the loss stayed above {DIVERGE_FACTOR:g}x its start {start:.3g} ({total:.3g})"
            )
        if self.best_loss is None or total < self.best_loss:
            self.best_loss, self.best_step = total, step

    def _report(self, stage: _Stage, losses: np.ndarray, t0: float, t1: float, last: int) -> None:
        """One event per step of the chunk, its time shared equally among them; raises
        `DivergedError` at the first bad step (the steps before it are reported)."""
        per = (t1 - t0) / len(losses)
        for i, row in enumerate(losses):
            step = self.step + i + 1
            named = unstack_losses(row)
            self._check(step, named["total"], row)
            if self.on_step is None:
                continue
            every = self.cfg.snapshot_every
            snap = step == self.step + len(losses) and ((every and step % every == 0) or step == last)
            self.on_step(
                StepEvent(
                    step,
                    **{f"{name}_loss": value for name, value in named.items()},
                    step_seconds=per,
                    elapsed_seconds=t0 + per * (i + 1) - self.start,
                    size=stage.size,
                    image=self.show(stage.image) if snap else None,
                )
            )

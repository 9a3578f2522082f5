"""A scale optimised in overlapping tiles (issue 14's large outputs): memory bounded by a
tile, while the style term still measures the *whole* image.

Naive tiling, where every tile is pulled towards the whole painting's Gram matrices, asks
each tile to hold all of the painting's statistics: a sky tile is pushed towards the dark
cypress, a river tile towards the blue sky, and tiles drift apart in colour and texture
(measured: ResNet50, 256 px in 128 px tiles from the photo, SSIM 0.48 against 0.59
untiled, and a visible colour step between tiles that the seam metric, which looks at
gradients along borders, does not see). Here the Gram matrix a tile is scored by is the
whole image's: the other tiles' sums of outer products (their owned positions,
`engine.tiling.ownership`, as they last were) plus the live tile's own, divided by all
positions. Content and TV are added up the same way (`LossConvention.content_from_sums`,
`tv_from_sums`): scored per tile, the portable convention's normalisers would be the
tile's, so a tile's content and TV would pull (image / tile) times harder than in the
untiled run (measured: colour ratio 0.84 against 0.58 untiled, the output far less
stylised). So every tile step follows the gradient of the untiled objective with respect
to that tile's pixels, up to the tiles' inner edges (whose deep features see less
context) and the other tiles being one turn old; the losses it reports are the whole
image's.

One image variable of the tile's shape, one Adam and one compiled step serve every tile:
a tile's pixels, content target, region masks, context sums and Adam state are swapped
in, `n` steps run, and its pixels are blended back into the whole image (the canvas) with
feathered weights (`engine.tiling.feather`). Tiles take turns every chunk of steps, so a
tile always starts from the canvas, where its neighbours' latest work already is.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from engine.config import TransferConfig
from engine.losses import EPS, get_convention, masked_sums, stack_losses, unstack_losses, weighted_total
from engine.optimizers import Adam
from engine.precision import PRECISIONS
from engine.tiling import feather, overlap_for, ownership, paste, tile_grid
from engine.transfer import FeatureExtractor, StyleTargets, make_steps_fn

Sums = list[np.ndarray]  # a tile's own sums, in the order of `TiledStage._live`


def _full_masks(masks: list[np.ndarray] | None, shape: tuple[int, int]) -> list[np.ndarray] | None:
    """Style masks resized (area-averaged) to the whole image, so tiles can be cut from them."""
    if masks is None:
        return None
    return [tf.image.resize(m[None, :, :, None], shape, method="area").numpy()[0, :, :, 0] for m in masks]


class TiledStage:
    """See the module docstring. The interface of `engine.transfer._Stage`: `size`,
    `content`, `image`, `run(n)`, `loss_fn(image)`; `best` is None (`keep_best` is
    refused with tiling, `engine.config._check_tiles`)."""

    best = None

    def __init__(self, cfg: TransferConfig, extractor: FeatureExtractor, size, content, start, targets, masks, bounds):
        self.size, self.content = size, content
        height, width = content.shape[1:3]
        self.tiles = tile_grid(height, width, cfg.max_tile_px)
        self.blend = [feather(t, height, width, overlap_for(cfg.max_tile_px)) for t in self.tiles]
        self.canvas = np.array(start[0], np.float32)
        self._content = [extractor(tf.constant(self._crop(content, k)))[0].numpy() for k in range(len(self.tiles))]
        self._own = [ownership(t, self.tiles, height, width) for t in self.tiles]
        full = _full_masks(masks, (height, width))  # once: the regions and their shares both need them
        self._regions = self._region_masks(full)
        self._image = tf.Variable(self._crop(start, 0))
        self._content_var = tf.Variable(self._content[0], trainable=False)
        self._own_var = tf.Variable(self._own[0], trainable=False)
        self._region_vars = [tf.Variable(m, trainable=False) for m in self._regions[0]]
        self._style(targets, full)
        self.tile_loss = self._loss(extractor, cfg)
        scale = PRECISIONS[cfg.precision].loss_scale
        self._optimizer = Adam(self.tile_loss, self._image, cfg.learning_rate, bounds, scale)
        self._states = [self._optimizer.get_state()] * len(self.tiles)  # replaced per tile, never mutated
        self._steps = make_steps_fn(self._optimizer, cfg.jit_compile, cfg.steps_per_call)
        self._refresh(start)

    def _region_masks(self, full: list[np.ndarray] | None) -> list[list[np.ndarray]]:
        """Per tile, per region: the pixels it owns (times the style's mask, if any)."""
        pairs = zip(self.tiles, self._own, strict=True)
        return [[own] if full is None else [own * m[t.slices] for m in full] for t, own in pairs]

    def _style(self, targets: StyleTargets, full: list[np.ndarray] | None) -> None:
        """The regions' targets, weights and shares of the image, and the sums each tile
        records (`_live`) and is given for the others (`_context`): per region and style
        layer the Gram sums and positions, then the content error, then TV's dy and dx."""
        self._targets = [targets.blended()] if full is None else targets.grams
        self._weights = (1.0,) if full is None else targets.weights
        self._coverage = [1.0] if full is None else [float(m.mean()) for m in full]
        channels = [int(g.shape[-1]) for g in self._targets[0]]
        shapes = [shape for _ in self._targets for c in channels for shape in ((1, c, c), ())] + [()] * 3

        def variables() -> list[tf.Variable]:
            return [tf.Variable(tf.zeros(shape), trainable=False) for shape in shapes]

        self._context, self._live = variables(), variables()
        height, width = self.canvas.shape[:2]
        self._tv_counts = ((height - 1) * width * 3, height * (width - 1) * 3)

    def _content_norm(self) -> float:
        """sum(P^2) of the whole image's content features (each tile's owned positions)."""
        total = 0.0
        for k, target in enumerate(self._content):
            own = tf.image.resize(self._own[k][None, :, :, None], target.shape[1:3], method="area")
            total += float(tf.reduce_sum(own * tf.square(target)))
        return total

    def _loss(self, extractor: FeatureExtractor, cfg: TransferConfig):
        """The tile's named losses, each the whole image's: the context sums plus the
        tile's own (which it records in `_live`)."""
        convention = get_convention(cfg.loss_convention)
        weights = {name: getattr(cfg, name) for name in ("content_weight", "style_weight", "tv_weight")}
        content_norm = self._content_norm()

        def live(i: int, value: tf.Tensor) -> tf.Tensor:
            self._live[i].assign(value)
            return self._context[i] + value

        def loss_fn(image: tf.Tensor) -> dict[str, tf.Tensor]:
            c_feat, s_feats = extractor(image)
            dy, dx = self._tv_sums(image)
            terms = {
                "content": convention.content_from_sums(live(-3, self._content_error(c_feat)), content_norm),
                "style": self._style_term(convention, s_feats, live, list(cfg.style_layer_weights)),
                "tv": convention.tv_from_sums(live(-2, dy), live(-1, dx), *self._tv_counts),
            }
            return weighted_total(terms, weights)

        return loss_fn

    def _content_error(self, features: tf.Tensor) -> tf.Tensor:
        own = tf.image.resize(self._own_var[None, :, :, None], tf.shape(features)[1:3], method="area")
        return tf.reduce_sum(own * tf.square(features - self._content_var))

    def _tv_sums(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Squared neighbour differences over the owned pixels: a pair belongs to the
        tile owning its second pixel, so every pair of the image counts once."""
        own = self._own_var[None, :, :, None]
        dy = tf.reduce_sum(own[:, 1:] * tf.square(image[:, 1:] - image[:, :-1]))
        dx = tf.reduce_sum(own[:, :, 1:] * tf.square(image[:, :, 1:] - image[:, :, :-1]))
        return dy, dx

    def _style_term(self, convention, features, live, layer_weights) -> tf.Tensor:
        """L_style of the whole image: per layer and region, the Gram of the context
        sums plus the tile's own against that region's target (weighted by the region's
        blend weight and share of the image, as `LossConvention.masked_layer_terms`)."""
        layers, total_weight = len(features), sum(self._weights)
        layer_terms = []
        for layer, f in enumerate(features):
            parts = []
            for r, mask in enumerate(self._region_vars):
                i = 2 * (r * layers + layer)
                sums, area = masked_sums(f, mask)
                gram = live(i, sums) / (live(i + 1, area) + EPS)
                term = convention.layer_style(gram, self._targets[r][layer], int(f.shape[-1]))
                parts.append(self._weights[r] * self._coverage[r] * term)
            layer_terms.append(tf.add_n(parts) / total_weight)
        return convention.combine(layer_terms, layer_weights)

    def _crop(self, image: np.ndarray, k: int) -> np.ndarray:
        t = self.tiles[k]
        return image[:, t.y0 : t.y1, t.x0 : t.x1]

    @property
    def image(self) -> tf.Tensor:
        """The whole image (1, H, W, 3), preprocessed, as the tiles left it."""
        return tf.constant(self.canvas[None])

    def _read_live(self) -> Sums:
        return [v.numpy() for v in self._live]

    def _load(self, k: int) -> None:
        """Tile k's targets, masks and context (the other tiles' sums)."""
        self._content_var.assign(self._content[k])
        self._own_var.assign(self._own[k])
        for variable, mask in zip(self._region_vars, self._regions[k], strict=True):
            variable.assign(mask)
        for context, total, own in zip(self._context, self._total, self._sums[k], strict=True):
            context.assign(total - own)

    def _refresh(self, image: np.ndarray) -> None:
        """Every tile's own sums from `image` (one forward pass per tile)."""
        self._sums = [[np.zeros(v.shape, np.float32) for v in self._live]] * len(self.tiles)
        self._total = self._sums[0]
        for k in range(len(self.tiles)):
            self._load(k)
            self.tile_loss(tf.constant(self._crop(image, k)))
            self._sums[k] = self._read_live()
        self._total = [sum(parts) for parts in zip(*self._sums, strict=True)]

    def run(self, n: int) -> np.ndarray:
        """`n` steps on every tile in turn; (n, len(LOSS_NAMES)) mean losses."""
        rows = []
        for k, tile in enumerate(self.tiles):
            self._load(k)
            self._image.assign(self._crop(self.canvas[None], k))
            self._optimizer.set_state(self._states[k])
            rows.append(self._steps(n))
            self._states[k] = self._optimizer.get_state()
            new = self._read_live()  # the tile's sums at its last step (before that step's update)
            self._total = [t - old + now for t, old, now in zip(self._total, self._sums[k], new, strict=True)]
            self._sums[k] = new
            paste(self.canvas, tile, self._image.numpy()[0], self.blend[k])
        return np.mean(rows, axis=0)

    def loss_fn(self, image: tf.Tensor) -> dict[str, float]:
        """The named losses of a whole image: its own sums first, then each tile's losses
        (the style term is then the whole image's in every tile); their mean."""
        pixels = np.asarray(image)
        self._refresh(pixels)
        rows = []
        for k in range(len(self.tiles)):
            self._load(k)
            rows.append(stack_losses(self.tile_loss(tf.constant(self._crop(pixels, k)))).numpy())
        return unstack_losses(np.mean(rows, axis=0))

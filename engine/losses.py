"""The losses of a Gatys transfer as data: named terms and loss conventions.

Features arrive as (B, H, W, C) tensors. N_l = C (number of filters), M_l = H * W (number
of positions), as in Gatys et al. (2016).

A *term* (`LOSS_TERMS`) is one part of the objective with its own weight field in
`TransferConfig` (content: alpha, style: beta, tv). A *convention* (`CONVENTIONS`) says how
each term is normalised. Two conventions ship:

- `gatys`: the study's formulas (Gatys et al. 2016, eqs. 1-5): content and TV are sums
  over positions, E_l = sum((G - A)^2) / (4 N^2) with each Gram matrix normalised by its
  *own* image's positions. The study divided both Gram matrices by the output's M^2, which
  scaled the target by (style pixels / output pixels); dividing each by its own M removes
  that bias and is identical when both images have the same size. Its content term still
  grows with the image (a sum), so alpha/beta tuned at one size do not carry to another.
- `portable` (the default): every term is a relative error, sum((X - T)^2) / sum(T^2), of
  position-normalised statistics; the style term is the weighted *mean* over layers and TV
  a per-pixel mean. Each term is then independent of the image size, of the number of
  layers and of the scale of a network's activations, so layers contribute comparably and
  one alpha/beta serves both backbones. This follows the idea of crowsonkb's
  style-transfer-pytorch (Gram / positions, each layer's loss scaled to be comparable);
  it divides by the target's magnitude instead of their |diff|_1, so that the value is a
  readable relative error (0.5 = the statistics are 50 % off) and fixed during a run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import tensorflow as tf

from engine import catalog

# Keeps a relative error finite when a target is all zeros (a dead layer, a blank image);
# far below any real target's magnitude, so it never changes a real term.
EPS = 1e-30


@dataclass(frozen=True)
class LossTerm:
    """One term of the objective: its name (the `<name>_loss` columns) and weight field."""

    name: str
    weight_field: str
    description: str


LOSS_TERMS: dict[str, LossTerm] = {
    t.name: t
    for t in (
        LossTerm("content", "content_weight", "distance of the content layer's features to the photo's"),
        LossTerm("style", "style_weight", "distance of the style layers' Gram matrices to the painting's"),
        LossTerm("tv", "tv_weight", "total variation: squared differences of neighbouring pixels"),
    )
}
# The order losses travel in as one tensor (one device->host copy per step): total first.
LOSS_NAMES: tuple[str, ...] = ("total", *LOSS_TERMS)


def _positions(features: tf.Tensor) -> tf.Tensor:
    shape = tf.shape(features)
    return tf.cast(shape[1] * shape[2], features.dtype)


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """G = F^T F / M per image (B, C, C): the mean outer product of a position's
    activations, so it does not depend on how many positions the image has."""
    return tf.einsum("bhwc,bhwd->bcd", features, features) / _positions(features)


def masked_sums(features: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(sum_p m_p f_p f_p^T, sum_p m_p): a Gram matrix's sums over a mask's region, the
    mask (H, W, 0-1, any resolution) resized to the feature map by area averaging."""
    size = tf.shape(features)[1:3]
    m = tf.image.resize(tf.cast(mask, features.dtype)[None, :, :, None], size, method="area")
    return tf.einsum("bhwc,bhwd->bcd", features * m, features), tf.reduce_sum(m)


def masked_gram(features: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(G over the mask's region, the share of positions it covers): G = sum_p m_p f_p f_p^T
    / sum_p m_p (`masked_sums`). Normalised by the mask's area, as Gatys et al. 2017
    (sec. 4) do, so a region's Gram is comparable to a whole painting's; zero for an empty
    mask."""
    sums, area = masked_sums(features, mask)
    return sums / (area + EPS), area / _positions(features)


def relative_error(x: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """sum((x - target)^2) / sum(target^2): scale-free (x and target times k: unchanged)."""
    return tf.reduce_sum(tf.square(x - target)) / (tf.reduce_sum(tf.square(target)) + EPS)


def gatys_content(features: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """L_content = sum (F - P)^2. The paper has a factor 1/2; the study's formula has not."""
    return tf.reduce_sum(tf.square(features - target))


def gatys_layer_style(gram: tf.Tensor, target_gram: tf.Tensor, channels: int) -> tf.Tensor:
    """E_l = sum((G - A)^2) / (4 N_l^2), both Grams normalised by their own positions:
    the paper's 1 / (4 N^2 M^2) with M moved into each Gram matrix."""
    return tf.reduce_sum(tf.square(gram - target_gram)) / (4.0 * float(channels) ** 2)


def portable_layer_style(gram: tf.Tensor, target_gram: tf.Tensor, channels: int) -> tf.Tensor:
    """The relative error of the Gram matrix (N does not matter: it cancels)."""
    return relative_error(gram, target_gram)


def gatys_tv(image: tf.Tensor) -> tf.Tensor:
    """Sum of squared differences between neighbouring pixels (pixel units, 0-255)."""
    dy = image[:, 1:, :, :] - image[:, :-1, :, :]
    dx = image[:, :, 1:, :] - image[:, :, :-1, :]
    return tf.reduce_sum(tf.square(dy)) + tf.reduce_sum(tf.square(dx))


def portable_tv(image: tf.Tensor) -> tf.Tensor:
    """Mean squared neighbour difference on the 0-1 scale: the same for any image size."""
    dy = image[:, 1:, :, :] - image[:, :-1, :, :]
    dx = image[:, :, 1:, :] - image[:, :, :-1, :]
    return (tf.reduce_mean(tf.square(dy)) + tf.reduce_mean(tf.square(dx))) / 255.0**2


@dataclass(frozen=True)
class LossConvention:
    """How each term is normalised; stored with every run (`runs.loss_convention`)."""

    name: str  # a key of `engine.catalog.CONVENTIONS`, which states the formulas
    content: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    layer_style: Callable[[tf.Tensor, tf.Tensor, int], tf.Tensor]
    tv: Callable[[tf.Tensor], tf.Tensor]
    mean_over_layers: bool  # style = weighted mean (True) or weighted sum of E_l
    normalised: bool = False  # content / sum(P^2) and TV a mean on the 0-1 scale (True), or plain sums

    def content_from_sums(self, error: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        """The content term from sum((F - P)^2) and sum(P^2): `content` in parts, so a
        tiled scale can add the parts up over tiles (`engine.tiled`)."""
        return error / (target + EPS) if self.normalised else error

    def tv_from_sums(self, dy: tf.Tensor, dx: tf.Tensor, count_dy: float, count_dx: float) -> tf.Tensor:
        """The TV term from the sums of squared vertical and horizontal neighbour
        differences and how many there are: `tv` in parts (see `content_from_sums`)."""
        return (dy / count_dy + dx / count_dx) / 255.0**2 if self.normalised else dy + dx

    def style(self, features: Sequence[tf.Tensor], target_grams: Sequence[tf.Tensor], weights: Sequence[float]):
        """L_style over the style layers (weighted sum or weighted mean of E_l)."""
        return self.combine(self.layer_terms(features, target_grams), weights)

    def combine(self, layer_terms: Sequence[tf.Tensor], weights: Sequence[float]) -> tf.Tensor:
        """The style layers' terms E_l into L_style: weighted sum, or weighted mean."""
        total = tf.add_n([w * layer for w, layer in zip(weights, layer_terms, strict=True)])
        return total / max(sum(weights), EPS) if self.mean_over_layers else total

    def masked_layer_terms(
        self, features: Sequence[tf.Tensor], regions: Sequence[tuple[Sequence[tf.Tensor], float, tf.Tensor]]
    ) -> list[tf.Tensor]:
        """E_l of each style layer with one style per region: `regions` holds, per style
        image, (its target Gram per layer, its blend weight, its mask over the output).
        E_l = sum_i w_i a_i E(G_l^(m_i), A_l^i) / sum_i w_i, where G^(m) is the Gram over the
        mask (`masked_gram`) and a_i the share of the layer the mask covers, so a style's
        pull grows with its region and an empty mask adds nothing (`engine.styles`)."""
        total_weight = max(sum(w for _, w, _ in regions), EPS)
        terms = []
        for layer, f in enumerate(features):
            parts = []
            for grams, weight, mask in regions:
                gram, coverage = masked_gram(f, mask)
                parts.append(weight * coverage * self.layer_style(gram, grams[layer], int(f.shape[-1])))
            terms.append(tf.add_n(parts) / total_weight)
        return terms

    @property
    def summary(self) -> str:
        """The formulas, as stored in `runs.gram_convention`."""
        return catalog.CONVENTIONS[self.name].summary

    def layer_terms(self, features: Sequence[tf.Tensor], target_grams: Sequence[tf.Tensor]) -> list[tf.Tensor]:
        """E_l of each style layer, unweighted."""
        return [
            self.layer_style(gram_matrix(f), g, int(f.shape[-1])) for f, g in zip(features, target_grams, strict=True)
        ]


CONVENTIONS: dict[str, LossConvention] = {
    c.name: c
    for c in (
        LossConvention(
            "portable",
            relative_error,
            portable_layer_style,
            portable_tv,
            mean_over_layers=True,
            normalised=True,
        ),
        LossConvention(
            "gatys",
            gatys_content,
            gatys_layer_style,
            gatys_tv,
            mean_over_layers=False,
        ),
    )
}


def get_convention(name: str) -> LossConvention:
    """The convention called `name`; `KeyError` names the choices."""
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise KeyError(f"unknown loss convention {name!r}; choose one of: {', '.join(CONVENTIONS)}") from None


def weighted_total(terms: Mapping[str, tf.Tensor], weights: Mapping[str, float]) -> dict[str, tf.Tensor]:
    """{"total": sum of weight x term, **terms}: the named losses one step reports."""
    total = tf.add_n([weights[LOSS_TERMS[name].weight_field] * value for name, value in terms.items()])
    return {"total": total, **terms}


def stack_losses(losses: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """The named losses as one vector in `LOSS_NAMES` order (for compiled loops)."""
    return tf.stack([losses[name] for name in LOSS_NAMES])


def unstack_losses(row: Sequence[float]) -> dict[str, float]:
    """Inverse of `stack_losses` for one host-side row."""
    return {name: float(v) for name, v in zip(LOSS_NAMES, row, strict=True)}


def layer_shares(terms: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Each style layer's share of the weighted style loss (they add up to 1): the
    diagnostic for whether layers contribute comparably."""
    weighted = [float(t) * float(w) for t, w in zip(terms, weights, strict=True)]
    total = sum(weighted)
    return [w / total if total > 0 else 0.0 for w in weighted]


def softmax_features(features: tf.Tensor, temperature: float | tf.Tensor = 1.0) -> tf.Tensor:
    """SWAG's activation smoothing (Wang, Li & Vasconcelos, CVPR 2021): softmax(F / T) over
    all activations of the layer together (every position and channel of one image, as in
    the authors' `softmax3d`), applied before the Gram and content losses.

    The result is multiplied by the number of activations so its mean is 1 whatever the
    layer's size: a plain softmax sums to 1, which at 512 px makes each value ~1e-7 and
    the layer's Gram term ~1e-26 under the Gatys normalisation. A constant factor does not
    change the entropy the transform is for. `temperature` may be a tensor (per image)."""
    shape = tf.shape(features)
    flat = tf.reshape(features, (shape[0], -1))  # per image: batch items stay separate
    count = tf.cast(tf.shape(flat)[1], features.dtype)
    t = tf.reshape(tf.cast(temperature, features.dtype), (-1, 1))
    return tf.reshape(tf.nn.softmax(flat / t, axis=-1) * count, shape)

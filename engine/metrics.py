"""Fair metrics: measures of an output image that do not depend on which backbone made it.

Pure functions of arrays (and, for cross-evaluation, of an already built judge network):
no storage, no UI. `engine.runner` computes them for each finished run and stores them;
`store.metrics` describes them for reports (names here and there must agree).

- cross-evaluation: the output scored by each backbone's *own* content and style losses at
  its default layers, so outputs of different producers are judged by the same rulers;
- content fidelity: SSIM and the correlation of edge maps with the content image;
- style match without a network: a distance between the colour statistics of the output
  and the style image in CIELAB;
- loss dynamics: final loss relative to the first iteration's, and iterations to reach
  90 % / 99 % of the total drop (each run on its own scale, so comparable across backbones).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from engine.backbones import Backbone
from engine.losses import content_loss, gram_matrix, style_loss

# Metric names (the `metric` column of `run_metrics`).
JUDGE_CONTENT, JUDGE_STYLE, JUDGE_TOTAL = "judge_content_loss", "judge_style_loss", "judge_total_loss"
SSIM, EDGE_CORR, COLOR_W2 = "ssim", "edge_corr", "color_w2"
LOSS_RATIO, ITERS_90, ITERS_99 = "loss_ratio_final", "iters_to_90", "iters_to_99"
JUDGED = (JUDGE_CONTENT, JUDGE_STYLE, JUDGE_TOTAL)
UNJUDGED = (SSIM, EDGE_CORR, COLOR_W2, LOSS_RATIO, ITERS_90, ITERS_99)

# sRGB (D65) -> CIE XYZ, and the D65 white point (IEC 61966-2-1 / CIE 15).
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    """Structural similarity of two same-sized uint8 RGB images (1 = identical).

    `tf.image.ssim`'s 11 px window is shrunk for images smaller than that, where the
    default would fail."""
    a, b = (tf.constant(np.asarray(x, np.float32)[None]) for x in (image, reference))
    window = max(1, min(11, *image.shape[:2]))
    return float(tf.image.ssim(a, b, max_val=255.0, filter_size=window)[0])


def _edge_magnitude(rgb: np.ndarray) -> np.ndarray:
    grey = tf.image.rgb_to_grayscale(tf.constant(np.asarray(rgb, np.float32)[None]))
    d = tf.image.sobel_edges(grey)[0, ..., 0, :]  # (H, W, [dy, dx])
    return tf.norm(d, axis=-1).numpy().ravel()


def edge_correlation(image: np.ndarray, reference: np.ndarray) -> float:
    """Pearson correlation of the Sobel edge magnitudes of two same-sized images: 1 when
    the output keeps the content's edges where they were, ~0 when it does not. NaN when
    either image has no edge variation at all (a flat image)."""
    a, b = _edge_magnitude(image), _edge_magnitude(reference)
    if a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB (..., 3) -> CIELAB (D65), float64. Lab is roughly perceptually uniform,
    so distances in it track visible colour differences better than RGB distances."""
    c = np.asarray(rgb, np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE_D65
    eps = (6 / 29) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def color_stats(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (3,) and covariance (3, 3) of an image's pixel colours in CIELAB."""
    lab = rgb_to_lab(rgb).reshape(-1, 3)
    return lab.mean(axis=0), np.cov(lab, rowvar=False, bias=True)


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (eigenvalues clipped at 0)."""
    vals, vecs = np.linalg.eigh((m + m.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def gaussian_w2(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """2-Wasserstein distance between two Gaussians: 0 for equal statistics, and in the
    units of the data (here Lab), so a pure shift of the mean by d gives exactly d."""
    root_a = _sqrtm_psd(cov_a)
    cross = _sqrtm_psd(root_a @ cov_b @ root_a)
    d2 = float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(cross))
    return math.sqrt(max(d2, 0.0))


def color_distance(image: np.ndarray, style: np.ndarray) -> float:
    """How far an image's colour statistics are from the style image's (Lab units);
    the images need not have the same size."""
    return gaussian_w2(*color_stats(image), *color_stats(style))


def loss_dynamics(steps: Sequence[int], totals: Sequence[float]) -> dict[str, float]:
    """From a run's logged total losses: final / first-iteration loss, and the first
    step at which the loss has made 90 % and 99 % of its whole drop (first -> last).

    The iteration counts are NaN when the loss did not fall (nothing to reach)."""
    steps_a, loss = np.asarray(steps, np.int64), np.asarray(totals, np.float64)
    if loss.size == 0 or loss[0] == 0:
        return {LOSS_RATIO: math.nan, ITERS_90: math.nan, ITERS_99: math.nan}
    drop = loss[0] - loss[-1]
    out = {LOSS_RATIO: float(loss[-1] / loss[0])}
    for name, share in ((ITERS_90, 0.9), (ITERS_99, 0.99)):
        reached = np.nonzero(loss[0] - loss >= share * drop)[0] if drop > 0 else []
        out[name] = float(steps_a[reached[0]]) if len(reached) else math.nan
    return out


def fidelity_metrics(output: np.ndarray, content: np.ndarray, style: np.ndarray) -> dict[str, float]:
    """SSIM and edge correlation against the content (resized like the output), and the
    colour distance to the style image."""
    return {
        SSIM: ssim(output, content),
        EDGE_CORR: edge_correlation(output, content),
        COLOR_W2: color_distance(output, style),
    }


def judge_losses(
    extractor, judge: Backbone, output: np.ndarray, content: np.ndarray, style: np.ndarray
) -> dict[str, float]:
    """The judge backbone's own unweighted content and style losses of `output` (at the
    layers `extractor` reads: the judge's defaults, untransformed), and its default
    weighted total. Images are uint8 RGB; `content` has the output's size."""
    # Output and content share a size: one batched forward pass for both (eager passes
    # through ResNet50 cost ~0.5 s each on a CPU, whatever the image size).
    both_c, both_s = extractor(tf.constant(np.stack([judge.preprocess(output), judge.preprocess(content)])))
    _, sty_s = extractor(tf.constant(judge.preprocess(style)[None]))
    lc = float(content_loss(both_c[:1], both_c[1:]))
    ls = float(style_loss([f[:1] for f in both_s], [gram_matrix(f) for f in sty_s], [1.0] * len(sty_s)))
    d = judge.defaults
    return {JUDGE_CONTENT: lc, JUDGE_STYLE: ls, JUDGE_TOTAL: d.content_weight * lc + d.style_weight * ls}

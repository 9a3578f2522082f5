"""Fair metrics: measures of an output image that do not depend on which backbone made it.

Pure functions of arrays (and, for the judges, of an already built network): no storage,
no UI. `workbench.runner` computes them for each finished run and stores them;
`store.metrics` describes them for reports (names here and there must agree).

- network-free (the verdicts rest on these): greyscale SSIM and the correlation of edge
  maps with the content photo; the distance of the output's colour statistics (CIELAB)
  and of its texture (sliced Wasserstein distance of Laplacian-pyramid patches, Karras et
  al. 2018) to the style image's, each also as a ratio over the photo's own distance to
  the style (1 = no closer than the untouched photo); and the share of spectral power at
  2-pixel periods over the photo's (checkerboard artefacts of strided networks);
- neutral judges (`engine.judges`): networks that produced neither output, scoring a
  scale-free Gram-matrix style distance and content feature distance;
- cross-evaluation: the output scored by each producing backbone's *own* losses. Each
  judge favours outputs made with its own objective, so these are shown, never judged on;
- loss dynamics: final loss relative to the first iteration's, and iterations to reach
  90 % / 99 % of the total drop (each run on its own scale).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from engine.backbones import Backbone
from engine.config import loss_defaults
from engine.images import resize_longest, resize_to
from engine.losses import CONVENTIONS, gram_matrix

# Metric names (the `metric` column of `run_metrics`).
JUDGE_CONTENT, JUDGE_STYLE, JUDGE_TOTAL = "judge_content_loss", "judge_style_loss", "judge_total_loss"
SSIM, EDGE_CORR, COLOR_W2, COLOR_RATIO = "ssim", "edge_corr", "color_w2", "color_ratio"
TEXTURE_SWD, TEXTURE_RATIO, GRID_RATIO = "texture_swd", "texture_ratio", "grid_ratio"
NEUTRAL_STYLE, NEUTRAL_CONTENT = "neutral_style_distance", "neutral_content_distance"
LOSS_RATIO, ITERS_90, ITERS_99 = "loss_ratio_final", "iters_to_90", "iters_to_99"
JUDGED = (JUDGE_CONTENT, JUDGE_STYLE, JUDGE_TOTAL)
NEUTRAL = (NEUTRAL_STYLE, NEUTRAL_CONTENT)
NETWORK_FREE = (SSIM, EDGE_CORR, COLOR_W2, COLOR_RATIO, TEXTURE_SWD, TEXTURE_RATIO, GRID_RATIO)
UNJUDGED = (*NETWORK_FREE, LOSS_RATIO, ITERS_90, ITERS_99)

# sRGB (D65) -> CIE XYZ, and the D65 white point (IEC 61966-2-1 / CIE 15).
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
# ITU-R BT.601 luma weights, as `tf.image.rgb_to_grayscale` uses.
_LUMA = np.array([0.2989, 0.5870, 0.1140], np.float32)

# Texture (SWD) settings. Karras et al. (2018, appendix D) use 7x7 neighbourhoods, 128 per
# image per level over thousands of images; one image pair has far fewer. Measured on the
# dev images at 256 px: a painting against itself shifted by 8 px (the sampling-noise
# floor) gives 0.097 with 256 patches, 0.041 with 2048 and 0.024 with 8192, against 0.20
# for photo vs painting: 256 patches left the ratio near 1 whatever the output, 2048 cost
# ~1 s per distance and separate them.
PATCH, PATCHES, DIRECTIONS, SMALLEST_LEVEL = 7, 2048, 512, 16
# The Burt & Adelson binomial kernel of the pyramid (Karras et al.'s `pyr_down`/`pyr_up`).
_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0], np.float32) / 16.0
# Bins either side of each Nyquist point counted as "2-pixel period" power: an artefact's
# amplitude varies over the image, which spreads its peak over a few bins.
GRID_RADIUS = 2


def _grey(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb, np.float32) @ _LUMA


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    """Structural similarity of two same-sized uint8 RGB images in greyscale (1 = identical).

    Greyscale, as SSIM was defined (Wang et al. 2004): a stylised output *should* change
    the photo's colours, which an RGB SSIM would count against its structure. The 11 px
    window of `tf.image.ssim` is shrunk for images smaller than that."""
    a, b = (tf.constant(_grey(x)[None, ..., None]) for x in (image, reference))
    window = max(1, min(11, *image.shape[:2]))
    return float(tf.image.ssim(a, b, max_val=255.0, filter_size=window)[0])


def _edge_magnitude(rgb: np.ndarray) -> np.ndarray:
    grey = tf.constant(_grey(rgb)[None, ..., None])
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


def ratio(value: float, reference: float) -> float:
    """value / reference, NaN when the reference is 0 or not finite (nothing to compare to)."""
    if not (math.isfinite(reference) and reference > 0 and math.isfinite(value)):
        return math.nan
    return value / reference


def color_ratio(output: np.ndarray, content: np.ndarray, style: np.ndarray) -> float:
    """W2(output, style) / W2(content photo, style): 1 = the colours are as far from the
    style's as the photo's were (unchanged), lower = closer to the style's palette."""
    return ratio(color_distance(output, style), color_distance(content, style))


# --- texture: sliced Wasserstein distance of Laplacian-pyramid patches ---------------------


def _blur(x: np.ndarray) -> np.ndarray:
    """Separable 5-tap binomial blur of (H, W, C), edges mirrored (as scipy's 'mirror')."""
    for axis in (0, 1):
        n = x.shape[axis]
        pad = [(2, 2) if a == axis else (0, 0) for a in range(x.ndim)]
        p = np.moveaxis(np.pad(x, pad, mode="reflect"), axis, 0)
        x = np.moveaxis(sum(w * p[i : i + n] for i, w in enumerate(_BINOMIAL)), 0, axis)
    return x


def _pyr_up(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-insert x to `shape` and blur (x4 keeps the mean): the pyramid's expand step."""
    up = np.zeros(shape, np.float32)
    up[::2, ::2] = x
    return _blur(up) * 4.0


def pyramid_levels(shape_hw: tuple[int, int]) -> int:
    """Levels from full size down to the smallest side >= 16 px (at least one)."""
    side, levels = min(shape_hw), 1
    while side // 2 >= SMALLEST_LEVEL:
        side, levels = side // 2, levels + 1
    return levels


def laplacian_pyramid(rgb: np.ndarray, levels: int) -> list[np.ndarray]:
    """Band-pass levels, finest first; the last level is the low-pass residual."""
    x = np.asarray(rgb, np.float32)
    out = []
    for _ in range(levels - 1):
        down = _blur(x)[::2, ::2]
        out.append(x - _pyr_up(down, x.shape))
        x = down
    return [*out, x]


def _patches(level: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """PATCHES random 7x7xC neighbourhoods of one level, flattened: (PATCHES, 49 * C)."""
    h, w = level.shape[:2]
    ys = rng.integers(0, h - PATCH + 1, PATCHES)[:, None, None] + np.arange(PATCH)[None, :, None]
    xs = rng.integers(0, w - PATCH + 1, PATCHES)[:, None, None] + np.arange(PATCH)[None, None, :]
    return level[ys, xs].reshape(PATCHES, PATCH, PATCH, -1)


def _normalised(patches: np.ndarray) -> np.ndarray:
    """Each channel by the set's own mean and std, as Karras et al.'s `finalize_descriptors`
    does per set: the texture, not the overall brightness or contrast, is compared."""
    mean = patches.mean(axis=(0, 1, 2), keepdims=True)
    std = patches.std(axis=(0, 1, 2), keepdims=True)
    return ((patches - mean) / np.where(std > 0, std, 1.0)).reshape(len(patches), -1)


def texture_descriptors(rgb: np.ndarray, levels: int, seed: int = 0) -> list[np.ndarray]:
    """Normalised patch sets of an image's first `levels` pyramid levels (seeded)."""
    pyramid = laplacian_pyramid(rgb, levels)
    return [_normalised(_patches(lv, np.random.default_rng([seed, i]))) for i, lv in enumerate(pyramid)]


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> float:
    """SWD of two equal-sized point sets: project on random unit directions, sort, mean
    absolute difference of the sorted projections (the 1-D Wasserstein distances)."""
    dirs = rng.normal(size=(a.shape[1], DIRECTIONS))
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
    return float(np.abs(pa - pb).mean())


def descriptor_swd(a: list[np.ndarray], b: list[np.ndarray], seed: int = 0) -> float:
    """Mean over levels of the SWD between two images' patch sets (`texture_descriptors`);
    the directions depend only on the seed and level, so every comparison shares them."""
    rngs = [np.random.default_rng([seed, 1000 + i]) for i in range(min(len(a), len(b)))]
    return float(np.mean([sliced_wasserstein(a[i], b[i], rng) for i, rng in enumerate(rngs)]))


def texture_swd(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """Texture distance of two images (sizes may differ): the sliced Wasserstein distance
    between 7x7 patches of their Laplacian pyramids, averaged over levels (Karras et al.
    2018, appendix D). 0 for the same image; NaN below 7 px."""
    if min(*a.shape[:2], *b.shape[:2]) < PATCH:
        return math.nan
    levels = min(pyramid_levels(a.shape[:2]), pyramid_levels(b.shape[:2]))
    return descriptor_swd(texture_descriptors(a, levels, seed), texture_descriptors(b, levels, seed), seed)


# --- artefacts: power at 2-pixel periods ---------------------------------------------------


def _nyquist_mask(h: int, w: int, radius: int = GRID_RADIUS) -> np.ndarray:
    """Frequency bins within `radius` bins of (1/2, 0), (0, 1/2) and (1/2, 1/2) cycles/px."""
    fy, fx = np.abs(np.fft.fftfreq(h))[:, None], np.abs(np.fft.fftfreq(w))[None, :]
    tol = 1e-9
    ny_y, ny_x = 0.5 - fy <= radius / h + tol, 0.5 - fx <= radius / w + tol
    low_y, low_x = fy <= radius / h + tol, fx <= radius / w + tol
    return (ny_y & low_x) | (low_y & ny_x) | (ny_y & ny_x)


def grid_energy(rgb: np.ndarray) -> float:
    """Share of an image's AC spectral power (mean removed, RGB channels summed) that lies
    at 2-pixel periods: where the checkerboard of a stride-2 network layer shows up."""
    x = np.asarray(rgb, np.float64)
    x = x - x.mean(axis=(0, 1))
    power = (np.abs(np.fft.fft2(x, axes=(0, 1))) ** 2).sum(axis=-1)
    total = power.sum()
    return float(power[_nyquist_mask(*x.shape[:2])].sum() / total) if total > 0 else math.nan


def grid_ratio(output: np.ndarray, content: np.ndarray) -> float:
    """grid_energy(output) / grid_energy(content photo at the output's size): ~1 for as
    much 2-pixel-period structure as the photo had, >> 1 for a checkerboard artefact."""
    return ratio(grid_energy(output), grid_energy(content))


# --- per run -------------------------------------------------------------------------------


def loss_dynamics(steps: Sequence[int], totals: Sequence[float], output_loss: float | None = None) -> dict[str, float]:
    """From a run's logged total losses: output loss ÷ step-1 loss, and the first step at
    which the loss has made 90 % and 99 % of its whole drop (step 1 -> output).

    `output_loss` is the loss of the image the run returned (runs.total_loss); the last
    logged loss is the image *before* the last update, so it stands in only when the
    output's is unknown. One definition with Compare's "output ÷ step 1" (issue 11 #1).
    The iteration counts are NaN when the loss did not fall (nothing to reach)."""
    steps_a, loss = np.asarray(steps, np.int64), np.asarray(totals, np.float64)
    if loss.size == 0 or loss[0] == 0:
        return {LOSS_RATIO: math.nan, ITERS_90: math.nan, ITERS_99: math.nan}
    if output_loss is not None and math.isfinite(output_loss):
        # the output is the image after the last step: counted as reached at the last step
        steps_a, loss = np.append(steps_a, steps_a[-1]), np.append(loss, float(output_loss))
    drop = loss[0] - loss[-1]
    out = {LOSS_RATIO: float(loss[-1] / loss[0])}
    for name, share in ((ITERS_90, 0.9), (ITERS_99, 0.99)):
        reached = np.nonzero(loss[0] - loss >= share * drop)[0] if drop > 0 else []
        out[name] = float(steps_a[reached[0]]) if len(reached) else math.nan
    return out


def _texture_pair(output: np.ndarray, content: np.ndarray, style: np.ndarray) -> tuple[float, float]:
    """(SWD(output, style), SWD(content, style)) with the style's patches sampled once."""
    if min(*output.shape[:2], *content.shape[:2], *style.shape[:2]) < PATCH:
        return math.nan, math.nan
    levels = min(pyramid_levels(x.shape[:2]) for x in (output, content, style))
    out_d, con_d, sty_d = (texture_descriptors(x, levels) for x in (output, content, style))
    return descriptor_swd(out_d, sty_d), descriptor_swd(con_d, sty_d)


def reference_images(
    output: np.ndarray, content_rgb: np.ndarray, style_rgb: np.ndarray, size: int, min_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """What an output is measured against: the photo resized exactly to the output's size,
    and the painting resized as the run resized it (longest side `size`, never below the
    backbone's `min_size`)."""
    return resize_to(content_rgb, output.shape[:2]), resize_longest(style_rgb, size, min_size)


def fidelity_metrics(output: np.ndarray, content: np.ndarray, style: np.ndarray) -> dict[str, float]:
    """Every network-free metric of one output: structure against the content photo
    (`content` resized to the output's size), colour and texture distances to the style
    image and their ratios over the photo's own distances, and the grid-artefact ratio."""
    sty_stats = color_stats(style)
    w2_out = gaussian_w2(*color_stats(output), *sty_stats)
    w2_con = gaussian_w2(*color_stats(content), *sty_stats)
    swd_out, swd_con = _texture_pair(output, content, style)
    return {
        SSIM: ssim(output, content),
        EDGE_CORR: edge_correlation(output, content),
        COLOR_W2: w2_out,
        COLOR_RATIO: ratio(w2_out, w2_con),
        TEXTURE_SWD: swd_out,
        TEXTURE_RATIO: ratio(swd_out, swd_con),
        GRID_RATIO: grid_ratio(output, content),
    }


def _relative(x: np.ndarray, target: np.ndarray) -> float:
    """|x - target| / |target| (Frobenius): a scale-free error, NaN for a zero target."""
    norm = float(np.linalg.norm(target))
    return float(np.linalg.norm(x - target)) / norm if norm > 0 else math.nan


def _gram(features: np.ndarray) -> np.ndarray:
    f = np.asarray(features, np.float64).reshape(-1, features.shape[-1])
    return f.T @ f / len(f)


def neutral_distances(
    output: tuple[np.ndarray, list[np.ndarray]],
    content: tuple[np.ndarray, list[np.ndarray]],
    style: tuple[np.ndarray, list[np.ndarray]],
) -> dict[str, float]:
    """A neutral judge's verdict from its (content features, [style features]) of each
    image: the mean relative Gram-matrix error of output vs style over the style layers
    (Gram over positions, so sizes may differ), and the relative content feature error of
    output vs photo. Relative errors make the values independent of the network's scale."""
    styles = [_relative(_gram(o), _gram(s)) for o, s in zip(output[1], style[1], strict=True)]
    return {NEUTRAL_STYLE: float(np.mean(styles)), NEUTRAL_CONTENT: _relative(output[0], content[0])}


def judge_losses(
    extractor, judge: Backbone, output: np.ndarray, content: np.ndarray, style: np.ndarray
) -> dict[str, float]:
    """The judge backbone's own unweighted content and style losses of `output` (at the
    layers `extractor` reads: the judge's defaults, untransformed, the study's Gatys
    formulas), and its default weighted total. Images are uint8 RGB; `content` has the
    output's size."""
    # Output and content share a size: one batched forward pass for both (eager passes
    # through ResNet50 cost ~0.5 s each on a CPU, whatever the image size).
    both_c, both_s = extractor(tf.constant(np.stack([judge.preprocess(output), judge.preprocess(content)])))
    _, sty_s = extractor(tf.constant(judge.preprocess(style)[None]))
    gatys = CONVENTIONS["gatys"]
    lc = float(gatys.content(both_c[:1], both_c[1:]))
    ls = float(gatys.style([f[:1] for f in both_s], [gram_matrix(f) for f in sty_s], [1.0] * len(sty_s)))
    d = loss_defaults(judge, "gatys")
    return {JUDGE_CONTENT: lc, JUDGE_STYLE: ls, JUDGE_TOTAL: d.content_weight * lc + d.style_weight * ls}

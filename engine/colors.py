"""Keeping the photo's colours (issue 14): a registry of colour modes, each a step before
the transfer (on the RGB photo and painting) and a step after it (on the output).

Both modes follow Gatys, Bethge, Hertzmann & Shechtman, "Preserving Color in Neural
Artistic Style Transfer" (arXiv:1606.05897, 2016):

- `luminance` (their section 2.2): the transfer runs on luminance only. The painting's
  luminance is first matched to the photo's mean and standard deviation (their eq. 1), both
  images go to the network as grey (Y in all three channels), and the output's luminance is
  recombined with the photo's chrominance (YIQ's I and Q) at the output's size. The
  output's chrominance is then the photo's by construction.
- `histogram` (their section 2.1, the linear "colour histogram matching"): the painting's
  RGB values are mapped so that their mean and covariance equal the photo's,
  x' = A (x - mu_s) + mu_c with A = C_c^1/2 C_s^-1/2 (symmetric square roots, the "Image
  Analogies" variant they found best), then the transfer runs as usual.

Pure NumPy on uint8 RGB arrays: no TensorFlow, so tests and the CLI's checks are cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.images import resize_to

# RGB <-> YIQ (NTSC 1953 coefficients, as in the paper's reference implementation).
RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]], np.float64
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)
EPS = 1e-6  # keeps flat images (zero variance) from dividing by zero


def to_yiq(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (or float 0-255) -> YIQ float64, Y in 0-255."""
    return np.asarray(rgb, np.float64) @ RGB_TO_YIQ.T


def from_yiq(yiq: np.ndarray) -> np.ndarray:
    """YIQ float -> RGB uint8 (rounded, clipped)."""
    return np.clip(np.rint(yiq @ YIQ_TO_RGB.T), 0, 255).astype(np.uint8)


def grey(luma: np.ndarray) -> np.ndarray:
    """A luminance channel (H, W) as a grey RGB uint8 image."""
    y = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    return np.repeat(y[..., None], 3, axis=2)


def match_luminance(style_y: np.ndarray, content_y: np.ndarray) -> np.ndarray:
    """The style's luminance shifted and scaled to the content's mean and std (eq. 1)."""
    scale = content_y.std() / (style_y.std() + EPS)
    return (style_y - style_y.mean()) * scale + content_y.mean()


def _sym_power(cov: np.ndarray, power: float) -> np.ndarray:
    """cov^power for a symmetric positive semi-definite 3 x 3 matrix (eigenvalues floored)."""
    values, vectors = np.linalg.eigh(cov)
    return (vectors * np.maximum(values, EPS) ** power) @ vectors.T


def match_histogram(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The style image recoloured so that its RGB mean and covariance are the content's."""
    s = np.asarray(style, np.float64).reshape(-1, 3)
    c = np.asarray(content, np.float64).reshape(-1, 3)
    mu_s, mu_c = s.mean(0), c.mean(0)
    a = _sym_power(np.cov(c, rowvar=False), 0.5) @ _sym_power(np.cov(s, rowvar=False), -0.5)
    out = (s - mu_s) @ a.T + mu_c
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(np.shape(style))


def luminance_inputs(content: np.ndarray, style: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(grey photo, grey painting with the photo's luminance statistics)."""
    content_y, style_y = to_yiq(content)[..., 0], to_yiq(style)[..., 0]
    return grey(content_y), grey(match_luminance(style_y, content_y))


def recombine(output: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The output's luminance with the photo's chrominance (I, Q) at the output's size."""
    out_y = to_yiq(output)[..., 0]
    chroma = to_yiq(resize_to(content, output.shape[:2]))
    chroma[..., 0] = out_y
    return from_yiq(chroma)


@dataclass(frozen=True)
class ColorMode:
    """How a mode changes the inputs before the transfer and the output after it."""

    summary: str
    prepare: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]  # (content, style) -> same
    finish: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (output, original content) -> output


def _keep(content: np.ndarray, style: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return content, style


COLOR_MODES: dict[str, ColorMode] = {
    "none": ColorMode("the painting's colours", _keep, lambda output, content: output),
    "luminance": ColorMode(
        "style on luminance only; the photo's colours (YIQ chrominance) kept", luminance_inputs, recombine
    ),
    "histogram": ColorMode(
        "the painting recoloured to the photo's colour mean and covariance first",
        lambda content, style: (content, match_histogram(style, content)),
        lambda output, content: output,
    ),
}

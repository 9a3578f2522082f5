"""Several style images, their blend weights, region masks and scale (issue 14).

A run has one or more style images. Without masks their normalised Gram matrices are
blended into one target, weighted by `TransferConfig.style_blend_weights` (the weighted
*mean*: the weights need not add up to 1, and two identical paintings at 0.5/0.5 give
exactly the one-painting target). With masks, each style image has a greyscale mask over
the *output* (any resolution; white = this style here), and each style gets its own term:
the output's Gram matrix over the mask's region (normalised by the mask's area) against
that painting's, weighted by the blend weight times the share of the image the mask
covers (a mask of zeros: no term). This is the masked Gram of Gatys et al., "Controlling
Perceptual Factors in Neural Style Transfer" (CVPR 2017), section 4 (spatial control),
which also normalises by the region's size.

`style_scale` sets the painting's size relative to the output's: at 2 the network sees
the painting twice as large, so its brush strokes come out twice as large.

Pure NumPy plus the config: no TensorFlow.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.backbones import get_backbone
from engine.config import TransferConfig
from engine.errors import ConfigError, ImageError
from engine.images import resize_longest


def blend_weights(cfg: TransferConfig, count: int) -> tuple[float, ...]:
    """The blend weights of `count` style images: the given ones, or equal ones."""
    return tuple(cfg.style_blend_weights) if cfg.style_blend_weights else (1.0 / count,) * count


def resolve_styles(cfg: TransferConfig, count: int, masks: int = 0) -> TransferConfig:
    """`cfg` with explicit blend weights for `count` style images and `masks` masks (0,
    or one per style image); `ConfigError` in one line when they do not match."""
    if count < 1:
        raise ConfigError("a run needs at least one style image")
    weights = blend_weights(cfg, count)
    if len(weights) != count:
        raise ConfigError(f"{len(weights)} style blend weights given for {count} style image(s): give one per style")
    if any(not np.isfinite(w) or w < 0 for w in weights):
        raise ConfigError(f"style blend weights must be >= 0, got {', '.join(f'{w:g}' for w in weights)}")
    if sum(weights) <= 0:
        raise ConfigError("style blend weights are all zero: at least one style must count")
    if masks not in (0, count):
        raise ConfigError(f"{masks} style mask(s) given for {count} style image(s): give one per style, or none")
    # One painting: its weight does not matter (the blend is a weighted mean), and unset is
    # what every run before blending stored, so Compare and study cell keys see no change.
    return dataclasses.replace(cfg, style_blend_weights=weights if count > 1 else None)


def style_size(cfg: TransferConfig, size: int | None = None) -> int:
    """The longest side the style images have at output size `size` (default: the
    run's full size): `size` x `style_scale`, never below the backbone's minimum."""
    size = cfg.size if size is None else size
    return max(round(size * cfg.style_scale), get_backbone(cfg.backbone).min_size)


def style_shape(cfg: TransferConfig, shape: tuple[int, ...]) -> tuple[int, int]:
    """(height, width) a style image of `shape` (H, W, ...) goes to the network at, at the
    full size (what `run_styles` stores)."""
    h, w = int(shape[0]), int(shape[1])
    side = style_size(cfg)
    scale = side / max(h, w)
    floor = get_backbone(cfg.backbone).min_size
    return max(round(h * scale), floor), max(round(w * scale), floor)


def prepare_style(cfg: TransferConfig, rgb: np.ndarray, size: int) -> np.ndarray:
    """A style image resized for an output of longest side `size` (RGB uint8)."""
    return resize_longest(rgb, style_size(cfg, size), get_backbone(cfg.backbone).min_size)


def mask_array(image: np.ndarray, name: str = "mask") -> np.ndarray:
    """A mask image (H, W) grey or (H, W, 3|4) colour, uint8 or 0-1 floats, as float32
    (H, W) in 0-1 (colour: the mean of R, G and B). `ImageError` if it is not an image."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = arr[..., :3].mean(axis=2)
    if arr.ndim != 2 or min(arr.shape) < 1 or not np.issubdtype(arr.dtype, np.number):
        raise ImageError(f"{name}: a mask must be a greyscale or colour image, got an array of shape {arr.shape}")
    scale = 255.0 if np.issubdtype(np.asarray(image).dtype, np.integer) else 1.0
    return np.clip(arr.astype(np.float32) / scale, 0.0, 1.0)

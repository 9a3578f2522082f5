"""How much memory a run will take, said before it starts (issue 14).

The peak resident memory of a run is nearly linear in the pixels of the largest image the
network differentiates at once (the whole image, or one tile): the activations kept for
the gradient grow with it, the rest (TensorFlow, the model) is a fixed base. Both numbers
were measured per backbone on this project's reference machine (2 cores, CPU TensorFlow,
`ru_maxrss` after 3 steps on square images of 128, 256 and 512 px, weights none; the
ImageNet files are the same size) and are in `MEMORY`. Tiling adds copies of the
whole image (the image, the photo, the blend canvas, Adam's two moments per tile, the
tiles' content targets): `WHOLE_IMAGE_COPIES` of it, in float32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from engine.config import TransferConfig, scale_sizes
from engine.errors import MemoryBudgetError

GIB = 1024**3
# float32 RGB copies of the whole image a tiled run keeps (canvas, photo, the coarser
# scale's result, resizes, per-tile Adam moments...): fitted so that the estimate is an
# upper bound of the peaks measured with `bench.large` (tiles of 1024 px, real weights):
# ResNet50 2048 px 5.08 GiB, VGG16 2048 px 5.45 GiB, ResNet50 4096 px 7.40 GiB; with 12
# copies the last was estimated at 5.9 GiB.
WHOLE_IMAGE_COPIES = 24
BYTES_PER_VALUE = 4


@dataclass(frozen=True)
class MemoryCost:
    """Peak memory of a backbone: `base` bytes plus `per_pixel` bytes per input pixel."""

    base: int
    per_pixel: int


# Measured (see the module docstring): VGG16 749 / 949 / 1753 MiB and ResNet50 870 /
# 1030 / 1689 MiB at 128 / 256 / 512 px; the slope between 256 and 512 px, the base fitted.
MEMORY: dict[str, MemoryCost] = {
    "vgg16": MemoryCost(base=700 * 1024**2, per_pixel=4300),
    "resnet50": MemoryCost(base=820 * 1024**2, per_pixel=3520),
}


@dataclass(frozen=True)
class MemoryEstimate:
    """What a run will need: `peak` bytes; `tile` px (0 when nothing is tiled) and the
    number of tiles at the full size."""

    peak: int
    tile: int
    tiles: int

    def describe(self) -> str:
        """'~2.3 GiB peak (16 tiles of 512 px at the full size)'."""
        where = f" ({self.tiles} tiles of {self.tile} px at the full size)" if self.tile else ""
        return f"~{self.peak / GIB:.1f} GiB peak{where}"


def _piece_pixels(cfg: TransferConfig, shape: tuple[int, int], size: int) -> int:
    """Pixels of the largest piece optimised at scale `size` for a content image `shape`."""
    h, w = shape
    scale = size / max(h, w)
    sh, sw = max(round(h * scale), 1), max(round(w * scale), 1)
    if cfg.max_tile_px and size > cfg.max_tile_px:
        return min(sh, cfg.max_tile_px) * min(sw, cfg.max_tile_px)
    return sh * sw


def estimate(cfg: TransferConfig, shape: tuple[int, int]) -> MemoryEstimate:
    """The peak memory of resolved `cfg` on a content image of `shape` (height, width)."""
    from engine.tiling import tile_grid  # pure NumPy; kept local to show what needs it

    cost = MEMORY[cfg.backbone]
    sizes = scale_sizes(cfg)
    piece = max(_piece_pixels(cfg, shape, s) for s in sizes)
    h, w = shape
    scale = cfg.size / max(h, w)
    full = (max(round(h * scale), 1), max(round(w * scale), 1))
    tiled = bool(cfg.max_tile_px) and cfg.size > cfg.max_tile_px
    whole = _whole_image_bytes(cfg, shape, tiled)
    tiles = len(tile_grid(*full, cfg.max_tile_px)) if tiled else 0
    return MemoryEstimate(cost.base + cost.per_pixel * piece + whole, cfg.max_tile_px if tiled else 0, tiles)


def available_bytes() -> int:
    """Memory this machine can give a new process now: MemAvailable (Linux), else the
    physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _whole_image_bytes(cfg: TransferConfig, shape: tuple[int, int], tiled: bool) -> int:
    h, w = shape
    scale = cfg.size / max(h, w)
    pixels = max(round(h * scale), 1) * max(round(w * scale), 1)
    return pixels * 3 * BYTES_PER_VALUE * (WHOLE_IMAGE_COPIES if tiled else 2)


def largest_tile(cfg: TransferConfig, shape: tuple[int, int], budget: int) -> int:
    """The largest tile side (a multiple of 64 px) with which a run on a content image of
    `shape` fits in `budget` bytes; 0 when none does."""
    cost = MEMORY[cfg.backbone]
    left = budget - cost.base - _whole_image_bytes(cfg, shape, tiled=True)
    side = int((left / cost.per_pixel) ** 0.5) if left > 0 else 0
    return side // 64 * 64


def check_fits(cfg: TransferConfig, shape: tuple[int, int], available: int | None = None) -> MemoryEstimate:
    """The estimate, or `MemoryBudgetError` when it exceeds `available` bytes (default:
    this machine's), naming a `--max-tile-px` that would fit."""
    est = estimate(cfg, shape)
    available = available_bytes() if available is None else available
    if est.peak <= available:
        return est
    tile = largest_tile(cfg, shape, int(available * 0.8))
    advice = f"try --max-tile-px {tile}" if tile >= 64 else "not even a small tile fits: free memory first"
    raise MemoryBudgetError(
        f"this run needs {est.describe()}, but only {available / GIB:.1f} GiB is available: {advice}"
    )

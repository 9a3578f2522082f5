"""Large outputs in overlapping tiles (issue 14): the tile grid, the feathered blend that
hides tile borders, and the seam metric that checks it did.

A scale larger than `TransferConfig.max_tile_px` is optimised tile by tile (see
`engine.transfer._TiledStage`): every tile has the same shape, so one compiled step
serves them all, and neighbouring tiles overlap by `overlap_for(tile)` px. Each tile's
result is written back into the whole image with weights that ramp linearly from 0 at a
tile edge shared with a neighbour to 1 at the overlap's far side, so no tile's hard edge
ever reaches the output (the "feathering" of panorama stitching). The image's own border
is not a seam: there the weight stays 1.

Pure NumPy: no TensorFlow, so the grid and the metric are cheap to test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The overlap as a fraction of the tile: wide enough that the ramp hides a tile's edge
# (the receptive field of a deep layer reaches well into the tile, so its edge pixels see
# padding, not the neighbour), small enough that tiles do not repeat much work.
OVERLAP_FRACTION = 8
MIN_OVERLAP = 8


def overlap_for(tile: int) -> int:
    """The overlap between neighbouring tiles of side `tile`, px."""
    return max(MIN_OVERLAP, tile // OVERLAP_FRACTION)


@dataclass(frozen=True)
class Tile:
    """A tile's place in the whole image: rows y0:y1, columns x0:x1."""

    y0: int
    x0: int
    y1: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """Index of the tile in a (H, W, ...) array."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spread starts of tiles of side `tile` covering `length`, overlapping by at
    least `overlap` (the last one ends exactly at `length`)."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tile_grid(height: int, width: int, tile: int) -> list[Tile]:
    """Tiles of at most `tile` x `tile` px covering a height x width image, row by row.
    All have the same shape (min(tile, height) x min(tile, width))."""
    overlap = overlap_for(tile)
    th, tw = min(tile, height), min(tile, width)
    return [Tile(y, x, y + th, x + tw) for y in _starts(height, tile, overlap) for x in _starts(width, tile, overlap)]


def _owned_span(start: int, end: int, starts: list[int], length: int, total: int) -> tuple[int, int]:
    """The part of a tile's span start:end that is its own: cut at the middle of each
    overlap with the previous and the next tile along this axis."""
    i = starts.index(start)
    lo = 0 if i == 0 else (start + starts[i - 1] + length) // 2
    hi = total if i == len(starts) - 1 else (starts[i + 1] + end) // 2
    return lo, hi


def ownership(tile: Tile, tiles: list[Tile], height: int, width: int) -> np.ndarray:
    """(h, w) mask of the pixels of `tile` no other tile owns: the tiles' owned parts
    partition the image, so a sum over positions can be taken tile by tile without
    counting an overlap twice (`engine.transfer.style_grams`)."""
    th, tw = tile.y1 - tile.y0, tile.x1 - tile.x0
    ys, xs = sorted({t.y0 for t in tiles}), sorted({t.x0 for t in tiles})
    y_lo, y_hi = _owned_span(tile.y0, tile.y1, ys, th, height)
    x_lo, x_hi = _owned_span(tile.x0, tile.x1, xs, tw, width)
    mask = np.zeros((th, tw), np.float32)
    mask[y_lo - tile.y0 : y_hi - tile.y0, x_lo - tile.x0 : x_hi - tile.x0] = 1.0
    return mask


def _ramp(length: int, start: int, end: int, total: int, overlap: int) -> np.ndarray:
    """1-D weights of a tile spanning start:end of `total`: rising over `overlap` px from
    each edge that is inside the image, flat 1 elsewhere."""
    pos = np.arange(length, dtype=np.float32) + 0.5
    weights = np.ones(length, np.float32)
    if start > 0:
        weights = np.minimum(weights, pos / overlap)
    if end < total:
        weights = np.minimum(weights, (length - pos) / overlap)
    return np.clip(weights, 0.0, 1.0)


def feather(tile: Tile, height: int, width: int, overlap: int) -> np.ndarray:
    """(h, w, 1) blend weights of `tile` in a height x width image (see the module)."""
    wy = _ramp(tile.y1 - tile.y0, tile.y0, tile.y1, height, overlap)
    wx = _ramp(tile.x1 - tile.x0, tile.x0, tile.x1, width, overlap)
    return (wy[:, None] * wx[None, :])[..., None]


def paste(canvas: np.ndarray, tile: Tile, pixels: np.ndarray, weights: np.ndarray) -> None:
    """Blend a tile's pixels into the (H, W, C) `canvas` in place: weight 1 replaces,
    0 keeps what the canvas had (the neighbours' result)."""
    region = canvas[tile.slices]
    region += weights * (pixels - region)


def _border_lines(tiles: list[Tile], height: int, width: int) -> tuple[set[int], set[int]]:
    """Rows and columns where a tile's edge lies inside the image."""
    rows = {y for t in tiles for y in (t.y0, t.y1) if 0 < y < height}
    cols = {x for t in tiles for x in (t.x0, t.x1) if 0 < x < width}
    return rows, cols


def seam_ratio(image: np.ndarray, tiles: list[Tile], band: int = 1) -> float:
    """Gradient energy across tile borders over that elsewhere (1 = no seam).

    The energy is the mean squared difference of neighbouring pixels: vertical differences
    for the rows at tile edges (and `band` rows either side), horizontal ones for the
    columns. A hard seam shows as a jump there: ratio well above 1. NaN when the image has
    no inner border (one tile)."""
    img = np.asarray(image, np.float64)
    if img.ndim == 2:
        img = img[..., None]
    dy = np.square(np.diff(img, axis=0)).mean(axis=(1, 2))  # dy[i]: between rows i and i + 1
    dx = np.square(np.diff(img, axis=1)).mean(axis=(0, 2))
    rows, cols = _border_lines(tiles, img.shape[0], img.shape[1])
    near_rows = {i for y in rows for i in range(y - 1 - band, y + band) if 0 <= i < len(dy)}
    near_cols = {i for x in cols for i in range(x - 1 - band, x + band) if 0 <= i < len(dx)}
    if not near_rows and not near_cols:
        return float("nan")
    at = np.concatenate([dy[sorted(near_rows)], dx[sorted(near_cols)]])
    away = np.concatenate([np.delete(dy, sorted(near_rows)), np.delete(dx, sorted(near_cols))])
    return float(at.mean() / max(away.mean(), 1e-12))

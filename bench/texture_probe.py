"""Texture-ratio probe: what the network-free texture distance measures, level by level.

    cd /work/main && PYTHONPATH=. .venv/bin/python bench/texture_probe.py --pair astronaut:great_wave \\
        --size 256 --outputs bench/out/sweep256/resnet50_256_astronaut-great_wave_style_weight3_tv_weight30.png

For one photo x painting pair at one size (the painting resized as a run resizes it), and
for each given output PNG and a set of reference images whose answer is known, prints the
sliced Wasserstein distance to the painting per Laplacian-pyramid level (finest first, the
last level is the low-pass residual) and the texture ratio, under three patch
normalisations:

- ``set``: each patch set by its own per-channel mean and std (`engine.metrics` today);
- ``ref``: every set by the *painting's* per-channel mean and std at that level, so a level
  with less (or more) contrast than the painting's counts as different;
- ``none``: raw pyramid values (0-255 units).

and a ``band`` variant of each (the band-pass levels only, the low-pass residual left out).
References: two oracles (the painting's own band-pass levels on the photo's low-pass
residual: the best a layout-keeping output could score), the painting against itself
shifted by 8 px and its two halves (the noise floor), the painting squashed to the
output's shape, the painting cut into 16 or 32 px blocks and shuffled, and the photo
recoloured to the painting's RGB mean and covariance (colour only). Also prints each
image's per-level band energy (std of the level, 0-255 units) and share of flat patches.

A benchmark: it asserts nothing. `--synthetic` also scores the synthetic textures of
tests/engine/test_metrics.py (same texture shifted vs different texture) under each variant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from engine import metrics as M  # noqa: E402
from engine.colors import match_histogram  # noqa: E402
from engine.images import load_image_file, resize_longest, resize_to  # noqa: E402

IMAGES = Path(__file__).resolve().parent.parent.parent / "shared" / "images"
NORMS = ("set", "ref", "none")


def raw_patches(rgb: np.ndarray, levels: int, seed: int = 0) -> list[np.ndarray]:
    """Un-normalised (PATCHES, 7, 7, C) patch sets per level, sampled as `engine.metrics` does."""
    pyramid = M.laplacian_pyramid(rgb, levels)
    return [M._patches(lv, np.random.default_rng([seed, i])) for i, lv in enumerate(pyramid)]


def _norm(p: np.ndarray, ref: np.ndarray, how: str) -> np.ndarray:
    if how == "set":
        return M._normalised(p)
    if how == "none":
        return p.reshape(len(p), -1)
    mean = ref.mean(axis=(0, 1, 2), keepdims=True)
    std = ref.std(axis=(0, 1, 2), keepdims=True)
    return ((p - mean) / np.where(std > 0, std, 1.0)).reshape(len(p), -1)


def level_swd(a: list[np.ndarray], style: list[np.ndarray], how: str, seed: int = 0) -> list[float]:
    """SWD per level of raw patch sets `a` vs the painting's `style`, normalised by `how`
    (directions as `engine.metrics.descriptor_swd` draws them)."""
    out = []
    for i in range(min(len(a), len(style))):
        rng = np.random.default_rng([seed, 1000 + i])
        out.append(M.sliced_wasserstein(_norm(a[i], style[i], how), _norm(style[i], style[i], how), rng))
    return out


def energies(rgb: np.ndarray, levels: int) -> list[float]:
    return [float(lv.std()) for lv in M.laplacian_pyramid(rgb, levels)]


def block_shuffle(rgb: np.ndarray, block: int, seed: int = 0) -> np.ndarray:
    """The image cut into block x block tiles (the remainder cropped), tiles shuffled."""
    h, w = (rgb.shape[0] // block) * block, (rgb.shape[1] // block) * block
    tiles = rgb[:h, :w].reshape(h // block, block, w // block, block, -1).swapaxes(1, 2).reshape(-1, block, block, 3)
    tiles = tiles[np.random.default_rng(seed).permutation(len(tiles))]
    return tiles.reshape(h // block, w // block, block, block, 3).swapaxes(1, 2).reshape(h, w, 3)


def oracle(photo: np.ndarray, painting: np.ndarray, mode: str = "mirror") -> np.ndarray:
    """The painting's band-pass pyramid levels on the photo's low-pass residual: a perfect
    texture transfer that keeps the photo's layout. The painting is brought to the photo's
    shape by mirroring its edges ("mirror", scale kept) or by resizing ("squash")."""
    h, w = photo.shape[:2]
    if mode == "squash":
        fitted = resize_to(painting, (h, w))
    else:
        pad = ((0, max(0, h - painting.shape[0])), (0, max(0, w - painting.shape[1])), (0, 0))
        fitted = np.pad(painting, pad, mode="symmetric")[:h, :w]
    levels = min(M.pyramid_levels(x.shape[:2]) for x in (photo, painting))
    bands, low = M.laplacian_pyramid(fitted, levels)[:-1], M.laplacian_pyramid(photo, levels)[-1]
    x = low
    for band in reversed(bands):
        x = M._pyr_up(x, band.shape) + band
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def flat_share(rgb: np.ndarray, levels: int) -> list[float]:
    """Per band level: the share of sampled patches whose RMS (about the set's mean) is
    below half the mean patch RMS, i.e. flat areas (paper, sky, a plain backdrop)."""
    out = []
    for p in raw_patches(rgb, levels)[:-1]:
        r = np.sqrt(((p - p.mean(axis=(0, 1, 2), keepdims=True)) ** 2).mean(axis=(1, 2, 3)))
        out.append(float(np.mean(r < 0.5 * r.mean())))
    return out


def references(photo: np.ndarray, style: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (image, painting it is compared with)."""
    w = style.shape[1] // 2
    return {
        "oracle: painting's bands (mirrored) on the photo's low-pass": (oracle(photo, style), style),
        "oracle: painting's bands (squashed) on the photo's low-pass": (oracle(photo, style, "squash"), style),
        "floor: painting vs itself shifted 8 px": (style[:, 8:], style[:, :-8]),
        "floor: left half vs right half": (style[:, :w], style[:, w : 2 * w]),
        "painting squashed to output shape": (resize_to(style, photo.shape[:2]), style),
        "painting, 16 px blocks shuffled": (block_shuffle(style, 16), style),
        "painting, 32 px blocks shuffled": (block_shuffle(style, 32), style),
        "photo recoloured to painting (colour only)": (match_histogram(photo, style), style),
        "photo": (photo, style),
    }


def score(image: np.ndarray, painting: np.ndarray, photo: np.ndarray) -> dict[str, object]:
    """Per-level SWDs of `image` vs `painting` for each normalisation, and band energies."""
    levels = min(M.pyramid_levels(x.shape[:2]) for x in (image, painting, photo))
    a, s = raw_patches(image, levels), raw_patches(painting, levels)
    row: dict[str, object] = {"energy": energies(image, levels), "flat": flat_share(image, levels)}
    for how in NORMS:
        row[how] = level_swd(a, s, how)
    return row


def fmt(values: list[float]) -> str:
    return " ".join(f"{v:7.4f}" for v in values)


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """tests/engine/test_metrics.py's random texture: blurred Gaussian noise, stretched."""
    x = np.random.default_rng(seed).normal(0, 1, (h, w, 3)).astype(np.float32)
    x = M._blur(M._blur(x))
    return np.clip(128 + 40 * (x - x.mean()) / x.std(), 0, 255).astype(np.uint8)


def _stripes(h: int, w: int, period: int = 8) -> np.ndarray:
    xx = np.mgrid[0:h, 0:w][1]
    return np.repeat((128 + 100 * np.sin(2 * np.pi * xx / period))[..., None], 3, axis=-1).astype(np.uint8)


def synthetic() -> None:
    """The synthetic check of tests/engine/test_metrics.py (a shifted crop of a texture vs
    stripes; the test wants shifted < different / 3) under each normalisation."""
    big = _texture(300, 300, seed=1)
    a, shifted, other = big[:256, :256], big[20:276, 30:286], _stripes(256, 256)
    levels = M.pyramid_levels(a.shape[:2])
    ref = raw_patches(a, levels)
    for how in NORMS:
        same = level_swd(raw_patches(shifted, levels), ref, how)
        diff = level_swd(raw_patches(other, levels), ref, how)
        for name, sl in (("all", slice(None)), ("band", slice(0, -1))):
            s, d = np.mean(same[sl]), np.mean(diff[sl])
            print(f"synthetic {how:5} {name:4}: shifted {s:.4f}  different {d:.4f}  shifted/different {s / d:.3f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pair", default="astronaut:great_wave", help="PHOTO:PAINTING by file stem")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--outputs", default="", help="output PNGs, comma-separated")
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    p.add_argument("--synthetic", action="store_true")
    args = p.parse_args(argv)
    if args.synthetic:
        synthetic()
    name, painting = args.pair.split(":")
    photo_full = load_image_file(IMAGES / "content" / f"{name}.jpg")
    style = resize_longest(load_image_file(IMAGES / "style" / f"{painting}.jpg"), args.size, 32)
    photo = resize_longest(photo_full, args.size, 32)
    items = references(photo, style)
    for path in filter(None, args.outputs.split(",")):
        out = np.asarray(Image.open(path).convert("RGB"))
        items[Path(path).stem] = (out, style)
    rows = {}
    photo_row = score(photo, style, photo)
    print(f"{args.pair} {args.size} px; painting {style.shape[1]}x{style.shape[0]}; SWD per level, finest first")
    for key, (img, ref) in items.items():
        row = score(img, ref, photo)
        rows[key] = row
        print(f"\n{key}\n  energy  {fmt(row['energy'])}   flat share {fmt(row['flat'])}")
        for how in NORMS:
            lv, base = row[how], photo_row[how]
            r_all = np.mean(lv) / np.mean(base[: len(lv)])
            r_band = np.mean(lv[:-1]) / np.mean(base[: len(lv) - 1]) if len(lv) > 1 else float("nan")
            print(f"  {how:5}  {fmt(lv)}   ratio {r_all:.3f}  band-only {r_band:.3f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

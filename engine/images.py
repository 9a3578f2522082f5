"""Image I/O with Pillow: whatever is on the user's disk -> RGB uint8 arrays, and back.

Only this module decodes image files, and it refuses oversized images *before* decoding:
a PNG header can claim 50,000 x 50,000 px in a few bytes, and a 97 KB PNG of 10,000 x
10,000 px decodes to gigabytes. `Image.open` reads only the header, so the size is checked
there against the project's own limit, `MAX_PIXELS`; Pillow's own decompression-bomb check
(a different number) is kept out of the way so it never answers first.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from engine.errors import ImageError

# 64 Mpx: larger than any camera photo a user would style (8000 x 8000 is 64 Mpx), and a
# memory budget we can afford: decoded as 8-bit RGB it is 192 MB (3 bytes a pixel).
MAX_PIXELS = 64_000_000

# Pillow's limit is a module global; it is switched off only while a header is read, under
# this lock, so two threads (Streamlit runs sessions in threads) cannot restore it wrongly.
_PILLOW_LIMIT_LOCK = threading.Lock()


def check_pixels(size: tuple[int, int], name: str = "image") -> None:
    """Raise ImageError when an image of `size` (width, height) is over `MAX_PIXELS`."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name}: {width} x {height} px is {width * height:,} pixels, over the {MAX_PIXELS:,} pixel limit "
            f"({MAX_PIXELS // 1_000_000} Mpx)"
        )


def _open_header(data: bytes, name: str) -> Image.Image:
    """`Image.open` (reads the header only, decodes nothing) and the project's pixel check.

    Pillow's own bomb check would otherwise fire first above its ~179 Mpx with a message
    naming its number, not ours; with it off for the header, ours is the only limit."""
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            img = Image.open(io.BytesIO(data))
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    check_pixels(img.size, name)
    return img


def _decode(data: bytes, name: str, side: int | None) -> Image.Image:
    """Header check, first frame, optional thumbnail of longest side `side`, upright RGB.

    Every error a user's file can cause becomes one ImageError line naming the file."""
    if not data:
        raise ImageError(f"{name}: file is empty")
    try:
        img = _open_header(data, name)
        img = next(ImageSequence.Iterator(img))  # animated GIF/PNG: the first frame
        if side is not None:
            img = _shrink(img, side)
        img = ImageOps.exif_transpose(img)  # phone photos: honour the EXIF rotation
        return _to_rgb(img)
    except ImageError:
        raise
    except Image.DecompressionBombError:  # a later GIF frame can grow past the header's size
        raise ImageError(f"{name}: image is over the {MAX_PIXELS:,} pixel limit") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not a readable image file") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: damaged or truncated image ({exc})") from None


def _shrink(img: Image.Image, side: int) -> Image.Image:
    """Shrink to fit `side` x `side` without decoding a large JPEG at full size.

    `draft` makes the JPEG decoder itself scale by 1/2, 1/4 or 1/8 (never below `side`),
    then `thumbnail` reduces by whole factors (`Image.reduce`) and resamples the rest."""
    img.draft("RGB", (side, side))  # no-op for formats without scaled decoding
    try:
        img.thumbnail((side, side))
    except ValueError:  # a mode Pillow cannot resample (e.g. 16-bit): convert first
        img = _to_rgb(img)
        img.thumbnail((side, side))
    return img


def open_image(data: bytes, name: str = "image") -> Image.Image:
    """Decode bytes to an upright RGB Pillow image at full size, refusing images over
    `MAX_PIXELS` before decoding."""
    return _decode(data, name, None)


def open_thumbnail(data: bytes, name: str, side: int) -> Image.Image:
    """An upright RGB preview whose longest side is at most `side` px, refusing images over
    `MAX_PIXELS` before decoding; JPEGs are decoded at a reduced scale (`Image.draft`)."""
    return _decode(data, name, side)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Greyscale, 16-bit, palette, CMYK and alpha images -> 8-bit RGB on white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits instead of letting Pillow clip at 255.
        arr = np.asarray(img, dtype=np.float32)  # float32: half the memory of float64, exact enough
        peak = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    return img.convert("RGB")


def load_image_file(path: str | Path) -> np.ndarray:
    """Read an image file -> RGB uint8 array at full size."""
    p = Path(path)
    if not p.exists():
        raise ImageError(f"{p}: no such file")
    if p.is_dir():
        raise ImageError(f"{p}: is a directory, not an image")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageError(f"{p}: cannot read ({exc.strerror})") from None
    return np.asarray(open_image(data, name=str(p)))


def resize_longest(rgb: np.ndarray, size: int, min_side: int = 1) -> np.ndarray:
    """Resize so the longest side is `size` px (Lanczos), keeping the aspect ratio.

    The shorter side never drops below `min_side`: a backbone needs a minimum input and a
    1:20 panorama would otherwise shrink to a sliver.
    """
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    new_w = max(min_side, round(w * scale))
    new_h = max(min_side, round(h * scale))
    if (new_w, new_h) == (w, h):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.LANCZOS))


def resize_to(rgb: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """Resize to an exact (height, width)."""
    if rgb.shape[:2] == tuple(shape_hw):
        return rgb
    h, w = shape_hw
    return np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.LANCZOS))

"""Image I/O with Pillow: whatever is on the user's disk -> RGB uint8 arrays, and back.

Only this module decodes image files, and it refuses oversized images *before* decoding
(a PNG header can claim 50,000 x 50,000 px in a few bytes).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from engine.errors import ImageError

# Larger than any photo a user would style (about 16k x 16k) but far below what would
# exhaust memory when decoded as RGB.
MAX_PIXELS = 268_000_000


def open_image(data: bytes, name: str = "image") -> Image.Image:
    """Decode bytes to an upright RGB Pillow image, refusing bombs before decoding."""
    if not data:
        raise ImageError(f"{name}: file is empty")
    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_PIXELS:
            raise ImageError(f"{name}: {img.width} x {img.height} px is over the {MAX_PIXELS:,} pixel limit")
        img = next(ImageSequence.Iterator(img))  # animated GIF/PNG: the first frame
        img = ImageOps.exif_transpose(img)  # phone photos: honour the EXIF rotation
        return _to_rgb(img)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: image is over the {MAX_PIXELS:,} pixel limit") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not a readable image file") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{name}: damaged or truncated image ({exc})") from None


def _to_rgb(img: Image.Image) -> Image.Image:
    """Greyscale, 16-bit, palette, CMYK and alpha images -> 8-bit RGB on white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits instead of letting Pillow clip at 255.
        arr = np.asarray(img, dtype=np.float64)
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

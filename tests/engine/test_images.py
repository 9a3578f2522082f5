import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from engine.errors import ImageError
from engine.images import load_image_file, open_image, resize_longest


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A valid 1 x 1 PNG whose header is patched to claim `width` x `height` (a bomb)."""
    png = bytearray(_save(Image.new("RGB", (1, 1)), "PNG"))
    png[16:24] = struct.pack(">II", width, height)  # IHDR data starts at byte 16
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))  # IHDR CRC
    return bytes(png)


RGB = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "data",
    [
        _save(RGB.convert("L"), "PNG"),
        _save(RGB.convert("RGBA"), "PNG"),
        _save(RGB.convert("P"), "PNG", transparency=0),
        _save(RGB.convert("CMYK"), "JPEG"),
        _save(Image.fromarray(np.arange(600, dtype=np.uint16).reshape(20, 30) * 100), "PNG"),
        _save(RGB, "GIF", save_all=True, append_images=[RGB.rotate(90)]),
    ],
    ids=["grey", "rgba", "palette-transparent", "cmyk-jpeg", "16-bit", "animated-gif"],
)
def test_modes_become_rgb(data):
    img = open_image(data)
    assert img.mode == "RGB"
    assert img.size == (30, 20)


def test_sixteen_bit_is_scaled_not_clipped():
    arr = np.full((4, 4), 65535, dtype=np.uint16)
    arr[0, 0] = 0
    img = np.asarray(open_image(_save(Image.fromarray(arr), "PNG")))
    assert img[1, 1, 0] == 255 and img[0, 0, 0] == 0


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    data = _save(RGB, "JPEG", exif=exif.tobytes())
    assert open_image(data).size == (20, 30)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"this is not an image", "not a readable image"),
        (_save(RGB, "PNG")[:60], "damaged or truncated|not a readable"),
        (_save(RGB, "JPEG")[:200], "damaged or truncated"),
        (_png_claiming(50_000, 50_000), "pixel limit"),
    ],
    ids=["empty", "text", "truncated-png", "truncated-jpeg", "bomb"],
)
def test_bad_inputs_give_one_clear_error(data, message):
    with pytest.raises(ImageError, match=message):
        open_image(data, name="x")


def test_load_image_file_errors(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image_file(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="directory"):
        load_image_file(tmp_path)


def test_resize_longest_keeps_aspect_and_minimum_side():
    img = np.zeros((100, 2000, 3), np.uint8)  # a 1:20 panorama
    out = resize_longest(img, 512, min_side=32)
    assert out.shape == (32, 512, 3)
    assert resize_longest(np.zeros((300, 400, 3), np.uint8), 64).shape == (48, 64, 3)

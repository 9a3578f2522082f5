import io
import struct
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, JpegImagePlugin

from engine.errors import ImageError
from engine.images import MAX_PIXELS, check_pixels, load_image_file, open_image, open_thumbnail, resize_longest


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
        (_png_claiming(50_000, 50_000), "50000 x 50000 px is 2,500,000,000 pixels, over the 64,000,000 pixel limit"),
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


# --- the pixel limit: the project's own, checked from the header before decoding ------------


def _tiny_huge_png(width: int, height: int) -> bytes:
    """A real, fully decodable PNG of width x height px in a few kilobytes (1-bit, all black)."""
    return _save(Image.new("1", (width, height)), "PNG")


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    """10,000 x 10,000 px (100 Mpx: over our limit, under Pillow's own ~179 Mpx) in ~12 KB."""
    return _tiny_huge_png(10_000, 10_000)


def test_the_limit_is_64_megapixels():
    assert MAX_PIXELS == 64_000_000
    check_pixels((8000, 8000))  # 64 Mpx exactly is allowed (not decoded here: 192 MB as RGB)
    with pytest.raises(ImageError, match="8000 x 8001 px"):
        check_pixels((8000, 8001))


@pytest.mark.parametrize("opener", [open_image, lambda data, name: open_thumbnail(data, name, 160)])
def test_a_small_file_of_a_huge_image_is_refused_before_decoding(huge_png, monkeypatch, opener):
    assert len(huge_png) < 100_000

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("decoded an image over the pixel limit")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's own DecompressionBombWarning would be an error here
        with pytest.raises(ImageError) as info:
            opener(huge_png, "huge.png")
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert message == "huge.png: 10000 x 10000 px is 100,000,000 pixels, over the 64,000,000 pixel limit (64 Mpx)"
    assert "\n" not in message


def test_pillows_own_limit_never_answers_first_and_is_restored():
    before = Image.MAX_IMAGE_PIXELS
    # Over Pillow's own limit (2 x MAX_IMAGE_PIXELS): still our message, naming the size.
    with pytest.raises(ImageError, match="60000 x 60000 px .* over the 64,000,000 pixel limit"):
        open_image(_png_claiming(60_000, 60_000), "x")
    assert before == Image.MAX_IMAGE_PIXELS  # the header read switches it off only for itself


def test_load_image_file_refuses_a_huge_file(tmp_path, huge_png):
    path = tmp_path / "huge.png"
    path.write_bytes(huge_png)
    with pytest.raises(ImageError, match=f"{path}: 10000 x 10000 px .* pixel limit"):
        load_image_file(path)


# --- thumbnails: never a large image decoded at full size --------------------------------


def record_jpeg_decodes(monkeypatch) -> list[tuple[int, int]]:
    """The size of every JPEG Pillow decodes from now on (the draft size, when reduced)."""
    decoded: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.load

    def spy(self):
        out = original(self)
        decoded.append(self.size)
        return out

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy)
    return decoded


def test_a_large_jpeg_preview_is_decoded_at_reduced_scale(monkeypatch):
    data = _save(Image.new("RGB", (2400, 1600), (200, 30, 60)), "JPEG")
    decoded = record_jpeg_decodes(monkeypatch)
    img = open_thumbnail(data, "big.jpg", 160)
    assert img.mode == "RGB" and img.size == (160, 107)
    assert decoded and decoded[0] == (300, 200)  # the decoder itself scaled by 1/8 (draft)


@pytest.mark.parametrize(
    "data",
    [
        _save(Image.new("RGB", (900, 300)), "PNG"),
        _save(RGB.convert("P"), "PNG", transparency=0),
        _save(Image.fromarray(np.arange(600, dtype=np.uint16).reshape(20, 30) * 100), "PNG"),
        _save(RGB.convert("CMYK"), "JPEG"),
    ],
    ids=["png", "palette", "16-bit", "cmyk-jpeg"],
)
def test_thumbnails_fit_the_side_in_rgb(data):
    img = open_thumbnail(data, "x", 16)
    assert img.mode == "RGB" and max(img.size) <= 16


def test_thumbnail_honours_exif_rotation():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    data = _save(Image.new("RGB", (300, 200)), "JPEG", exif=exif.tobytes())
    assert open_thumbnail(data, "x", 60).size == (40, 60)

"""dashboard/launch.py: configs from form values, queueing, and the real worker spawn."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFile

from dashboard import launch, launch_form
from engine.backbones import BACKBONES
from engine.errors import ConfigError, ImageError, UnknownLayerError, UserError, WeightsError
from store import images as store_images
from tests.engine.test_images import record_jpeg_decodes

TINY = {"size": 32, "iterations": 3, "snapshot_every": 0, "weights": "none"}


def test_build_config_resolves_backbone_defaults():
    cfg = launch.build_config({"backbone": "resnet50", **TINY})
    bb = BACKBONES["resnet50"]
    assert cfg.content_layer == bb.content_layer and cfg.style_layers == bb.style_layers
    assert cfg.learning_rate == bb.defaults["portable"].learning_rate and cfg.iterations == 3


@pytest.mark.parametrize(
    "values, error, message",
    [
        ({"learning_rate": 0.0}, ConfigError, "learning rate"),
        ({"style_layers": ()}, ConfigError, "style layers is empty: name at least one"),
        ({"content_layer": "block5_conv9"}, UnknownLayerError, "did you mean"),
        ({"weights": "/nowhere/w.h5"}, WeightsError, "does not exist"),
        ({"weights": " "}, WeightsError, "path of a .h5"),
    ],
)
def test_build_config_errors_are_one_line(values, error, message):
    with pytest.raises(UserError, match=message) as info:  # the errors the form shows
        launch.build_config({"backbone": "vgg16", **TINY, **values})
    with pytest.raises(error, match=message) as info:
        launch.build_config({"backbone": "vgg16", **TINY, **values})
    assert "\n" not in str(info.value)


def test_both_backbones_share_settings_but_not_tuned_defaults():
    configs = launch.both_backbone_configs({**TINY, "backbone": "vgg16", "learning_rate": 1.0, "seed": 7})
    assert [c.backbone for c in configs] == list(BACKBONES)
    for cfg in configs:
        bb = BACKBONES[cfg.backbone]
        assert cfg.learning_rate == bb.defaults["portable"].learning_rate and cfg.style_layers == bb.style_layers
        assert (cfg.seed, cfg.iterations, cfg.size) == (7, 3, 32)
    with pytest.raises(ConfigError, match="one backbone"):
        launch.both_backbone_configs({**TINY, "weights": "/some/file.h5"})


def test_uploaded_names_are_display_names_only(db, image_files):
    content, _ = image_files
    upload = launch.ImageInput(data=content.read_bytes(), name="../../etc/passwd.jpg")
    image_id = launch.store_input(db, upload)
    assert store_images.list_input_images(db, "content") == []  # no run uses it yet
    assert launch.display_name("C:\\Users\\me\\photo.jpg") == "photo.jpg"
    with pytest.raises(ImageError, match="not a readable image"):
        launch.store_input(db, launch.ImageInput(data=b"junk", name="x.png"))
    assert launch.store_input(db, launch.ImageInput(image_id=image_id)) == image_id
    with pytest.raises(ConfigError, match="no longer in the store"):
        launch.store_input(db, launch.ImageInput(image_id="0" * 64))


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_upload_preview_refuses_a_huge_image_from_its_header(monkeypatch):
    huge = _encode(Image.new("1", (10_000, 10_000)), "PNG")  # 100 Mpx in ~12 KB

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("decoded an image over the pixel limit")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageError, match="huge.png: 10000 x 10000 px .* over the 64,000,000 pixel limit"):
        launch_form.upload_preview(huge, "huge.png")


def test_upload_preview_decodes_a_large_jpeg_at_reduced_scale(monkeypatch):
    data = _encode(Image.new("RGB", (2400, 1600), (10, 120, 200)), "JPEG")
    decoded = record_jpeg_decodes(monkeypatch)
    preview = Image.open(io.BytesIO(launch_form.upload_preview(data, "big.jpg")))
    assert preview.format == "PNG" and max(preview.size) <= launch_form.PREVIEW_SIDE
    assert decoded[0] == (300, 200)  # 1/8 of 2400 x 1600: never decoded at full size
    assert all(max(size) <= 300 for size in decoded)

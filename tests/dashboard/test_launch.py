"""dashboard/launch.py and the Launch form: configs from form values, weights checks, queueing,
a form that survives moving between pages, and Edit and re-run."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image, ImageFile

from dashboard import launch, launch_form
from engine.backbones import BACKBONES
from engine.config import FIELDS
from engine.errors import ConfigError, ImageError, MemoryBudgetError, UnknownLayerError, UserError, WeightsError
from store import images as store_images
from store import runs as store_runs
from tests.dashboard.conftest import page
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
    url = launch_form.upload_preview(data, "big.jpg")
    assert url.startswith("data:image/png;base64,")  # inside the page: no media file to lose
    preview = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert preview.format == "PNG" and max(preview.size) <= launch_form.PREVIEW_SIDE
    assert decoded[0] == (300, 200)  # 1/8 of 2400 x 1600: never decoded at full size
    assert all(max(size) <= 300 for size in decoded)


# --- the Launch page: a form that remembers, weights per backbone, edit and re-run --------


@pytest.fixture(autouse=True)
def imagenet_downloadable(monkeypatch):
    """Whether ImageNet weights could be downloaded is the network's business: these tests
    say it, the offline ones say otherwise."""
    monkeypatch.setattr(launch, "can_download", lambda: True)


def weights_file(path, backbone: str, layers: slice = slice(None)):
    """A legacy Keras .h5 weights file holding `backbone`'s layer names and weight shapes
    (never written values: the datasets take no space)."""
    import h5py

    signature = launch.weights_signature(backbone)[layers]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [name.encode() for name, _ in signature]
        for name, shapes in signature:
            group = f.create_group(name)
            names = [f"{name}/w{k}" for k in range(len(shapes))]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for n, shape in zip(names, shapes, strict=True):
                group.create_dataset(n, shape=shape, dtype="f4")
    return path


def _sidebar_text(at) -> str:
    """The sidebar's messages as a reader sees them (Markdown escapes removed)."""
    parts = [*at.sidebar.error, *at.sidebar.warning, *at.sidebar.caption, *at.sidebar.info]
    return "\n".join(str(e.value) for e in parts).replace("\\", "")


def leave_the_page(at, to: str = "gallery.py"):
    """Run another page, then come back as a browser session does: Streamlit has dropped
    the Launch widgets' state by then (AppTest's own page switch keeps it), so the page
    comes back in a new AppTest holding only the session's plain (non-widget) keys."""
    at.switch_page(to).run()
    assert not at.exception
    uploads = {k for k in at.session_state._state.filtered_state if k.endswith("_upload")}
    widgets = {*launch_form.form_keys(), "launch_content_upload", "launch_style_upload", *uploads, "launch_run"}
    kept = {k: v for k, v in at.session_state._state.filtered_state.items() if k not in widgets}
    back = page("launch.py")
    for name, value in kept.items():
        back.session_state[name] = value
    back.run()
    assert not back.exception
    return back


def _captions(at) -> list[str]:
    return [c.replace("\\", "") for img in at.sidebar.image for c in img.captions]


def _upload(at, role: str, path, name: str) -> None:
    at.file_uploader(key=f"launch_{role}_upload").set_value((name, path.read_bytes(), "image/png"))


def test_the_form_survives_moving_to_another_page_and_back(db, image_files, tmp_path):
    content, style = image_files
    vgg_file = weights_file(tmp_path / "vgg.h5", "vgg16")
    at = page("launch.py").run()
    at.selectbox(key="launch_backbone").set_value("resnet50").run()
    at.number_input(key="launch_size").set_value(64)
    at.number_input(key="launch_iterations").set_value(7)
    at.selectbox(key="launch_optimizer").set_value("lbfgs").run()  # resets the rate to L-BFGS's 1
    at.number_input(key="launch_learning_rate").set_value(3.5)
    at.multiselect(key="launch_style_layers").set_value(["conv1_relu", "conv2_block1_out"])
    at.checkbox(key="launch_keep_best").check()
    at.radio(key="launch_weights").set_value("local file").run()
    at.text_input(key="launch_weights_vgg16").input(str(vgg_file))
    _upload(at, "content", content, "mine.png")
    _upload(at, "style", style, "painting.png")
    at.run()
    assert not at.exception
    at = leave_the_page(at)
    assert at.selectbox(key="launch_backbone").value == "resnet50"
    assert (at.number_input(key="launch_size").value, at.number_input(key="launch_iterations").value) == (64, 7)
    assert at.number_input(key="launch_learning_rate").value == 3.5
    assert at.multiselect(key="launch_style_layers").value == ["conv1_relu", "conv2_block1_out"]
    assert at.checkbox(key="launch_keep_best").value and at.selectbox(key="launch_optimizer").value == "lbfgs"
    assert at.radio(key="launch_weights").value == "local file"
    assert at.text_input(key="launch_weights_vgg16").value == str(vgg_file)
    assert _captions(at) == ["mine.png (uploaded earlier)", "painting.png (uploaded earlier)"]
    # ... and it is what a run gets: the uploads, not another image
    at.radio(key="launch_weights").set_value("none").run()
    at.button(key="launch_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = store_runs.get_run(db, 1)
    assert (run["backbone"], run["size"], run["iterations"], run["optimizer"]) == ("resnet50", 64, 7, "lbfgs")
    assert store_images.list_input_images(db, "content") == [(run["content_image"], "mine.png")]
    assert store_images.list_input_images(db, "style") == [(run["style_image"], "painting.png")]


def test_a_removed_upload_is_forgotten(db, image_files):
    content, _ = image_files
    at = page("launch.py").run()
    _upload(at, "content", content, "mine.png")
    at.run()
    at = leave_the_page(at, "home.py")
    assert _captions(at) == ["mine.png (uploaded earlier)"]
    at.button(key="launch_content_forget").click().run()
    assert not _captions(at)
    assert "No stored content images yet" in _sidebar_text(at)


def test_a_weights_file_belongs_to_one_backbone_and_is_checked_before_queuing(populated, tmp_path):
    vgg_file = weights_file(tmp_path / "vgg.h5", "vgg16")
    at = page("launch.py").run()
    at.radio(key="launch_weights").set_value("local file").run()
    at.text_input(key="launch_weights_vgg16").input(str(vgg_file)).run()
    assert not at.sidebar.error and not at.button(key="launch_run").disabled  # it fits VGG16
    at.selectbox(key="launch_backbone").set_value("resnet50").run()
    assert at.text_input(key="launch_weights_resnet50").value == ""  # no silent carry-over
    assert at.button(key="launch_run").disabled and "give the path of a .h5" in _sidebar_text(at)
    at.text_input(key="launch_weights_resnet50").input(str(vgg_file)).run()
    assert not at.exception
    assert "holds 13 layers with weights, ResNet50 has 106" in _sidebar_text(at)
    assert "looks like a VGG16 weights file" in _sidebar_text(at)
    assert at.button(key="launch_run").disabled and at.button(key="launch_run_both").disabled  # nothing queued


def test_check_weights_file_compares_layers_and_shapes(tmp_path):
    resnet_file = weights_file(tmp_path / "resnet.h5", "resnet50")
    assert launch.check_weights_file(str(resnet_file), "resnet50") == resnet_file
    with pytest.raises(WeightsError, match="looks like a ResNet50 weights file; give a VGG16 weights file"):
        launch.check_weights_file(str(resnet_file), "vgg16")
    short = weights_file(tmp_path / "short.h5", "vgg16", slice(0, 12))
    with pytest.raises(WeightsError, match="holds 12 layers with weights, VGG16 has 13"):
        launch.check_weights_file(str(short), "vgg16")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="not a readable Keras weights file"):
        launch.check_weights_file(str(tmp_path / "junk.h5"), "vgg16")


def test_run_on_both_backbones_takes_a_weights_file_per_backbone(populated, tmp_path):
    files = {b: str(weights_file(tmp_path / f"{b}.h5", b)) for b in BACKBONES}
    at = page("launch.py").run()
    at.number_input(key="launch_iterations").set_value(6)
    at.radio(key="launch_weights").set_value("local file").run()
    at.text_input(key="launch_weights_vgg16").input(files["vgg16"]).run()
    assert at.button(key="launch_run_both").disabled  # ResNet50 has no file yet
    assert "Run on both backbones is off: ResNet50" in _sidebar_text(at)
    at.text_input(key="launch_weights_resnet50").input(files["resnet50"]).run()
    assert not at.button(key="launch_run_both").disabled
    at.button(key="launch_run_both").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    runs = [store_runs.get_run(populated, i) for i in (3, 4)]
    assert {r["backbone"]: r["weights"] for r in runs} == files
    with pytest.raises(ConfigError, match="give a weights file for ResNet50 too"):
        launch.both_backbone_configs({**TINY, "weights": files["vgg16"]}, {"vgg16": files["vgg16"]})


def test_imagenet_weights_this_machine_cannot_get_are_said_before_queuing(populated, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(launch, "can_download", lambda: False)
    cache = tmp_path / "keras" / "models"
    cache.mkdir(parents=True)
    (cache / BACKBONES["vgg16"].keras_cache_file).write_bytes(b"cached")  # VGG16's file is there
    at = page("launch.py").run()
    assert not at.exception and not at.sidebar.error  # VGG16: fine
    assert not at.button(key="launch_run").disabled and at.button(key="launch_run_both").disabled
    at.selectbox(key="launch_backbone").set_value("resnet50").run()
    text = _sidebar_text(at)
    resnet_cache = cache / BACKBONES["resnet50"].keras_cache_file
    assert f"ImageNet weights for ResNet50 are not in Keras's cache ({resnet_cache})" in text
    assert 'this machine cannot download them: choose "local file" and give a .h5 weights file' in text
    assert "--weights" not in _sidebar_text(at)
    assert at.button(key="launch_run").disabled
    at.radio(key="launch_weights").set_value("none").run()
    assert not at.button(key="launch_run").disabled


def test_edit_and_rerun_fills_the_whole_form_from_a_run_once(populated):
    source = store_runs.get_run(populated, 2)  # resnet50, lr 20, 8 steps at 32 px, weights none
    at = page("launch.py")
    at.query_params["from_run"] = "2"
    at.run()
    assert not at.exception
    assert "Form filled from run #2" in _sidebar_text(at)
    for name in FIELDS:
        assert at.session_state[launch_form.key(name)] == launch_form.form_value(name, source["config"][name]), name
    assert at.selectbox(key="launch_content_pick").value == source["content_image"]
    assert at.selectbox(key="launch_style_pick").value == source["style_image"]
    assert at.radio(key="launch_weights").value == "none"
    assert "from_run" not in at.query_params  # consumed: edits stick
    at.number_input(key="launch_iterations").set_value(5).run()
    at.run()
    assert at.number_input(key="launch_iterations").value == 5
    at.button(key="launch_run").click().run()
    assert not at.exception
    run = store_runs.get_run(populated, 3)
    assert {**run["config"], "iterations": 8} == source["config"]
    assert (run["content_image"], run["style_image"]) == (source["content_image"], source["style_image"])


def test_edit_and_rerun_restores_a_local_weights_file(populated, tmp_path):
    path = str(weights_file(tmp_path / "resnet.h5", "resnet50"))
    source = store_runs.get_run(populated, 2)
    run_id = store_runs.create_run(
        populated, {**source["config"], "weights": path}, source["content_image"], source["style_image"], "f"
    )
    at = page("launch.py")
    at.query_params["from_run"] = str(run_id)
    at.run()
    assert at.radio(key="launch_weights").value == "local file"
    assert at.text_input(key="launch_weights_resnet50").value == path
    assert at.text_input(key="launch_weights_vgg16").value == ""


# --- several style images, blend weights, masks, memory (issue 14) ---------------------------


def _png_file(path, rgb):
    Image.fromarray(rgb).save(path)
    return path


@pytest.fixture()
def more_images(tmp_path):
    """A second painting (40 x 56 px) and two masks (left and right halves, 20 x 20 px)."""
    import numpy as np

    from tests.conftest import synthetic_image

    left = np.zeros((20, 20), np.uint8)
    left[:, :10] = 255
    return {
        "style2": _png_file(tmp_path / "second.png", synthetic_image(40, 56, seed=5)),
        "mask1": _png_file(tmp_path / "left.png", left),
        "mask2": _png_file(tmp_path / "right.png", 255 - left),
    }


def _blob_id(path) -> str:
    """The store id the image at `path` gets (its decoded pixels' PNG hash)."""
    import numpy as np

    from engine.images import open_image

    return store_images.make_blob(np.asarray(open_image(path.read_bytes(), path.name))).id


def _two_styles(at, image_files, more_images, weights=(0.7, 0.3)):
    """Fill the form: content and two style uploads, their blend weights, tiny settings."""
    content, style = image_files
    _upload(at, "content", content, "photo.png")
    _upload(at, "style", style, "first.png")
    at.number_input(key="launch_style_count").set_value(2).run()
    _upload(at, "style2", more_images["style2"], "second.png")
    at.number_input(key="launch_style_blend").set_value(weights[0])
    at.number_input(key="launch_style2_blend").set_value(weights[1])
    at.number_input(key="launch_size").set_value(32)
    at.number_input(key="launch_iterations").set_value(3)
    at.radio(key="launch_weights").set_value("none")
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_two_styles_are_queued_with_their_blend_weights_and_network_sizes(db, image_files, more_images):
    from engine.styles import style_shape

    at = page("launch.py").run()
    boxes = [w.key for w in at.text_input]
    assert "launch_style_blend_weights" not in boxes  # no free-text box: set from the weights
    _two_styles(at, image_files, more_images)
    assert not at.sidebar.error, [e.value for e in at.sidebar.error]
    at.button(key="launch_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    run = store_runs.get_run(db, 1)
    assert run["config"]["style_blend_weights"] == pytest.approx([0.7, 0.3])
    cfg = launch.build_config(run["config"])
    styles = store_runs.get_styles(db, 1)
    first, second = _blob_id(image_files[1]), _blob_id(more_images["style2"])
    assert [s["image_id"] for s in styles] == [first, second] and run["style_image"] == first
    assert [s["weight"] for s in styles] == pytest.approx([0.7, 0.3])
    assert [s["mask_image"] for s in styles] == [None, None]
    assert [(s["height"], s["width"]) for s in styles] == [style_shape(cfg, (40, 40)), style_shape(cfg, (40, 56))]
    assert [s["name"] for s in styles] == ["first.png", "second.png"]


def test_equal_blend_weights_store_as_equal_and_all_zero_is_refused(db, image_files, more_images):
    at = page("launch.py").run()
    _two_styles(at, image_files, more_images, weights=(2.0, 2.0))
    at.button(key="launch_run").click().run()
    assert not at.error, [e.value for e in at.error]
    assert store_runs.get_run(db, 1)["config"]["style_blend_weights"] == pytest.approx([0.5, 0.5])
    at.number_input(key="launch_style_blend").set_value(0.0)
    at.number_input(key="launch_style2_blend").set_value(0.0).run()
    assert "style blend weights are all zero" in _sidebar_text(at)
    at.button(key="launch_run").click().run()
    assert len(store_runs.list_runs(db)) == 1  # nothing more queued


def test_a_mask_for_one_of_two_styles_is_one_line_and_queues_nothing(db, image_files, more_images):
    at = page("launch.py").run()
    _two_styles(at, image_files, more_images)
    _upload(at, "style_mask", more_images["mask1"], "left.png")
    at.run()
    assert not at.exception
    assert any("mask: left.png" in c for c in _captions(at))  # the small preview
    (error,) = [str(e.value).replace("\\", "") for e in at.sidebar.error]
    assert "1 style mask(s) given for 2 style image(s): give one per style, or none" in error
    assert "\n" not in error
    at.button(key="launch_run").click().run()
    assert not at.exception
    assert store_runs.list_runs(db).empty
    ids = [_blob_id(p) for p in (*image_files, *more_images.values())]
    assert store_images.get_thumbs(db, ids) == {}  # no image stored either
    # a mask for each style: queued, masks stored with the run in order
    _upload(at, "style2_mask", more_images["mask2"], "right.png")
    at.run()
    assert not at.sidebar.error, [e.value for e in at.sidebar.error]
    at.button(key="launch_run").click().run()
    styles = store_runs.get_styles(db, 1)
    assert [s["mask_image"] for s in styles] == [_blob_id(more_images["mask1"]), _blob_id(more_images["mask2"])]
    assert [s["mask_name"] for s in styles] == ["left.png", "right.png"]


def test_a_mask_that_is_not_an_image_queues_nothing(db, image_files):
    content, style = image_files
    with pytest.raises(ImageError, match="not a readable image") as info:
        launch.queue_runs(
            db,
            [launch.build_config(TINY)],
            launch.ImageInput(data=content.read_bytes(), name="photo.jpg"),
            [launch.StyleChoice(launch.ImageInput(data=style.read_bytes()), launch.ImageInput(data=b"junk"))],
        )
    assert "\n" not in str(info.value)
    assert store_runs.list_runs(db).empty and store_images.get_thumbs(db, [_blob_id(content)]) == {}


def test_the_memory_estimate_shows_and_a_run_too_big_is_off(db, image_files, monkeypatch):
    from engine import memory
    from engine.memory import estimate

    monkeypatch.setattr(memory, "available_bytes", lambda: 8 * memory.GIB)  # a machine with 8 GiB free
    content, _ = image_files
    at = page("launch.py").run()
    assert not any("GiB peak" in str(c.value) for c in at.sidebar.caption)  # no content image yet
    _upload(at, "content", content, "photo.png")
    at.number_input(key="launch_size").set_value(64).run()
    cfg = launch.build_config({"size": 64})
    expected = estimate(cfg, (48, 64)).describe()
    assert f"Memory: {expected}" in [str(c.value) for c in at.sidebar.caption]
    assert not at.button(key="launch_run").disabled
    at.number_input(key="launch_size").set_value(4096).run()  # tens of GiB untiled
    text = _sidebar_text(at)
    with pytest.raises(MemoryBudgetError) as refused:
        memory.check_fits(launch.build_config({"size": 4096}), (48, 64), available=8 * memory.GIB)
    assert str(refused.value) in text and "try --max-tile-px" in text
    assert at.button(key="launch_run").disabled
    at.number_input(key="launch_max_tile_px").set_value(256).run()
    assert not at.button(key="launch_run").disabled
    tiled = estimate(launch.build_config({"size": 4096, "max_tile_px": 256}), (48, 64))
    assert tiled.tiles > 1 and f"Memory: {tiled.describe()}" in [str(c.value) for c in at.sidebar.caption]


def test_two_styles_and_a_mask_survive_moving_to_another_page(db, image_files, more_images):
    at = page("launch.py").run()
    _two_styles(at, image_files, more_images)
    _upload(at, "style2_mask", more_images["mask2"], "right.png")
    at.run()
    back = leave_the_page(at)
    assert back.number_input(key="launch_style_count").value == 2
    assert (back.number_input(key="launch_style_blend").value, back.number_input(key="launch_style2_blend").value) == (
        0.7,
        0.3,
    )
    captions = _captions(back)
    assert "first.png (uploaded earlier)" in captions and "second.png (uploaded earlier)" in captions
    assert "mask: right.png" in captions


def test_edit_and_rerun_restores_every_style_weight_and_mask(db, image_files, more_images):
    content, style = image_files

    def upload(path):
        return launch.ImageInput(data=path.read_bytes(), name=path.name)

    cfg = launch.build_config({**TINY, "style_blend_weights": (0.25, 0.75), "preserve_colors": "luminance"})
    styles = [
        launch.StyleChoice(upload(style), upload(more_images["mask1"])),
        launch.StyleChoice(upload(more_images["style2"]), upload(more_images["mask2"])),
    ]
    (source,) = launch.queue_runs(db, [cfg], upload(content), styles)
    at = page("launch.py")
    at.query_params["from_run"] = str(source)
    at.run()
    assert not at.exception and "Form filled from run #1" in _sidebar_text(at)
    assert at.number_input(key="launch_style_count").value == 2
    assert at.selectbox(key="launch_style_pick").value == _blob_id(style)
    assert at.selectbox(key="launch_style2_pick").value == _blob_id(more_images["style2"])
    assert (at.number_input(key="launch_style_blend").value, at.number_input(key="launch_style2_blend").value) == (
        0.25,
        0.75,
    )
    assert at.selectbox(key="launch_preserve_colors").value == "luminance"
    assert {"mask: left.png", "mask: right.png"} <= set(_captions(at))
    at.button(key="launch_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    old, new = store_runs.get_styles(db, source), store_runs.get_styles(db, 2)
    assert new == old and len(new) == 2
    assert store_runs.get_run(db, 2)["config"] == store_runs.get_run(db, source)["config"]
    # Run detail's "Re-run with these settings" keeps them too
    assert store_runs.get_styles(db, launch.rerun(db, source)) == old


def test_run_on_ray_starts_the_worker_on_ray_and_only_where_ray_is_installed(db, image_files, more_images, monkeypatch):
    """The executor choice (issue 15): offered only when its package is installed; the
    worker Run starts is told the executor and the Ray address."""
    from workbench.executors import EXECUTORS, Executor

    started = []
    monkeypatch.setattr(launch_form, "start_worker", lambda *args: started.append(args))
    monkeypatch.setattr(Executor, "available", lambda self: self.requires is None)
    at = page("launch.py").run()
    assert "launch_executor" not in [w.key for w in at.selectbox]  # only local: nothing to choose
    monkeypatch.setattr(Executor, "available", lambda self: True)
    at.run()
    assert at.selectbox(key="launch_executor").options == [e.label for e in EXECUTORS.values()]
    _two_styles(at, image_files, more_images)
    at.selectbox(key="launch_executor").set_value("ray").run()
    at.text_input(key="launch_ray_address").input("auto").run()
    at.button(key="launch_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [args[1:] for args in started] == [("ray", "auto")]

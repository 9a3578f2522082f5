"""Run detail (issue 11): the output at its own size, step 0 in the snapshot slider, image
comparison sliders, the header's named losses, the fair-metrics section with the reason
for every missing value and a "Compute metrics" button that starts the work in the
background (once), "Edit and re-run" and "Compare with…"."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest, local_script_runner

from dashboard import detail, launch
from store import images as store_images
from store import metrics as store_metrics
from store import runs as store_runs
from store.recorder import RunRecorder
from tests.dashboard.conftest import ROOT, TIMEOUT_S, assert_clean, page
from tests.dashboard.test_fair import vgg16_weights_file, weights_file_run  # noqa: F401 (a fixture)
from workbench import queue


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def metrics_table(at: AppTest):
    """The fair-metrics table (AppTest does not expose a dataframe's key)."""
    (table,) = [d.value for d in at.dataframe if {"metric", "value", "unit", "note"} <= set(d.value.columns)]
    return table


def open_detail(run_id: int) -> AppTest:
    at = page("run_detail.py")
    at.query_params["run"] = str(run_id)
    return at.run()


@pytest.fixture()
def sent(monkeypatch) -> list:
    """The messages of the last script run as the browser gets them (AppTest's element
    tree leaves out an image's width, which is what #9 is about)."""
    messages: list = []
    real = local_script_runner.parse_tree_from_messages

    def keep(msgs):
        messages[:] = list(msgs)
        return real(msgs)

    monkeypatch.setattr(local_script_runner, "parse_tree_from_messages", keep)
    return messages


def image_elements(messages: list) -> dict[str, object]:
    """{caption: the Element proto} of every st.image sent."""
    out = {}
    for msg in messages:
        if msg.WhichOneof("type") != "delta" or msg.delta.WhichOneof("type") != "new_element":
            continue
        element = msg.delta.new_element
        if element.WhichOneof("type") == "imgs":
            for img in element.imgs.imgs:
                out[img.caption] = element
    return out


# --- #9: the output at its own size, step 0 in the slider ------------------------------------


def test_output_is_drawn_at_its_own_pixel_size_as_png(populated, sent):
    at = open_detail(1)
    assert_clean(at)
    width, height = store_images.get_array(populated, store_runs.get_run(populated, 1)["output_image"]).shape[1::-1]
    images = image_elements(sent)
    caption = f"output · {width} × {height} px (full size)"
    assert caption in images, list(images)
    output = images[caption]
    assert output.width_config.WhichOneof("width_spec") == "pixel_width"
    assert output.width_config.pixel_width == width
    assert output.imgs.imgs[0].url.endswith(".png")  # lossless, not re-encoded as JPEG
    style = next(c for c in images if c.startswith("style"))  # "style · 32 × 32 px to the network"
    thumbs = [images["content"], images[style]]
    assert all(t.width_config.WhichOneof("width_spec") != "use_stretch" for t in thumbs)
    at.button(key="detail_output_large").click().run()  # the larger view opens in a dialog
    assert_clean(at)
    assert any(c.startswith(f"Run #1 output · {width} × {height} px") for img in at.image for c in img.captions)


def add_snapshot(db, run_id: int, step: int, seed: int) -> None:
    rgb = np.random.default_rng(seed).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    rec = RunRecorder(db, run_id)
    rec.add_snapshot(step, rgb)
    rec.close()


def test_snapshot_slider_starts_at_the_initial_image_when_stored(populated):
    snaps = store_runs.get_snapshots(populated, 1)
    if 0 not in set(snaps["step"]):
        add_snapshot(populated, 1, 0, seed=5)
    at = open_detail(1)
    assert_clean(at)
    slider = at.select_slider(key="detail_snapshot_step")
    assert slider.options[0] == "0 (initial image)" and slider.value == 8
    slider.set_value(0).run()
    assert_clean(at)
    assert "step 0 (initial image)" in [c for img in at.image for c in img.captions]


def test_snapshot_slider_of_an_older_run_starts_at_its_first_snapshot(populated):
    """A run stored before step-0 snapshots existed: the slider starts at its first one."""
    run = store_runs.get_run(populated, 1)
    old = store_runs.create_run(populated, run["config"], run["content_image"], run["style_image"], "gatys")
    store_runs.claim_run(populated, old, "tf", "CPU")
    for step, seed in ((4, 1), (8, 2)):
        add_snapshot(populated, old, step, seed)
    store_runs.finish_run(populated, old, "finished", output_image=run["output_image"], steps_done=8)
    at = open_detail(old)
    assert_clean(at)
    slider = at.select_slider(key="detail_snapshot_step")
    assert slider.options == ["4", "8"] and slider.value == 8


# --- image comparison ----------------------------------------------------------------------------


def test_image_comparison_of_output_and_photo_or_a_snapshot(populated):
    at = open_detail(1)
    assert_clean(at)
    frames = at.get("iframe")
    assert len(frames) == 1
    assert "output" in frames[0].proto.srcdoc and "photo" in frames[0].proto.srcdoc
    at.selectbox(key="detail_image_vs").set_value("step 4").run()
    assert_clean(at)
    frame = at.get("iframe")[0].proto.srcdoc
    assert "step 4" in frame and "photo" not in frame


# --- header --------------------------------------------------------------------------------------------


def test_header_shows_status_badge_and_names_output_and_best_loss(populated):
    at = open_detail(1)
    assert_clean(at)
    assert ":green-badge[finished]" in texts(at.subheader)
    labels = [m.label for m in at.metric]
    assert "output loss" in labels and "best loss" in labels
    assert not [m for m in labels if "final" in m.lower() or m == "loss"]
    run = store_runs.get_run(populated, 1)
    assert f"after step {run['steps_done']}" in texts(at.caption)
    if run["best_step"] is not None:
        assert f"at step {run['best_step']}" in texts(at.caption)
    assert "random weights" in texts(at.warning)


# --- #2: fair metrics with reasons, computed in the background ---------------------------------------


def test_fair_metrics_section_lists_metrics_with_labels_units_and_reasons(populated):
    at = open_detail(1)
    assert_clean(at)
    table = metrics_table(at)
    assert "output ÷ step-1 loss" in set(table["metric"])
    assert (table["unit"] != "").all()
    missing = table[table["value"] == "–"]
    assert (missing["note"].str.len() > 0).all() and "None" not in table.to_string()
    stored = store_metrics.get_metrics(populated, [1])
    assert len(table) == len(stored)
    # weights "none": every judge can judge it, no weights file is asked for
    assert not [t for t in at.text_input if str(t.key).startswith("detail_weights_")]


def test_skipped_judges_of_a_weights_file_run_say_why(
    populated,
    models,
    monkeypatch,
    tmp_path,
    vgg16_weights_file,  # noqa: F811 (the imported fixture)
):
    run_id = weights_file_run(populated, models, monkeypatch, tmp_path, vgg16_weights_file)
    at = open_detail(run_id)
    assert_clean(at)
    table = metrics_table(at).set_index("metric")
    cell = table.loc["style loss (ResNet50 judge)"]
    assert cell["value"] == "–" and "skipped: the run used a weights file" in cell["note"]
    assert table.loc["style loss (VGG16 judge)", "value"][0].isdigit()  # its own file judged it
    assert "None" not in table.to_string()
    assert "Judges skipped" in texts(at.markdown) and "resnet50" in texts(at.markdown)
    # a weights file for the other backbone can be given; a wrong one is refused before anything starts
    assert not [t for t in at.text_input if t.key == "detail_weights_vgg16"]
    at.text_input(key="detail_weights_resnet50").input(str(tmp_path / "missing.h5")).run()
    assert f"--weights-resnet50 {tmp_path / 'missing.h5'}" in texts(at.code)
    at.button(key="detail_compute_metrics").click().run()
    assert not at.exception
    assert "resnet50 weights" in texts(at.error) and "does not exist" in texts(at.error)
    assert detail.metrics_job(populated, run_id) is None


def test_compute_metrics_without_a_worker_says_so_and_gives_the_command(populated):
    store_metrics.put_metrics(populated, 1, [])
    at = open_detail(1)
    assert_clean(at)
    assert "No fair metrics for run #1" in texts(at.info)
    assert f"python -m workbench metrics 1 --db {populated}" in texts(at.code)
    at.button(key="detail_compute_metrics").click().run()
    assert not at.exception
    assert "Not started" in texts(at.error) and queue.NO_WORKER_ENV in texts(at.error)
    assert detail.metrics_job(populated, 1) is None


def test_compute_metrics_queues_the_work_once_and_shows_progress(populated, monkeypatch):
    """The real background path: the button starts `python -m workbench metrics 1`
    (once, however often it is clicked), the page says "computing metrics…" meanwhile
    and shows the metrics when the process has ended."""
    monkeypatch.delenv(queue.NO_WORKER_ENV)
    store_metrics.put_metrics(populated, 1, [])
    started = []
    real = queue.start_metrics

    def counting(*args, **kwargs):
        proc = real(*args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(queue, "start_metrics", counting)
    at = open_detail(1)
    at.button(key="detail_compute_metrics").click().run()
    assert not at.exception
    assert len(started) == 1 and started[0] is not None
    try:
        if started[0].poll() is None:  # (TensorFlow takes seconds to load: it is running)
            assert "computing metrics…" in texts(at.info)
            assert at.button(key="detail_compute_metrics").disabled
            # a second click that reached the server before the button was disabled
            kind, text = detail.start_metrics_job(populated, 1, {})
            assert "Already computing" in text and len(started) == 1
        assert started[0].wait(timeout=240) == 0
    finally:
        if started[0].poll() is None:
            started[0].kill()
    at.run()  # the poll sees the end and reruns the page
    assert_clean(at)
    assert "Computed the fair metrics of run #1" in texts(at.success)
    assert not store_metrics.get_metrics(populated, [1]).empty
    assert "output ÷ step-1 loss" in set(metrics_table(at)["metric"])
    assert detail.metrics_job(populated, 1) is None


# --- edit and re-run, compare with ------------------------------------------------------------


def router_at_detail(run_id: int) -> AppTest:
    at = AppTest.from_file(ROOT / "dashboard" / "Home.py", default_timeout=TIMEOUT_S).run()
    at.query_params["run"] = str(run_id)
    at.switch_page("views/run_detail.py").run()
    assert_clean(at)
    assert at.title[0].value == "Run detail"
    return at


def test_edit_and_rerun_opens_launch_filled_from_this_run(populated):
    at = router_at_detail(2)
    assert at.selectbox(key="detail_run").value == 2
    at.button(key="detail_edit_rerun").click().run()
    assert not at.exception
    assert at.title[0].value == "Launch"
    # Launch got `?from_run=2`: it fills the form from run 2 (resnet50; the default is vgg16)
    # and may consume the parameter when it does.
    asked = at.query_params.get("from_run") in ("2", ["2"])
    filled = "launch_backbone" in at.session_state and at.session_state["launch_backbone"] == "resnet50"
    assert asked or filled


def test_compare_with_defaults_to_the_other_backbone_on_the_same_images(populated):
    at = router_at_detail(1)
    picker = at.multiselect(key="detail_compare_with_1")
    assert picker.value == [2]  # run 2: resnet50, same photo and painting, finished
    at.button(key="detail_compare").click().run()
    assert not at.exception
    assert at.title[0].value == "Compare runs"
    assert at.multiselect(key="compare_runs").value == [1, 2]


# --- issue 14: several style images with weights, masks and network sizes ------------------------


def _upload(path) -> launch.ImageInput:
    return launch.ImageInput(data=path.read_bytes(), name=path.name)


def test_every_style_is_shown_in_order_with_its_weight_mask_and_network_size(db, image_files, tmp_path):
    from PIL import Image

    from engine.styles import style_shape
    from tests.conftest import synthetic_image

    content, style = image_files
    second = tmp_path / "second <b>.png"  # a name with Markdown in it
    Image.fromarray(synthetic_image(40, 56, seed=5)).save(second)
    mask = np.zeros((16, 16), np.uint8)
    mask[:, :8] = 255
    Image.fromarray(mask).save(tmp_path / "left.png")
    Image.fromarray(255 - mask).save(tmp_path / "right.png")
    cfg = launch.build_config(
        {"size": 32, "iterations": 3, "weights": "none", "style_blend_weights": (0.25, 0.75), "style_scale": 2.0}
    )
    styles = [
        launch.StyleChoice(_upload(style), _upload(tmp_path / "left.png")),
        launch.StyleChoice(_upload(second), _upload(tmp_path / "right.png")),
    ]
    (run_id,) = launch.queue_runs(db, [cfg], _upload(content), styles)
    at = open_detail(run_id)
    assert_clean(at)
    shown = [c for img in at.image for c in img.captions]
    captions = [c.replace("\\", "") for c in shown]  # as a reader sees them
    (h1, w1), (h2, w2) = style_shape(cfg, (40, 40)), style_shape(cfg, (40, 56))
    assert (h1, w1) == (64, 64)  # style scale 2 at 32 px
    first = f"style 1 of 2 · style.png · weight 0.25 · {w1} × {h1} px to the network"
    assert captions[:2] == ["content", first]
    assert captions[2].startswith("mask") and "left.png" in captions[2]
    assert captions[3] == f"style 2 of 2 · second <b>.png · weight 0.75 · {w2} × {h2} px to the network"
    assert "\\<b\\>" in shown[3]  # the name is text, not Markdown
    assert "right.png" in captions[4]
    assert "2 style images" in texts(at.markdown) and "each where its mask is white" in texts(at.markdown)
    config = at.json[0].value
    assert '"style_blend_weights"' in config and '"style_scale": 2.0' in config and '"max_tile_px": 0' in config


def test_a_blend_without_masks_says_each_style_s_share(db, image_files, tmp_path):
    content, style = image_files
    cfg = launch.build_config({"size": 32, "iterations": 3, "weights": "none", "style_blend_weights": (3.0, 1.0)})
    styles = [launch.StyleChoice(_upload(style)), launch.StyleChoice(_upload(content))]
    (run_id,) = launch.queue_runs(db, [cfg], _upload(content), styles)
    at = open_detail(run_id)
    assert_clean(at)
    assert "blended into one style target" in texts(at.markdown)
    assert {"75% of the blend", "25% of the blend"} <= {str(c.value) for c in at.caption}


def test_a_run_from_before_several_styles_looks_as_before(populated):
    run = store_runs.get_run(populated, 1)
    old = store_runs.create_run(populated, run["config"], run["content_image"], run["style_image"], "gatys")
    at = open_detail(old)  # one run_styles row, weight 1, no mask, no size: as a migrated run reads
    assert_clean(at)
    captions = [c for img in at.image for c in img.captions]
    assert captions[:2] == ["content", "style"]
    assert "style image" not in texts(at.markdown) and "of the blend" not in texts(at.caption)

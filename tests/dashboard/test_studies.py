"""The Studies page (launch, follow, resume, report) and the study helpers, through
Streamlit's AppTest on stores filled by real tiny runs."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import studies as study_rules
from engine.errors import ConfigError, WeightsError
from store import runs as store_runs
from store import studies as store_studies
from store.metrics import get_metrics, put_metrics
from tests.dashboard.conftest import assert_clean, page
from tests.dashboard.test_pages import EVIL, EVIL_FILE, assert_escaped, shown
from workbench.studies import PRESETS, get_preset


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def tiny_form(at: AppTest, preset: str, seeds: str) -> AppTest:
    """Fill the study form with a tiny, random-weight study."""
    at.selectbox(key="study_preset").set_value(preset)
    at.text_input(key="study_seeds").input(seeds)
    at.number_input(key="study_iterations").set_value(6)
    at.number_input(key="study_size").set_value(32)
    at.radio(key="study_weights").set_value("none")
    return at.run()


# --- page: empty store, launching ----------------------------------------------------------


def test_empty_store_then_launch_from_uploads(db, image_files):
    content, style = image_files
    at = page("studies.py").run()
    assert_clean(at)
    assert "No studies yet" in texts(at.info)
    assert at.selectbox(key="study_preset").options == list(PRESETS)
    assert [b.key for b in at.sidebar.button] == ["study_launch"]
    at.file_uploader(key="study_content_upload").set_value([("photo.jpg", content.read_bytes(), "image/jpeg")])
    at.file_uploader(key="study_style_upload").set_value([("a.png", style.read_bytes(), "image/png")])
    tiny_form(at, "backbones", "x")
    assert "seeds expects comma-separated integers" in shown(at.sidebar.error)
    at.text_input(key="study_seeds").input("0, 1").run()
    assert_clean(at)
    assert "2 variants × 1 content × 1 style image(s) × 2 seed(s) = 4 runs" in texts(at.sidebar.caption)
    at.button(key="study_launch").click().run()
    assert_clean(at)
    assert "Study #1 launched: 4 cells: 4 queued" in texts(at.sidebar.success)
    assert "no worker started" in texts(at.sidebar.success)
    runs = store_studies.study_runs(db, 1)
    assert len(runs) == 4 and set(runs["status"]) == {"queued"} and sorted(runs["seed"]) == [0, 0, 1, 1]
    assert set(runs["iterations"]) == {6} and sorted(set(runs["variant"])) == ["ResNet50", "VGG16"]
    assert at.selectbox(key="study_pick").value == 1 and at.query_params["study"] == "1"
    assert any("0/4 cells done (4 queued)" in p.proto.text for p in at.get("progress"))
    assert at.button(key="study_resume").disabled is False  # queued cells: resume starts a worker
    store_runs.claim_run(db, int(runs["id"].iloc[0]), "tf", "CPU")  # one cell running
    at.button(key="study_cancel").click().run()
    assert_clean(at)
    assert "Study #1: 3 queued cell(s) cancelled, 1 running cell(s) stopping" in texts(at.success)
    after = store_studies.study_runs(db, 1)
    assert sorted(after["status"]) == ["cancelled"] * 3 + ["running"]
    assert store_runs.get_run(db, int(runs["id"].iloc[0]))["cancel_requested"]


def test_launch_lr_sweep_from_stored_images_and_resume(populated):
    at = page("studies.py").run()
    assert_clean(at)
    assert len(at.multiselect(key="study_content_pick").value) == 1  # the newest stored image
    tiny_form(at, "lr-sweep", "0,1")
    at.button(key="study_launch").click().run()
    assert_clean(at)
    assert "Study #1 launched: 20 cells: 20 queued" in texts(at.sidebar.success)
    study = store_studies.get_study(populated, 1)
    assert study["spec"]["shared"] == {"iterations": 6, "size": 32, "weights": "none"}  # as the CLI stores it
    runs = store_studies.study_runs(populated, 1)
    assert len(runs) == 20 and sorted(set(runs["learning_rate"])) == [1.0, 10.0, 15.0, 20.0, 30.0]
    first = store_runs.get_run(populated, 1)
    assert set(runs["content_image"]) == {first["content_image"]}
    # a cancelled cell is re-queued by Resume; the others are left alone
    cancelled = int(runs["id"].iloc[0])
    store_runs.request_cancel(populated, cancelled)
    at.button(key="study_resume").click().run()
    assert_clean(at)
    assert "Study #1 resumed: 20 cells: 0 queued, 1 re-queued, 0 already finished, 19 already" in texts(at.success)
    after = store_studies.study_runs(populated, 1)
    assert len(after) == 20 and set(after["status"]) == {"queued"} and cancelled not in set(after["id"])
    assert len(store_studies.list_studies(populated)) == 1


def test_resume_starts_its_worker_where_run_on_says(finished_study, monkeypatch):
    pytest.importorskip("ray")  # "Run on" is drawn only when Ray is installed
    from dashboard import study_view

    started = []
    monkeypatch.setattr(study_view, "start_worker", lambda *args: started.append(args))
    runs = store_studies.study_runs(finished_study, 1)
    store_runs.finish_run(finished_study, int(runs["id"].iloc[0]), "failed")  # one cell to re-queue
    at = page("studies.py").run()
    at.selectbox(key="study_executor").set_value("ray").run()
    at.text_input(key="study_ray_address").input(" auto ").run()
    at.button(key="study_resume").click().run()
    assert_clean(at)
    assert [args[1:] for args in started] == [("ray", "auto")]


def test_form_rejects_local_weights_without_a_file(db):
    at = page("studies.py").run()
    at.radio(key="study_weights").set_value("local file").run()
    assert not at.exception
    assert {t.key for t in at.sidebar.text_input} >= {"study_weights_vgg16", "study_weights_resnet50"}
    assert "give a weights file for vgg16, resnet50" in texts(at.sidebar.error)


# --- page: a finished study's report ---------------------------------------------------------


def test_finished_study_report_has_the_studys_shape(finished_study):
    at = page("studies.py")
    at.query_params["study"] = "1"
    at.run()
    assert_clean(at)
    assert at.selectbox(key="study_pick").value == 1
    # issue 11 #12: the preset named once when it is the study's name; the study's runs warned about
    heading = texts(at.subheader)
    assert "Study #1 · backbones" in heading and "backbones · backbones" not in heading
    assert "This study's runs used **random weights**" in texts(at.warning)
    assert any("4/4 cells done" in p.proto.text for p in at.get("progress"))
    assert at.button(key="study_resume").disabled  # nothing to resume
    assert at.button(key="study_cancel").disabled  # nothing to cancel
    frames = {tuple(d.value.columns): d.value for d in at.dataframe}
    expected = {t.id: t.frame for t in store_studies.study_tables(finished_study, 1)}
    table3 = frames[("iteration", "VGG16 loss", "VGG16 loss std", "ResNet50 loss", "ResNet50 loss std")]
    pd.testing.assert_frame_equal(table3.reset_index(drop=True), expected["table3"])
    assert list(table3["iteration"]) == [1, 2, 3, 4, 5, 6]
    assert ("iteration", "VGG16", "VGG16 std", "ResNet50", "ResNet50 std") in frames  # table 4
    fair = frames[("metric", "better", "VGG16", "VGG16 std", "ResNet50", "ResNet50 std")]
    assert {"SSIM to the content", "texture distance ratio (output→style ÷ photo→style)"} <= set(fair["metric"])
    assert "style loss (VGG16 judge)" not in set(fair["metric"])  # the cross-evaluation has its own view
    cross = frames[("producer", "ResNet50", "VGG16")]
    assert sorted(cross["producer"]) == ["ResNet50", "VGG16"]  # 2 x 2: producer x judge
    verdicts = texts(at.markdown)
    assert "n = 2" in verdicts and "SSIM" in verdicts and "95 % CI" in verdicts
    assert "not used for verdicts" in verdicts
    assert "What ran (from the 4 finished run(s)): iterations 6, size 32 px" in texts(at.caption)
    assert "not comparable across backbones" in texts(at.warning)
    keys = {d.key for d in at.download_button}
    assert {"study_dl_table3", "study_dl_table4", "study_dl_fair", "study_dl_verdicts"} <= keys
    assert {"study_dl_cross_eval", "study_dl_report_md", "study_dl_report_csv"} <= keys
    assert len(at.get("vega_lite_chart")) >= 4  # table 3, table 4, fair metrics, cross-evaluation
    at.toggle(key="study_log").set_value(False)
    at.radio(key="study_judged").set_value("total loss").run()
    assert_clean(at)


# --- helpers -------------------------------------------------------------------------------


def test_overrides_keep_only_what_differs_from_the_preset():
    preset = get_preset("backbones")
    values = {"iterations": 1000, "size": 32, "snapshot_every": 100}
    assert study_rules.build_overrides(preset, values) == {"size": 32}
    assert study_rules.study_weights(preset, "none", {}) == ({"weights": "none"}, {})
    assert study_rules.study_weights(preset, "imagenet", {}) == ({}, {})
    with pytest.raises(WeightsError, match="does not exist"):
        study_rules.study_weights(preset, "local file", {"vgg16": "/no/v.h5", "resnet50": "/no/r.h5"})
    assert study_rules.cell_count(get_preset("lr-sweep"), 1, 2, 3) == 60


def test_resume_request_refuses_a_changed_study(finished_study):
    request = study_rules.resume_request(finished_study, 1)
    assert request.preset == "backbones" and request.seeds == [0] and len(request.styles) == 2
    assert request.overrides["size"] == 32
    result = study_rules.start(finished_study, request)
    assert result.study_id == 1 and result.resumed and result.counts["finished"] == 4
    assert not study_rules.has_work(result) and "nothing left to run" in study_rules.launch_message(result, False)
    with pytest.raises(ConfigError, match="does not exist"):
        study_rules.resume_request(finished_study, 99)


@pytest.mark.parametrize(
    "frame, kind, expected",
    [
        (
            pd.DataFrame({"iteration": [1, 2], "A": [3.0, 2.0], "A std": [0.5, 0.1], "B": [9.0, math.nan]}),
            "by_iteration",
            {("A", 1, 3.0, 0.5), ("A", 2, 2.0, 0.1), ("B", 1, 9.0, None)},
        ),
        (
            pd.DataFrame({"learning rate": [1.0, 10.0], "VGG16": [4.0, 3.0]}),
            "by_learning_rate",
            {("VGG16", 1.0, 4.0, None), ("VGG16", 10.0, 3.0, None)},
        ),
        (
            pd.DataFrame({"Layer Type": ["Content Layer", "Style Layer 1", "Total Loss"], "1": ["c", "s", 2.5]}),
            "layer_sets",
            {("set 1", "set 1: c", 2.5, None)},
        ),
        (
            pd.DataFrame({"variant": ["A", "B"], "total loss": [1.0, math.nan], "content loss": [0.5, 0.5]}),
            "final",
            {("A", "A", 1.0, None)},
        ),
    ],
)
def test_table_long_reshapes_every_kind(frame, kind, expected):
    long = study_rules.table_long(frame, kind)
    rows = {(r.series, r.x, r.mean, None if math.isnan(r.std) else r.std) for r in long.itertuples()}
    assert rows == expected


def test_every_table_kind_has_one_view_and_an_unknown_kind_is_refused():
    assert set(study_rules.TABLE_VIEWS) == set(store_studies.TABLE_BUILDERS)
    assert study_rules.table_view("by_learning_rate").first_format == "%g"
    assert study_rules.table_view("layer_sets").as_text and not study_rules.table_view("final").as_text
    assert study_rules.table_view("by_iteration").y_title({"measure": "elapsed_seconds"}) == "cumulative seconds"
    assert study_rules.table_view("final").y_title({}) == "final total loss"
    with pytest.raises(ValueError, match="unknown table kind 'pie'"):
        study_rules.table_long(pd.DataFrame({"x": [1]}), "pie")


def test_launch_form_feature_transform_toggle_queues_softmax(db, image_files):
    """The feature transform select of the Launch form (generated from TransferConfig)."""
    content, style = image_files
    at = page("launch.py").run()
    at.file_uploader(key="launch_content_upload").set_value(("c.jpg", content.read_bytes(), "image/jpeg"))
    at.file_uploader(key="launch_style_upload").set_value(("s.png", style.read_bytes(), "image/png"))
    at.selectbox(key="launch_backbone").set_value("resnet50")
    at.radio(key="launch_weights").set_value("none")
    at.selectbox(key="launch_feature_transform").set_value("softmax")
    at.button(key="launch_run").click().run()
    assert_clean(at)
    run = store_runs.get_run(db, 1)
    assert run["feature_transform"] == "softmax"
    assert run["transform_layers"] == ["conv3_block4_out", "conv3_block1_1_conv", "conv4_block1_1_conv"]
    at.multiselect(key="launch_transform_layers").set_value(["conv1_relu"])
    at.button(key="launch_run").click().run()  # an explicit layer choice
    assert_clean(at)
    assert store_runs.get_run(db, 2)["transform_layers"] == ["conv1_relu"]


def test_a_study_of_explicit_pairs_resumes_as_the_same_study(populated):
    first = store_runs.get_run(populated, 1)
    photo, painting = first["content_image"], first["style_image"]
    pick = study_rules.launch.ImageInput
    request = study_rules.StudyRequest(
        "backbones",
        [pick(image_id=photo), pick(image_id=painting)],
        [pick(image_id=painting), pick(image_id=photo)],
        [0],
        {"iterations": 2, "size": 32, "weights": "none"},
        paired=True,
    )
    launched = study_rules.start(populated, request)
    assert launched.cells == 4 and not launched.resumed  # 2 pairs x 2 variants, not 2 x 2 x 2
    again = study_rules.resume_request(populated, launched.study_id)
    assert again.paired and [i.image_id for i in again.contents] == [photo, painting]
    resumed = study_rules.start(populated, again)
    assert resumed.study_id == launched.study_id and resumed.resumed


# --- user text is shown as text, never as Markdown ----------------------------------------------


def test_study_name_weights_files_and_resume_errors_are_text(populated, tmp_path, monkeypatch):
    weights = tmp_path / f"{EVIL_FILE}.h5"
    weights.write_bytes(b"")  # launching checks only that the file is there
    at = page("studies.py").run()
    at.text_input(key="study_name").input(EVIL)
    tiny_form(at, "backbones", "0")
    at.radio(key="study_weights").set_value("local file").run()
    at.text_input(key="study_weights_vgg16").input(str(weights))
    at.text_input(key="study_weights_resnet50").input(str(weights)).run()
    at.button(key="study_launch").click().run()
    assert_clean(at)
    assert store_studies.get_study(populated, 1)["name"] == EVIL
    heading = texts(at.subheader)
    assert "Study #1 · " in heading
    assert_escaped(heading)
    settings = next(str(c.value) for c in at.caption if "weights files:" in str(c.value))
    assert_escaped(settings)
    # The picker is a selectbox: its options are plain text, shown as typed.
    assert at.selectbox(key="study_pick").options == [f"#1 {EVIL} · backbones (2 cells)"]

    def fail(db, study_id):
        raise ConfigError(f"image {EVIL_FILE} is no longer in the store")

    monkeypatch.setattr(study_rules, "resume_request", fail)
    at.button(key="study_resume").click().run()
    assert not at.exception
    assert "Could not resume study #1" in texts(at.error)
    assert_escaped(texts(at.error))


def test_study_form_shows_file_names_in_errors_as_text(db):
    at = page("studies.py").run()
    at.file_uploader(key="study_content_upload").set_value([(EVIL_FILE, b"not an image", "image/png")])
    at.radio(key="study_weights").set_value("local file").run()
    at.text_input(key="study_weights_vgg16").input(f"/nowhere/{EVIL_FILE}.h5")
    at.text_input(key="study_weights_resnet50").input(f"/nowhere/{EVIL_FILE}.h5").run()
    assert not at.exception
    errors = [str(e.value) for e in at.sidebar.error]
    upload = next(e for e in errors if "not a readable image file" in e)
    weights = next(e for e in errors if "does not exist" in e)
    assert_escaped(upload)
    assert_escaped(weights)


def test_study_report_shows_judge_skip_reasons_as_text(finished_study):
    why = f"skipped: no ImageNet weights for vgg19 in /models/{EVIL_FILE}"
    for run_id in store_studies.study_runs(finished_study, 1)["id"]:
        rows = get_metrics(finished_study, [int(run_id)])
        kept = [(r.metric, r.judge, r.value, r.detail) for r in rows.itertuples() if r.judge != "vgg19"]
        put_metrics(finished_study, int(run_id), [*kept, ("neutral_style_distance", "vgg19", None, why)])
    at = page("studies.py")
    at.query_params["study"] = "1"
    at.run()
    assert_clean(at)
    skipped = [str(c.value) for c in at.caption if str(c.value).startswith("VGG19 judge")]
    assert len(skipped) == 1
    assert_escaped(skipped[0])

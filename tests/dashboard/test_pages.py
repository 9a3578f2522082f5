"""Every dashboard page through Streamlit's AppTest, on stores filled by real runs."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import launch as launch_rules
from engine.backbones import BACKBONES
from engine.errors import ConfigError
from engine.losses import CONVENTIONS
from store import images as store_images
from store import runs as store_runs
from store.metrics import put_metrics
from store.recorder import RunRecorder
from tests.dashboard.conftest import FIXTURE_LRS, ROOT, TIMEOUT_S, assert_clean, page

PAGES = ("home.py", "launch.py", "gallery.py", "run_detail.py", "compare.py")


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


# User text that Markdown would render as bold and as an image the browser fetches.
EVIL = "**bold** ![t](http://127.0.0.1:9/x.png)"
EVIL_FILE = "**bold** ![t](x.png).png"  # an uploaded file's name has no slashes


def shown(elements) -> str:
    """What a reader sees of Markdown elements that escape user text: the escapes removed."""
    return re.sub(r"\\(.)", r"\1", texts(elements))


def assert_escaped(source: str) -> None:
    """The Markdown source of an element shows the user's text escaped, never raw."""
    assert r"\*\*bold\*\*" in source and r"\!\[t\]" in source, source
    assert "**bold**" not in source and "![t](" not in source, source


def links(at: AppTest) -> list[tuple[str, str, str]]:
    return [(p.label, p.proto.page, p.proto.query_string) for p in at.get("page_link")]


def queue_copy(db, run_id: int = 1, status: str = "queued") -> int:
    """A new run row with run `run_id`'s config and images."""
    run = store_runs.get_run(db, run_id)
    formulas = run["gram_convention"]
    return store_runs.create_run(db, run["config"], run["content_image"], run["style_image"], formulas, status)


# --- empty store -------------------------------------------------------------------


@pytest.mark.parametrize("script", PAGES)
def test_empty_store_pages_explain_how_to_start(db, script):
    at = page(script).run()
    assert_clean(at)
    if script == "launch.py":
        assert "Nothing queued or running" in texts(at.info)
        assert [b.label for b in at.sidebar.button] == ["Run", "Run on both backbones"]
    else:
        assert "No runs" in texts(at.info)
        assert any(page_path == "launch" for _, page_path, _ in links(at))


# --- home ------------------------------------------------------------------------------


def test_home_counts_thumbnails_and_start_link(populated):
    at = page("home.py").run()
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["All runs"] == "2"
    assert metrics["finished"] == "2" and metrics["queued"] == "0"
    counts = at.dataframe[0].value
    assert sorted(counts.index) == ["resnet50", "vgg16"] and list(counts["total"]) == [1, 1]
    assert len(at.image) == 2  # the two outputs' thumbnails
    assert ("Start here: launch a new run", "launch", "") in links(at)
    assert ("Run #2", "run", "run=2") in links(at)


def test_home_shows_runs_in_progress(populated):
    queued = queue_copy(populated)
    running = queue_copy(populated)
    store_runs.claim_run(populated, running, "tf", "CPU")  # this process: alive
    rec = RunRecorder(populated, running)
    for step in (1, 2, 3):
        rec.add_iteration((step, 1.0, 0.5, 0.5, 0.0, 0.1, step * 0.1, 64))
    rec.flush()
    at = page("home.py").run()
    assert_clean(at)
    bars = {p.proto.text: p.value for p in at.get("progress")}
    assert any(f"#{running}" in t and "step 3 / 8" in t and "ETA" in t for t in bars)
    assert any(f"#{queued}" in t and "queued" in t for t in bars)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["running"] == "1" and metrics["queued"] == "1"


# --- launch ------------------------------------------------------------------------------


def test_launch_from_uploads_queues_a_run_and_cancel_works(db, image_files):
    content, style = image_files
    at = page("launch.py").run()
    assert_clean(at)
    at.file_uploader(key="launch_content_upload").set_value(("my photo.jpg", content.read_bytes(), "image/jpeg"))
    at.file_uploader(key="launch_style_upload").set_value(("style.png", style.read_bytes(), "image/png"))
    at.number_input(key="launch_iterations").set_value(5)
    at.number_input(key="launch_size").set_value(32)
    at.radio(key="launch_weights").set_value("none")
    at.run()
    assert_clean(at)
    at.button(key="launch_run").click().run()
    assert_clean(at)
    assert "Queued run #1" in texts(at.success)
    run = store_runs.get_run(db, 1)
    assert run["status"] == "queued" and run["iterations"] == 5 and run["size"] == 32
    vgg = BACKBONES["vgg16"]
    assert run["weights"] == "none" and run["backbone"] == "vgg16" and run["content_layer"] == vgg.content_layer
    assert run["style_layers"] == list(vgg.style_layers)
    assert run["learning_rate"] == vgg.defaults["portable"].learning_rate
    assert run["gram_convention"] == CONVENTIONS["portable"].summary
    assert store_images.list_input_images(db, "content") == [(run["content_image"], "my photo.jpg")]
    # the live view follows it, with a Cancel button
    assert any("step 0 / 5" in p.proto.text for p in at.get("progress"))
    at.button(key="live_cancel_1").click().run()
    assert_clean(at)
    assert store_runs.get_run(db, 1)["status"] == "cancelled"
    assert "Run #1 cancelled" in texts(at.info)


def test_launch_rejects_an_unreadable_upload(db):
    at = page("launch.py").run()
    at.file_uploader(key="launch_content_upload").set_value(("fake.png", b"not an image", "image/png"))
    at.run()
    assert not at.exception
    assert "not a readable image file" in texts(at.error)


def test_launch_backbone_change_resets_layers_and_defaults(populated):
    at = page("launch.py").run()
    assert_clean(at)
    vgg, resnet = BACKBONES["vgg16"], BACKBONES["resnet50"]
    assert at.selectbox(key="launch_content_layer").value == vgg.content_layer
    at.multiselect(key="launch_style_layers").set_value(["block1_conv1"])
    at.number_input(key="launch_learning_rate").set_value(3.0).run()
    at.selectbox(key="launch_backbone").set_value("resnet50").run()
    assert_clean(at)
    assert at.selectbox(key="launch_content_layer").value == resnet.content_layer
    assert "block5_conv2" not in at.selectbox(key="launch_content_layer").options
    assert at.multiselect(key="launch_style_layers").value == list(resnet.style_layers)
    assert at.number_input(key="launch_learning_rate").value == resnet.defaults["portable"].learning_rate
    assert at.number_input(key="launch_style_weight").value == resnet.defaults["portable"].style_weight


def test_launch_loss_convention_resets_the_loss_weights(populated):
    at = page("launch.py").run()
    assert_clean(at)
    resnet = BACKBONES["resnet50"]
    at.selectbox(key="launch_backbone").set_value("resnet50").run()
    at.selectbox(key="launch_loss_convention").set_value("gatys").run()
    assert_clean(at)
    gatys = resnet.defaults["gatys"]
    assert at.number_input(key="launch_style_weight").value == gatys.style_weight  # the study's 1e7
    assert at.number_input(key="launch_learning_rate").value == gatys.learning_rate
    at.selectbox(key="launch_loss_convention").set_value("portable").run()
    assert at.number_input(key="launch_style_weight").value == resnet.defaults["portable"].style_weight
    assert at.number_input(key="launch_tv_weight").value == resnet.defaults["portable"].tv_weight


def test_launch_speed_options_reset_the_rate_and_are_queued(populated):
    at = page("launch.py").run()
    assert_clean(at)
    assert "Optimiser and speed" in [e.label for e in at.sidebar.expander]
    vgg = BACKBONES["vgg16"]
    at.selectbox(key="launch_optimizer").set_value("lbfgs").run()
    assert at.number_input(key="launch_learning_rate").value == 1.0  # L-BFGS's own step
    at.selectbox(key="launch_backbone").set_value("resnet50").run()
    assert at.number_input(key="launch_learning_rate").value == 1.0  # still L-BFGS
    at.selectbox(key="launch_optimizer").set_value("adam").run()
    assert at.number_input(key="launch_learning_rate").value == BACKBONES["resnet50"].defaults["portable"].learning_rate
    at.selectbox(key="launch_backbone").set_value("vgg16").run()
    at.selectbox(key="launch_optimizer").set_value("lbfgs")
    at.number_input(key="launch_size").set_value(64)
    at.number_input(key="launch_iterations").set_value(8)
    at.number_input(key="launch_scales").set_value(2)
    at.number_input(key="launch_steps_per_call").set_value(4)
    at.checkbox(key="launch_jit_compile").check()
    at.button(key="launch_run").click().run()
    assert_clean(at)
    run = store_runs.get_run(populated, 3)
    assert (run["optimizer"], run["learning_rate"], run["scales"], run["coarse_iterations"]) == ("lbfgs", 1.0, 2, 4)
    assert (run["steps_per_call"], run["jit_compile"], run["backbone"]) == (4, True, vgg.name)


def test_launch_validation_error_is_shown_and_nothing_is_queued(populated):
    at = page("launch.py").run()
    at.number_input(key="launch_learning_rate").set_value(0.0).run()
    assert not at.exception
    assert "learning rate must be > 0" in shown(at.sidebar.error)
    at.button(key="launch_run").click().run()
    assert len(store_runs.list_runs(populated)) == 2


def test_launch_on_both_backbones_from_stored_images(populated):
    at = page("launch.py").run()
    assert_clean(at)
    assert at.selectbox(key="launch_content_pick").value is not None  # stored images are offered
    at.number_input(key="launch_iterations").set_value(6)
    at.radio(key="launch_weights").set_value("none")
    at.button(key="launch_run_both").click().run()
    assert_clean(at)
    assert "Queued run #3, #4" in texts(at.success)
    runs = {r: store_runs.get_run(populated, r) for r in (3, 4)}
    assert {r["backbone"] for r in runs.values()} == {"vgg16", "resnet50"}
    assert all(r["iterations"] == 6 and r["status"] == "queued" for r in runs.values())
    by_backbone = {r["backbone"]: r for r in runs.values()}
    for name, bb in BACKBONES.items():
        assert by_backbone[name]["learning_rate"] == bb.defaults["portable"].learning_rate
        assert by_backbone[name]["style_weight"] == bb.defaults["portable"].style_weight
        assert by_backbone[name]["content_layer"] == bb.content_layer
    first = store_runs.get_run(populated, 1)
    assert by_backbone["vgg16"]["content_image"] == first["content_image"]


def test_launch_shows_the_run_named_in_the_url(populated):
    at = page("launch.py")
    at.query_params["run"] = "2"
    at.run()
    assert_clean(at)
    assert "**Run #2** · resnet50" in texts(at.markdown)
    assert ("Open run #2 in Run detail", "run", "run=2") in links(at)
    assert len(at.get("vega_lite_chart")) == 1


# --- gallery ------------------------------------------------------------------------------


def test_gallery_cards_link_to_run_detail_and_filters_narrow(populated):
    at = page("gallery.py").run()
    assert_clean(at)
    assert "2 runs match" in texts(at.caption)
    assert len(at.image) == 6  # content | style | output per card
    detail_links = [q for label, p, q in links(at) if p == "run"]
    assert detail_links == ["run=2", "run=1"]
    at.multiselect(key="gallery_backbones").set_value(["resnet50"]).run()
    assert_clean(at)
    assert "1 run match" in texts(at.caption)
    assert [q for _, p, q in links(at) if p == "run"] == ["run=2"]
    at.multiselect(key="gallery_backbones").set_value([])
    at.multiselect(key="gallery_lrs").set_value([FIXTURE_LRS["vgg16"]]).run()
    assert [q for _, p, q in links(at) if p == "run"] == ["run=1"]
    at.multiselect(key="gallery_statuses").set_value(["finished"])
    at.selectbox(key="gallery_sort").set_value("oldest first").run()
    assert [q for _, p, q in links(at) if p == "run"] == ["run=1"]
    store_runs.request_cancel(populated, queue_copy(populated))
    at.multiselect(key="gallery_lrs").set_value([])
    at.multiselect(key="gallery_statuses").set_value(["cancelled"]).run()
    assert_clean(at)
    assert [q for _, p, q in links(at) if p == "run"] == ["run=3"]


def test_gallery_paginates(populated):
    for _ in range(13):
        queue_copy(populated)
    at = page("gallery.py").run()
    assert_clean(at)
    assert "15 runs match · page 1 of 2" in texts(at.caption)
    assert len([p for _, p, _ in links(at) if p == "run"]) == 12
    at.get("pagination")[0].set_value(2).run()
    assert_clean(at)
    assert "page 2 of 2" in texts(at.caption)
    assert [q for _, p, q in links(at) if p == "run"] == ["run=3", "run=2", "run=1"]


# --- run detail ------------------------------------------------------------------------------


def detail(run_id: int) -> AppTest:
    at = page("run_detail.py")
    at.query_params["run"] = str(run_id)
    return at.run()


def test_run_detail_shows_everything(populated):
    at = detail(1)
    assert_clean(at)
    assert at.selectbox(key="detail_run").value == 1
    assert "Run #1 · vgg16" in texts(at.subheader)
    assert "random weights" in texts(at.warning)
    assert {d.key for d in at.download_button} == {"detail_dl_png", "detail_dl_csv", "detail_dl_config"}
    assert f'"{BACKBONES["vgg16"].content_layer}"' in at.json[0].value
    slider = at.select_slider(key="detail_snapshot_step")
    assert slider.options == ["0 (initial image)", "4", "8"] and slider.value == 8
    slider.set_value(4).run()
    assert "step 4" in [c for img in at.image for c in img.captions]
    assert len(at.get("vega_lite_chart")) == 2  # losses and step time
    at.toggle(key="detail_log").set_value(False).run()
    assert_clean(at)
    at.selectbox(key="detail_run").set_value(2).run()
    assert_clean(at)
    assert "Run #2 · resnet50" in texts(at.subheader) and at.query_params["run"] == "2"


def test_run_detail_explains_the_scales_of_a_coarse_to_fine_run(db, image_files):
    from workbench.__main__ import main

    content, style = image_files
    args = ["run", "--content", str(content), "--style", str(style), "--size", "64", "--iterations", "6"]
    args += ["--scales", "2", "--coarse-iterations", "2", "--optimizer", "lbfgs", "--weights", "none", "--db", str(db)]
    assert main(args) == 0
    at = detail(1)
    assert_clean(at)
    assert "Coarse to fine: steps 1–2 at 32 px, steps 3–6 at 64 px." in texts(at.caption)


def test_run_detail_saves_notes_and_tags(populated):
    at = detail(2)
    at.text_area(key="detail_notes_2").input("strong texture")
    at.text_input(key="detail_tags_2").input("keep, resnet ,")
    at.button(key="detail_save").click().run()
    assert_clean(at)
    run = store_runs.get_run(populated, 2)
    assert run["notes"] == "strong texture" and run["tags"] == ["keep", "resnet"]
    assert "Saved notes and tags" in texts(at.success)


def test_run_detail_delete_needs_confirmation(populated):
    at = detail(1)
    at.button(key="detail_delete").click().run()
    assert "cannot be undone" in texts(at.warning)
    at.button(key="detail_delete_keep").click().run()
    assert store_runs.get_run(populated, 1) is not None
    at.button(key="detail_delete").click().run()
    at.button(key="detail_delete_confirm").click().run()
    assert_clean(at)
    assert store_runs.get_run(populated, 1) is None
    assert "Deleted run #1" in texts(at.success)
    assert at.selectbox(key="detail_run").value == 2


def test_run_detail_rerun_queues_the_same_settings(populated):
    at = detail(2)
    at.button(key="detail_rerun").click().run()
    assert_clean(at)
    assert "Queued run #3" in texts(at.success)
    old, new = store_runs.get_run(populated, 2), store_runs.get_run(populated, 3)
    assert new["status"] == "queued" and new["config"] == old["config"]
    assert (new["content_image"], new["style_image"]) == (old["content_image"], old["style_image"])
    assert ("Watch run #3 on the Launch page", "launch", "run=3") in links(at)


def test_run_detail_active_run_can_be_cancelled_not_deleted(populated):
    run_id = queue_copy(populated)
    at = detail(run_id)
    assert_clean(at)
    assert not [b for b in at.button if b.key == "detail_delete"]
    at.button(key="detail_cancel").click().run()
    assert store_runs.get_run(populated, run_id)["status"] == "cancelled"
    assert [b for b in at.button if b.key == "detail_delete"]


def test_run_detail_unknown_run_in_url_falls_back(populated):
    at = detail(999)
    assert_clean(at)
    assert at.selectbox(key="detail_run").value == 2


# --- compare ------------------------------------------------------------------------------


def test_compare_tables_have_the_studys_shape(populated):
    at = page("compare.py").run()
    assert_clean(at)
    assert at.multiselect(key="compare_runs").value == [1, 2]  # newest finished run per backbone
    assert "different scales" in texts(at.info)
    assert len(at.get("vega_lite_chart")) >= 4  # raw, normalised, time, learning rate
    at.number_input(key="compare_every").set_value(4).run()
    assert_clean(at)
    names = ["loss_every_n", "loss_norm_every_n", "time_every_n", "lr_final_loss", "lr_final_norm"]
    names += ["layers_resnet50", "layers_vgg16"]  # tables in page order (AppTest has no dataframe keys)
    tables = {f"compare_table_{n}": d.value for n, d in zip(names, at.dataframe[: len(names)], strict=True)}
    loss = tables["compare_table_loss_every_n"]
    assert list(loss.index) == [4, 8] and list(loss.columns) == ["resnet50", "vgg16"]
    assert list(tables["compare_table_time_every_n"].index) == [4, 8]
    assert (tables["compare_table_time_every_n"].diff().dropna() > 0).all().all()  # cumulative
    rates = sorted(FIXTURE_LRS.values())
    assert list(tables["compare_table_lr_final_loss"].index) == rates
    assert tables["compare_table_layers_vgg16"].loc[0, "content_layer"] == BACKBONES["vgg16"].content_layer
    downloads = {d.key for d in at.download_button}
    assert {"compare_dl_loss_every_n", "compare_dl_time_every_n", "compare_dl_lr_final_loss"} <= downloads
    assert {"compare_dl_layers_vgg16", "compare_dl_layers_resnet50"} <= downloads
    captions = [c for img in at.image for c in img.captions]
    assert len(captions) == 2 and all("backbone=" in c and "learning_rate=" in c for c in captions)


def test_compare_curves_against_wall_time(populated):
    at = page("compare.py").run()
    at.radio(key="compare_x").set_value("elapsed_seconds").run()
    assert_clean(at)
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert sum("seconds since the run started" in spec for spec in specs) == 2  # raw and normalised
    at.selectbox(key="compare_color").set_value("optimizer").run()
    assert_clean(at)


def test_compare_fair_metrics_cross_evaluation_and_verdicts(populated):
    at = page("compare.py").run()
    assert_clean(at)
    fair, cross = at.dataframe[-2].value, at.dataframe[-1].value  # after the study's tables
    assert list(fair["id"]) == [1, 2] and list(fair["backbone"]) == ["vgg16", "resnet50"]
    for column in ("ssim", "edge_corr", "color_w2", "loss_ratio_final", "iters_to_90", "iters_to_99"):
        assert fair[column].notna().all(), column
    assert {"judge_style_loss [vgg16]", "judge_style_loss [resnet50]"} <= set(fair.columns)
    assert list(cross.columns) == ["producer", "ResNet50", "VGG16"] and len(cross) == 2  # producer x judge
    text = "\n".join(str(m.value) for m in at.markdown)
    assert "one pair: no interval" in text and "n = 1" in text
    assert "SSIM to the content** (higher is better)" in text  # the metrics explained
    keys = {d.key for d in at.download_button}
    assert {"compare_dl_fair", "compare_dl_cross_eval", "compare_dl_verdicts"} <= keys
    at.radio(key="compare_judged").set_value("content loss").run()
    assert_clean(at)
    put_metrics(populated, 2, [])  # run 2 loses its metrics: a hint says how to fill them
    at.run()
    assert_clean(at)
    assert "No fair metrics for run #2" in "\n".join(str(i.value) for i in at.info)
    assert "python -m workbench metrics --missing" in "\n".join(str(i.value) for i in at.info)


def test_compare_by_grouping(populated):
    at = page("compare.py").run()
    at.radio(key="compare_mode").set_value("by grouping").run()
    at.selectbox(key="compare_group_by").set_value("backbone").run()
    assert_clean(at)
    assert "2 runs selected in 2 groups" in texts(at.caption)  # issue 11 #10: backbones side by side
    at.multiselect(key="compare_groups").set_value(["resnet50"]).run()
    assert_clean(at)
    assert "1 run selected in 1 groups" in texts(at.caption)


# --- router ------------------------------------------------------------------------------


def test_home_router_serves_every_page(populated):
    at = AppTest.from_file(ROOT / "dashboard" / "Home.py", default_timeout=TIMEOUT_S).run()
    assert_clean(at)
    assert at.title[0].value == "Neural style transfer workbench"
    for script, title in (
        ("launch.py", "Launch"),
        ("gallery.py", "Gallery"),
        ("run_detail.py", "Run detail"),
        ("compare.py", "Compare runs"),
        ("studies.py", "Studies"),
    ):
        at.switch_page(f"views/{script}").run()
        assert_clean(at)
        assert at.title[0].value == title


# --- user text is shown as text, never as Markdown ----------------------------------------------


def test_gallery_shows_tags_as_text(populated):
    store_runs.set_notes_tags(populated, 1, EVIL, [EVIL, "keep"])
    at = page("gallery.py").run()
    assert_clean(at)
    tags = [str(c.value) for c in at.caption if str(c.value).startswith("tags:")]
    assert len(tags) == 1
    assert_escaped(tags[0])


def evil_named_run(db, name: str = EVIL) -> int:
    """A finished copy of run 2 whose content image (other pixels) is stored as `name`."""
    run = store_runs.get_run(db, 2)
    rgb = store_images.get_array(db, run["content_image"])[::-1, ::-1].copy()
    image = store_images.put_image(db, rgb, name)
    run_id = store_runs.create_run(db, run["config"], image, run["style_image"], run["gram_convention"])
    store_runs.claim_run(db, run_id, "tf", "CPU")
    rec = RunRecorder(db, run_id)
    for step in (1, 2):
        rec.add_iteration((step, 1.0 / step, 0.5, 0.5, 0.0, 0.1, step * 0.1, 32))
    rec.flush()
    store_runs.finish_run(db, run_id, "finished", output_image=run["output_image"], total_loss=0.5, steps_done=2)
    return run_id


def test_compare_labels_show_image_names_as_text(populated):
    run_id = evil_named_run(populated)
    at = page("compare.py").run()
    at.multiselect(key="compare_runs").set_value([2, run_id]).run()
    assert not at.exception
    captions = [c for img in at.image for c in img.captions]
    assert len(captions) == 2 and all("content_name=" in c for c in captions)
    assert_escaped(next(c for c in captions if f"#{run_id}" in c))


def test_launch_shows_upload_names_as_text(db, image_files):
    content, _ = image_files
    at = page("launch.py").run()
    at.file_uploader(key="launch_content_upload").set_value((EVIL_FILE, content.read_bytes(), "image/jpeg"))
    at.file_uploader(key="launch_style_upload").set_value((EVIL_FILE, b"not an image", "image/png"))
    at.run()
    assert not at.exception
    captions = [c for img in at.sidebar.image for c in img.captions]
    assert len(captions) == 1
    assert_escaped(captions[0])  # the preview's caption
    assert "not a readable image file" in texts(at.error)
    assert_escaped(texts(at.error))  # the error names the file


def test_launch_shows_paths_in_errors_and_warnings_as_text(db, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / EVIL_FILE))  # ImageNet weights not cached there
    at = page("launch.py").run()
    assert not at.exception
    assert "are not cached at" in texts(at.sidebar.warning)
    assert_escaped(texts(at.sidebar.warning))
    at.radio(key="launch_weights").set_value("local file").run()
    at.text_input(key="launch_weights_vgg16").input(f"/nowhere/{EVIL_FILE}.h5").run()
    assert not at.exception
    assert "does not exist" in texts(at.sidebar.error)
    assert_escaped(texts(at.sidebar.error))


def test_run_errors_naming_user_files_are_text(populated):
    run_id = queue_copy(populated)
    store_runs.finish_run(populated, run_id, "failed", error=f"{EVIL_FILE}: damaged or truncated image")
    at = page("launch.py")
    at.query_params["run"] = str(run_id)
    at.run()
    assert not at.exception
    assert_escaped(texts(at.error))  # the live view's card
    at = detail(run_id)
    assert not at.exception
    assert "Error: " in texts(at.error)
    assert_escaped(texts(at.error))  # Run detail's header


def test_run_detail_rerun_error_is_text(populated, monkeypatch):
    def fail(db, run_id):
        raise ConfigError(f"image {EVIL_FILE} is no longer in the store")

    monkeypatch.setattr(launch_rules, "rerun", fail)
    at = detail(2)
    at.button(key="detail_rerun").click().run()
    assert not at.exception
    assert "Could not re-run" in texts(at.error)
    assert_escaped(texts(at.error))

"""The Compare page through AppTest: runs from the URL and back, grouping on any
parameter across groups, one colour scale per page, output-loss wording, the contact
sheet and the comparison slider (issue 11: #7, #10, #15, "pick runs", "export")."""

from __future__ import annotations

import io
import json

from PIL import Image

from dashboard import charts, compare
from store import metrics as store_metrics
from store import runs as store_runs
from store.db import change_token
from store.recorder import RunRecorder
from tests.dashboard.conftest import FIXTURE_LRS, assert_clean, page


def finished_copy(db, run_id: int, **changes) -> int:
    """A finished run with run `run_id`'s images, config and fair metrics (SSIM + 0.1),
    `changes` applied, 4 logged steps."""
    run = store_runs.get_run(db, run_id)
    config = run["config"] | changes
    new = store_runs.create_run(db, config, run["content_image"], run["style_image"], run["gram_convention"])
    store_runs.claim_run(db, new, "tf", "CPU")
    rec = RunRecorder(db, new)
    for step in (1, 2, 3, 4):
        rec.add_iteration((step, 10.0 / step, 1.0 / step, 9.0 / step, 0.0, 0.1, step * 0.1, 32))
    rec.flush()
    store_runs.finish_run(db, new, "finished", output_image=run["output_image"], total_loss=2.0, steps_done=4)
    metrics = store_metrics.get_metrics(db, [run_id])
    rows = [(m, j, v + 0.1 if m == "ssim" else v, d) for m, j, v, d in metrics.drop(columns="run_id").itertuples(False)]
    store_metrics.put_metrics(db, new, rows)
    return new


def specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def page_text(at) -> str:
    parts = [*at.markdown, *at.caption, *at.subheader, *at.info, *at.title]
    return "\n".join(str(e.value) for e in parts)


def test_url_runs_open_exactly_those_runs_and_the_selection_goes_back_to_the_url(populated):
    at = page("compare.py")
    at.query_params["runs"] = "2"
    at.run()
    assert_clean(at)
    assert at.radio(key="compare_mode").value == "by hand"
    assert at.multiselect(key="compare_runs").value == [2]  # not the default (newest per backbone: 1, 2)
    assert "1 run selected." in page_text(at)
    at.multiselect(key="compare_runs").set_value([1, 2]).run()
    assert_clean(at)
    assert at.query_params["runs"] == "1,2"  # shareable
    at.multiselect(key="compare_runs").set_value([1]).run()
    assert at.query_params["runs"] == "1" and at.multiselect(key="compare_runs").value == [1]  # not undone by the URL


def test_url_runs_reach_runs_the_picker_does_not_list_by_default_and_skip_junk(populated):
    other = finished_copy(populated, 1, learning_rate=3.0)
    at = page("compare.py")
    at.query_params["runs"] = f"{other},junk,1,999"
    at.run()
    assert_clean(at)
    assert at.multiselect(key="compare_runs").value == [other, 1]  # 999 does not exist, junk is no id


def test_group_by_backbone_compares_the_backbones_in_one_choice(populated):
    extra = finished_copy(populated, 1, learning_rate=3.0)  # a second vgg16 run: vgg16 n = 2
    at = page("compare.py").run()
    at.radio(key="compare_mode").set_value("by grouping").run()
    assert_clean(at)
    assert at.selectbox(key="compare_group_by").value == "backbone"
    assert sorted(at.multiselect(key="compare_groups").value) == ["resnet50", "vgg16"]
    text = page_text(at)
    assert "3 runs selected in 2 groups" in text and "vgg16 (n = 2)" in text and "resnet50 (n = 1)" in text
    # curves per group, one colour per group, the same scale on every chart
    group_specs = [s for s in specs(at) if _color(s) and _color(s)["field"] == "group"]
    assert len(group_specs) >= 3  # normalised, raw (each group is one backbone), time
    domains = {tuple(_color(s)["scale"]["domain"]) for s in group_specs}
    assert domains == {("resnet50", "vgg16")}
    ranges = {tuple(_color(s)["scale"]["range"]) for s in group_specs}
    assert ranges == {(charts.BACKBONE_COLORS["resnet50"], charts.BACKBONE_COLORS["vgg16"])}
    # tables: columns per group, the fair metrics per group with n, outputs per group
    norm = at.dataframe[1].value
    assert list(norm.columns) == ["resnet50", "vgg16"]
    groups = next(d.value for d in at.dataframe if "n" in d.value.columns and "group" in d.value.columns)
    assert dict(zip(groups["group"], groups["n"], strict=True)) == {"vgg16": 2, "resnet50": 1}
    vgg = groups.set_index("group").loc["vgg16"]
    assert vgg["ssim 95% low"] < vgg["ssim"] < vgg["ssim 95% high"]  # an interval where n >= 2
    assert groups.set_index("group").loc["resnet50"][["ssim 95% low", "ssim 95% high"]].isna().all()  # none for n = 1
    assert "**vgg16** (n = 2" in text
    assert {1, 2, extra} == {int(c.split(" ")[0][1:]) for img in at.image for c in img.captions}


def test_group_by_any_parameter_filtered_by_the_others(populated):
    finished_copy(populated, 1, learning_rate=3.0, optimizer="lbfgs")
    at = page("compare.py").run()
    at.radio(key="compare_mode").set_value("by grouping").run()
    options = at.selectbox(key="compare_group_by").options
    assert {"backbone", "learning rate", "optimizer"} <= set(options)  # settings that vary
    at.selectbox(key="compare_group_by").set_value("optimizer").run()
    assert_clean(at)
    assert sorted(at.multiselect(key="compare_groups").value) == ["adam", "lbfgs"]
    assert "3 runs selected in 2 groups" in page_text(at)
    # the groups mix backbones: raw losses are not drawn side by side
    assert "not comparable" in page_text(at)
    at.multiselect(key="compare_where_backbone").set_value(["vgg16"]).run()
    assert_clean(at)
    assert "2 runs selected in 2 groups" in page_text(at)
    at.multiselect(key="compare_groups").set_value(["lbfgs"]).run()
    assert "1 run selected in 1 groups" in page_text(at)


def _color(spec: dict) -> dict | None:
    """The color encoding of a chart spec (a plain chart or the first layer that has one)."""
    for part in [spec, *spec.get("layer", [])]:
        color = part.get("encoding", {}).get("color")
        if color and "field" in color:
            return color
    return None


def test_one_colour_scale_for_every_curve_chart_and_the_time_chart_follows_colour_by(populated):
    at = page("compare.py").run()
    assert_clean(at)
    for choice in ("run", "learning_rate", "backbone"):
        at.selectbox(key="compare_color").set_value(choice).run()
        assert_clean(at)
        curve_specs = [s for s in specs(at) if "detail" in s.get("encoding", {}) and _color(s)["field"] == choice]
        assert len(curve_specs) == 3, choice  # raw, normalised and cumulative time
        scales = {json.dumps(_color(s)["scale"], sort_keys=True) for s in curve_specs}
        assert len(scales) == 1, choice
    scale = _color(curve_specs[0])["scale"]
    assert dict(zip(scale["domain"], scale["range"], strict=True)) == {
        "resnet50": charts.BACKBONE_COLORS["resnet50"],
        "vgg16": charts.BACKBONE_COLORS["vgg16"],
    }
    lr = next(s for s in specs(at) if _color(s) and _color(s)["field"] == "backbone" and "learning rate" in str(s))
    assert _color(lr)["scale"]["range"] == scale["range"]  # Table 5's chart: the same backbone colours


def test_output_loss_wording_and_every_chart_downloadable(populated):
    at = page("compare.py").run()
    assert_clean(at)
    text = page_text(at)
    assert "Output loss against learning rate (Table 5)" in text
    assert "output ÷ step 1" in text
    assert "final loss" not in text.lower() and "final ÷" not in text.lower()
    assert "Raw values compare only within one backbone" in text
    for chart in at.get("vega_lite_chart"):
        assert "final loss" not in chart.proto.spec.lower()


def test_contact_sheet_download_and_slider(populated):
    at = page("compare.py").run()
    assert_clean(at)
    sheet = next(d for d in at.download_button if d.key == "compare_contact_sheet")
    assert sheet.proto.url.endswith(".png")
    assert len(at.get("iframe")) == 1  # the image comparison slider
    at.selectbox(key="compare_slider_right").set_value("content photo").run()
    assert_clean(at)
    # the sheet itself: the two outputs plus the shared content and style images, labelled
    data = compare._sheet(str(populated), change_token(populated), (1, 2), ("backbone", "learning_rate"))
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG" and img.width > 4 * 200  # four tiles in a row
    lines = compare.run_lines({"id": 1, "backbone": "vgg16", "learning_rate": FIXTURE_LRS["vgg16"]}, ["learning_rate"])
    assert lines == ("#1 · vgg16", "learning_rate=15")

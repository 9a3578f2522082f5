"""dashboard/charts.py: one colour per series, axes that show ResNet50's curves, and specs
that give Vega no reason to warn (issue 11 #7, #8, #15). Specs are checked through
altair's own `to_dict` (which validates them against the Vega-Lite schema)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard import charts


def curve(steps: int = 20, first_content: float = 4e-8) -> pd.DataFrame:
    """One run's curve like a ResNet50 run that starts from the photo: content ~0 at step 1."""
    step = np.arange(1, steps + 1)
    content = np.where(step == 1, first_content, 5.0 + step)
    style = 1e4 / step
    return pd.DataFrame(
        {
            "step": step,
            "total_loss": content + style,
            "content_loss": content,
            "style_loss": style,
            "step_seconds": 0.1,
            "elapsed_seconds": 0.1 * step,
        }
    )


def panels(spec: dict) -> list[dict]:
    return spec["vconcat"]


def test_loss_parts_are_panels_with_their_own_scales_and_content_from_step_2():
    spec = charts.loss_parts_chart(curve(), log=True).to_dict()
    parts = panels(spec)
    assert [p["encoding"]["y"]["title"] for p in parts] == [
        "total loss",
        "content loss (from step 2)",
        "style loss",
    ]
    assert spec.get("resolve", {}).get("scale", {}).get("y", "independent") == "independent"
    for p in parts:
        assert p["encoding"]["x"]["axis"]["format"] == "d" and p["encoding"]["x"]["axis"]["tickMinStep"] == 1
        assert p["encoding"]["y"]["scale"]["type"] == "log"
    long = charts.loss_parts(curve())
    content = long[long["part"] == "content"]
    assert content["step"].min() == 2 and content["loss"].min() > 1  # the 4e-8 no longer squashes the panel
    assert long[long["part"] == "total"]["step"].min() == 1


def test_first_live_frame_has_integer_step_ticks_and_keeps_its_one_point():
    spec = charts.loss_parts_chart(curve(steps=1), log=True).to_dict()
    assert all(p["encoding"]["x"]["axis"]["format"] == "d" for p in panels(spec))
    long = charts.loss_parts(curve(steps=1))
    assert set(long["part"]) == {"total", "content", "style"}  # one step: nothing dropped


def test_log_axes_never_see_zero_negative_or_nan_values():
    data = pd.DataFrame(
        {
            "run": ["a"] * 4,
            "run_id": [1] * 4,
            "step": [1, 2, 3, 4],
            "total_loss": [1.0, 0.0, np.nan, -2.0],
            "backbone": "vgg16",
            "learning_rate": 1.0,
        }
    )
    chart = charts.overlay_chart(data, "total_loss", "loss", color="backbone", log=True)
    assert chart.data["total_loss"].tolist() == [1.0]
    assert len(charts.overlay_chart(data, "total_loss", "loss", color="backbone", log=False).data) == 3  # NaN dropped
    parts = charts.loss_parts(curve().assign(style_loss=0.0))
    assert "style" not in set(parts["part"])


def test_no_empty_band_layers():
    long = pd.DataFrame({"series": ["a", "b"], "x": [100, 100], "mean": [1.0, 2.0], "std": [np.nan, np.nan]})
    line = charts.study_line_chart(long, "iteration", "loss").to_dict()
    assert "layer" not in line  # no spread: no band layer whose empty extent Vega warns about
    dots = charts.study_dot_chart(long.assign(x=["a", "b"]), "variant", "loss").to_dict()
    assert "layer" not in dots
    spread = long.assign(std=[0.1, np.nan])
    assert len(charts.study_line_chart(spread, "iteration", "loss").to_dict()["layer"]) == 2
    group = pd.DataFrame(
        {"group": ["g"], "step": [1], "elapsed_seconds": [0.1], "mean": [1.0], "lo": [np.nan], "hi": [np.nan], "n": [1]}
    )
    assert "layer" not in charts.group_chart(group, "loss").to_dict()
    with_interval = group.assign(lo=[0.5], hi=[1.5], n=[3])
    assert len(charts.group_chart(with_interval, "loss").to_dict()["layer"]) == 2
    # on a log axis, a band reaching zero or below is left out rather than drawn to -infinity
    assert "layer" not in charts.group_chart(with_interval.assign(lo=[-0.5]), "loss", log=True).to_dict()


def test_charts_with_a_discrete_axis_have_an_explicit_height():
    long = pd.DataFrame(
        {
            "producer": ["VGG16", "ResNet50"] * 2,
            "judge": ["VGG16", "VGG16", "ResNet50", "ResNet50"],
            "value": [1.0, 2.0, 3.0, 4.0],
            "relative": [1.0, 2.0, 1.0, 1.3],
        }
    )
    spec = charts.cross_eval_heatmap(long).to_dict()
    assert isinstance(spec["height"], int) and spec["height"] >= 2 * 40  # else Vega: "Dropping fit-y"
    bars = charts.metric_bars(
        pd.DataFrame({"metric": ["ssim", "ssim"], "series": ["a", "b"], "mean": [0.5, np.nan], "std": [np.nan, 0.1]})
    ).to_dict()
    assert bars["spec"]["width"] == 180 and bars["spec"]["height"] == 160  # a facet gets no container fit


def test_one_colour_per_series_and_backbones_keep_theirs():
    both = charts.series_colors(["vgg16", "resnet50"])
    assert list(both) == ["resnet50", "vgg16"]  # a fixed order, whatever order the data came in
    assert both == charts.series_colors(["resnet50", "vgg16", "vgg16"])
    assert charts.series_colors(["vgg16"])["vgg16"] == both["vgg16"] == charts.backbone_color("vgg16")
    assert charts.series_colors(["resnet50+softmax", "vgg16"])["vgg16"] == both["vgg16"]  # on any page
    runs = charts.series_colors(["#1 vgg16", "#2 resnet50", "#3 vgg16"])
    assert len(set(runs.values())) == 3 and not set(runs.values()) & {both["vgg16"], both["resnet50"]}
    assert list(charts.series_colors([10.0, 2.0, 15.0])) == ["2.0", "10.0", "15.0"]  # numbers in numeric order
    scale = charts.color_scale(["vgg16", "resnet50"]).to_dict()
    assert scale == {"domain": ["resnet50", "vgg16"], "range": [both["resnet50"], both["vgg16"]]}
    time_chart = charts.step_time_chart(curve(), backbone="resnet50").to_dict()
    assert time_chart["mark"]["color"] == both["resnet50"]
    data = pd.DataFrame({"run": ["a", "b"], "run_id": [1, 2], "step": [1, 1], "total_loss": [1.0, 2.0]})
    data["backbone"], data["learning_rate"] = ["vgg16", "resnet50"], 1.0
    given = charts.color_scale(["vgg16", "resnet50", "resnet50+softmax"])
    spec = charts.overlay_chart(data, "total_loss", "loss", color="backbone", scale=given).to_dict()
    assert spec["encoding"]["color"]["scale"] == given.to_dict()  # the page's scale, not one of its own


def test_group_intervals_are_student_t():
    mean, std, n = pd.Series([1.0, 1.0, 1.0]), pd.Series([1.0, 1.0, np.nan]), pd.Series([2, 5, 1])
    lo, hi = charts.interval(mean, std, n)
    assert hi[0] - 1.0 == pytest.approx(12.706 / math.sqrt(2), rel=1e-3)
    assert hi[1] - 1.0 == pytest.approx(2.776 / math.sqrt(5), rel=1e-3) and lo[1] == pytest.approx(2 - hi[1])
    assert math.isnan(lo[2]) and math.isnan(hi[2])  # n = 1: no interval


def test_study_columns_named_for_a_backbone_get_its_colour():
    """The Studies tables name series by label ("VGG16 loss"): the same blue and orange as
    the backbone keys on every other page; other variants never take them."""
    colors = charts.series_colors(["VGG16 loss", "ResNet50 loss", "VGG16 lr 15"])
    assert colors["VGG16 loss"] == charts.BACKBONE_COLORS["vgg16"]
    assert colors["ResNet50 loss"] == charts.BACKBONE_COLORS["resnet50"]
    assert colors["VGG16 lr 15"] not in set(charts.BACKBONE_COLORS.values())

"""Fair metrics on screen (`dashboard.fair`): labels and units, one run's table with the
reason for every missing value, and the cross-evaluation grid that says why a cell is
empty (issue 11 #2) instead of showing "None"."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import fair
from store import metrics as store_metrics
from store import runs as store_runs
from store.metrics import METRICS
from tests.dashboard.conftest import TIMEOUT_S, assert_clean


@pytest.fixture(scope="session")
def vgg16_weights_file(tmp_path_factory, models) -> Path:
    """A local VGG16 weights file (the session's random VGG16, saved), as a user's own."""
    path = tmp_path_factory.mktemp("weights") / "my vgg16.weights.h5"
    models.backbone("vgg16", "none", 0).save_weights(str(path))
    return path


def weights_file_run(db, models, monkeypatch, tmp_path, weights: Path, source: int = 1) -> int:
    """A finished copy of VGG16 run `source` made with the local weights file `weights`,
    judged for real by `workbench.judging.record_metrics`: its own judge loads that file;
    the ResNet50 judge has no file and no Keras cache, so it is skipped with its reason."""
    from workbench.judging import record_metrics

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no keras cache"))
    run = store_runs.get_run(db, source)
    assert run["backbone"] == "vgg16"
    config = {**run["config"], "weights": str(weights)}
    run_id = store_runs.create_run(db, config, run["content_image"], run["style_image"], run["gram_convention"])
    store_runs.claim_run(db, run_id, "tf", "CPU")
    store_runs.finish_run(
        db, run_id, "finished", output_image=run["output_image"], total_loss=run["total_loss"], steps_done=8
    )
    record_metrics(db, run_id, models)
    return run_id


def test_loss_ratio_label_names_the_output_loss():
    assert fair.metric_label("loss_ratio_final") == "output ÷ step-1 loss"
    assert fair.metric_label("loss_ratio_final std") == "output ÷ step-1 loss ± std"
    assert "output ÷ step-1 loss" in "\n".join(fair._group_lines(METRICS["loss_ratio_final"].group))
    assert fair.metric_label("judge_style_loss [vgg16]") == "style loss (VGG16 judge)"


def test_every_metric_has_a_unit_and_a_description():
    for name in METRICS:
        assert fair.unit(name), name
        assert fair.DESCRIPTIONS.get(name), name


def test_run_table_says_why_a_value_is_missing():
    long = pd.DataFrame(
        {
            "run_id": [7, 7, 7, 7],
            "metric": ["judge_style_loss", "ssim", "iters_to_90", "judge_style_loss"],
            "judge": ["vgg16", "", "", "resnet50"],
            "value": [None, 0.5, 12.0, 3.25],
            "detail": ["skipped: no file for vgg16", "", "", "weights=none; the run's own weights"],
        }
    )
    table = fair.run_table(long)
    assert list(table["metric"]) == [  # METRICS order, judges sorted
        "SSIM to the content",
        "style loss (ResNet50 judge)",
        "style loss (VGG16 judge)",
        "iterations to 90 % of the drop",
    ]
    row = table.set_index("metric").loc["style loss (VGG16 judge)"]
    assert row["value"] == "–" and row["note"] == "skipped: no file for vgg16"
    assert table.set_index("metric").loc["iterations to 90 % of the drop", "value"] == "12"
    assert table.set_index("metric").loc["SSIM to the content", "unit"] == fair.unit("ssim")
    assert "None" not in table.to_string()
    assert fair.skipped_reasons(long) == {"vgg16": "skipped: no file for vgg16"}


def _cross_eval_app(db: str, run_ids: list[int], with_reasons: bool) -> None:
    from dashboard import fair
    from store import metrics as store_metrics

    values = store_metrics.paired_values(db, run_ids=run_ids)
    if with_reasons:
        skipped = fair.skipped_reasons(store_metrics.get_metrics(db, run_ids), fair.JUDGED.values())
        fair.cross_eval_section(values, "compare", skipped)
    else:
        fair.cross_eval_section(values, "compare")


def test_cross_evaluation_cells_say_why_a_judge_was_skipped(
    populated, models, monkeypatch, tmp_path, vgg16_weights_file
):
    run_id = weights_file_run(populated, models, monkeypatch, tmp_path, vgg16_weights_file)
    long = store_metrics.get_metrics(populated, [run_id])
    reasons = fair.skipped_reasons(long, fair.JUDGED.values())
    assert list(reasons) == ["resnet50"] and reasons["resnet50"].startswith("skipped: the run used a weights file")
    at = AppTest.from_function(
        _cross_eval_app, args=(str(populated), [2, run_id], True), default_timeout=TIMEOUT_S
    ).run()
    assert_clean(at)
    grid = at.dataframe[0].value.set_index("producer")
    # ResNet50's run (random weights) was judged by both; the VGG16 run with a weights file
    # only by VGG16: its ResNet50-judge cell says why.
    assert grid.loc["VGG16", "ResNet50"] == f"– ({reasons['resnet50']})"
    assert grid.loc["VGG16", "VGG16"][0].isdigit() and grid.loc["ResNet50"].map(lambda v: v[0].isdigit()).all()
    assert "None" not in grid.to_string() and "nan" not in grid.to_string()
    shown = "\n".join(str(m.value) for m in at.markdown)
    assert "ResNet50 judge" in shown and "skipped" in shown


def test_cross_evaluation_without_gaps_stays_numeric(populated):
    at = AppTest.from_function(_cross_eval_app, args=(str(populated), [1, 2], True), default_timeout=TIMEOUT_S).run()
    assert_clean(at)
    grid = at.dataframe[0].value
    assert list(grid.columns) == ["producer", "ResNet50", "VGG16"]
    assert all(pd.api.types.is_numeric_dtype(grid[c]) for c in ("ResNet50", "VGG16"))

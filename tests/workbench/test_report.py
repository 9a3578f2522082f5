"""The Markdown report: a header that states what ran, raw-loss warnings, the cross-evaluation
in its own table, verdicts with intervals, three significant figures."""

import pytest

from store import metrics as store_metrics
from store import studies as store_studies
from tests.store.test_studies import _finish, _study
from workbench.report import (
    RAW_LOSS_KINDS,
    RAW_LOSS_WARNING,
    build_report,
    design,
    format_value,
    is_raw_loss_table,
    report_markdown,
)


def test_design_drops_the_presets_iteration_count():
    text = "VGG16 (lr 15) vs ResNet50 (lr 20), default layers, 1000 iterations: Tables 3 and 4, Figure 20"
    assert design(text) == "VGG16 (lr 15) vs ResNet50 (lr 20), default layers: Tables 3 and 4, Figure 20"
    assert design("learning rates 1, 10, 15, 20, 30 for each backbone: Table 5") == (
        "learning rates 1, 10, 15, 20, 30 for each backbone: Table 5"
    )


def test_raw_losses_are_decided_per_table_kind():
    assert set(RAW_LOSS_KINDS) == set(store_studies.TABLE_BUILDERS)
    assert is_raw_loss_table({"kind": "by_iteration"})
    assert is_raw_loss_table({"kind": "by_iteration", "measure": "style_loss"})
    assert not is_raw_loss_table({"kind": "by_iteration", "measure": "elapsed_seconds"})
    assert all(is_raw_loss_table({"kind": k}) for k in ("by_learning_rate", "layer_sets", "final"))
    assert not is_raw_loss_table({}) and not is_raw_loss_table({"kind": "pie"})


def test_format_value_uses_three_significant_figures():
    assert [format_value(v) for v in (1.234567, 123456.7, 0.000123456, 12, None, float("nan"))] == [
        "1.23",
        "123000",
        "0.000123",
        "12",
        "",
        "",
    ]


def test_report_states_what_ran_and_warns_on_raw_losses(db):
    study_id, _ = _study(db, iterations=50)
    for i, run_id in enumerate(store_studies.study_runs(db, study_id)["id"]):
        _finish(db, int(run_id), 100.0 + i, iterations=50)
        rows = [("ssim", "", 0.5 + 0.1 * i, ""), ("judge_style_loss", "vgg16", 1.23456789, "")]
        store_metrics.put_metrics(db, int(run_id), rows)
    report = build_report(db, study_id)
    text = report_markdown(report)
    assert "What ran (from the 3 finished run(s)): iterations 50, size 64 px, loss convention gatys" in text
    assert "1000 iterations" not in text
    assert text.count(RAW_LOSS_WARNING) == 4  # tables 3, 5, 6 and the final losses
    assert "## Cross-evaluation by the producing backbones (not used for verdicts)" in text
    assert "each judge network favours outputs made with its own objective; not used for verdicts" in text
    assert "| style loss (VGG16 judge) | 1.23 |" in text  # three significant figures, not six
    assert "1.23457" not in text
    assert [t.id for t in report.tables][-2:] == ["fair", "cross_eval"]
    assert build_report(db, 99) is None


def test_every_csv_holds_one_table_and_the_zip_holds_them_all():
    import io
    import zipfile

    import pandas as pd

    from store.studies import StudyTable
    from workbench.report import csv_files, render_csv, zip_csv

    tables = [StudyTable("table3", "T3", pd.DataFrame({"iteration": [1], "a": [2.0]}))]
    verdicts = pd.DataFrame({"metric": ["ssim"], "sentence": ["no clear difference"]})
    files = csv_files(tables, verdicts)
    assert list(files) == ["table3.csv", "verdicts.csv"]
    assert all(not text.startswith("#") for text in files.values())  # no comment lines: any reader takes it
    assert render_csv(tables, verdicts, "verdicts") == files["verdicts.csv"]
    with pytest.raises(KeyError, match="this study has: table3, verdicts"):
        render_csv(tables, verdicts, "table9")
    names = zipfile.ZipFile(io.BytesIO(zip_csv(tables, verdicts))).namelist()
    assert names == ["table3.csv", "verdicts.csv"]

"""What a study ran, read from its runs; the fair table split from the cross-evaluation;
judges skipped on a study's runs."""

from store import metrics as store_metrics
from store import provenance
from store import studies as store_studies
from tests.store.test_studies import VARIANTS, _finish, _study


def test_summary_of_one_setting_and_of_mixed_ones():
    same = [{"iterations": 300, "size": 256, "optimizer": "lbfgs", "loss_convention": "portable"}] * 2
    assert provenance.ran_summary(same) == {
        "iterations": "300",
        "size": "256 px",
        "loss convention": "portable",
        "optimizer": "lbfgs",
    }
    old = {"iterations": 1000, "size": 512, "loss_convention": "gatys", "optimizer": "adam"}
    mixed = [old, {**old, "iterations": 300, "loss_convention": "portable"}]
    summary = provenance.ran_summary(mixed)
    assert summary["iterations"] == "mixed: 300, 1000" and summary["size"] == "512 px"
    assert summary["loss convention"] == "mixed: gatys, portable" and summary["optimizer"] == "adam"


def test_ran_line_reads_the_runs_not_the_preset(db):
    study_id, _ = _study(db, iterations=6)
    assert provenance.ran_line(provenance.study_configs(db, study_id)) == "What ran: no finished runs yet."
    for run_id in store_studies.study_runs(db, study_id)["id"]:
        _finish(db, int(run_id), 10.0, iterations=6)
    line = provenance.ran_line(provenance.study_configs(db, study_id))
    assert line == (
        f"What ran (from the {len(VARIANTS)} finished run(s)): iterations 6, size 64 px, loss convention gatys, "
        "optimizer adam."
    )


def test_fair_table_without_the_cross_evaluation_and_skipped_judges(db):
    study_id, _ = _study(db)
    ids = [int(i) for i in store_studies.study_runs(db, study_id)["id"]]
    for run_id in ids:
        _finish(db, run_id, 10.0)
        store_metrics.put_metrics(
            db,
            run_id,
            [
                ("ssim", "", 0.5, ""),
                ("judge_style_loss", "vgg16", 2.0, ""),
                ("neutral_style_distance", "vgg19", None, "skipped: no ImageNet weights for vgg19 in ~/.keras/models"),
            ],
        )
    variants = [v[0] for v in VARIANTS]
    fair = store_metrics.fair_table(db, study_id, variants, store_metrics.FAIR_METRICS)
    assert list(fair.columns) == ["variant", "ssim"]  # the all-skipped judge has no column
    cross = store_metrics.fair_table(db, study_id, variants, store_metrics.CROSS_EVAL_METRICS)
    assert list(cross.columns) == ["variant", "judge_style_loss [vgg16]"]
    assert store_metrics.skipped_judges(db, study_id) == {
        "vgg19": "skipped: no ImageNet weights for vgg19 in ~/.keras/models"
    }

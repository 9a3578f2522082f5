"""Study presets, their cells, and a small study end to end through the command line
(in-process, random weights, 32 px, a few iterations)."""

import io

import pandas as pd
import pytest

from engine.config import TransferConfig, legacy_values
from engine.errors import ConfigError, WeightsError
from store import metrics as store_metrics
from store import runs as store_runs
from store import studies as store_studies
from store.db import connect
from workbench.__main__ import main
from workbench.judging import judge_weights
from workbench.studies import (
    PRESETS,
    build_cells,
    get_preset,
    image_pairs,
    spec_key,
    spec_pairs,
    study_spec,
    study_weights,
)

PAIRS = image_pairs(["c1", "c2"], ["s1"])


@pytest.mark.parametrize(
    "preset, variants", [("backbones", 2), ("lr-sweep", 10), ("layer-sets", 6), ("resnet-fix", 4), ("optimizers", 8)]
)
def test_cell_count_is_variants_x_pairs_x_seeds(preset, variants):
    cells = build_cells(get_preset(preset), {"weights": "none"}, [0, 1], PAIRS)
    assert len(cells) == variants * 2 * 2
    assert len({c.key for c in cells}) == len(cells)  # every cell is distinct


def test_optimizers_preset_uses_each_optimizers_own_rate():
    cells = build_cells(PRESETS["optimizers"], {}, [0], PAIRS[:1])
    got = [(c.config.backbone, c.config.optimizer, c.config.scales, c.config.learning_rate) for c in cells]
    vgg, resnet = (TransferConfig(backbone=b).resolve().learning_rate for b in ("vgg16", "resnet50"))
    assert got[:4] == [
        ("vgg16", "adam", 1, vgg),
        ("vgg16", "lbfgs", 1, 1),
        ("vgg16", "adam", 2, vgg),
        ("vgg16", "lbfgs", 2, 1),
    ]
    assert got[4][3] == resnet and got[5][3] == 1


def test_the_study_presets_pin_the_study_formulas():
    for name in ("backbones", "lr-sweep", "layer-sets"):
        cells = build_cells(PRESETS[name], {}, [0], PAIRS[:1])
        assert {c.config.loss_convention for c in cells} == {"gatys"}
    assert {c.config.loss_convention for c in build_cells(PRESETS["defaults"], {}, [0], PAIRS[:1])} == {"portable"}


def test_cell_keys_of_studies_from_before_the_speed_options_still_match():
    import hashlib
    import json

    cell = build_cells(PRESETS["backbones"], {}, [0], PAIRS[:1])[0]
    old_config = {k: v for k, v in cell.config.to_dict().items() if k not in legacy_values()}  # what v2 hashed
    old_key = hashlib.sha256(f"{json.dumps(old_config, sort_keys=True)}|{PAIRS[0][0]}|{PAIRS[0][1]}".encode())
    assert cell.key == old_key.hexdigest()
    lbfgs = build_cells(PRESETS["optimizers"], {}, [0], PAIRS[:1])[1]
    assert lbfgs.key != build_cells(PRESETS["optimizers"], {}, [0], PAIRS[:1])[0].key


def test_presets_mirror_the_study():
    lrs = {(c.config.backbone, c.config.learning_rate) for c in build_cells(PRESETS["lr-sweep"], {}, [0], PAIRS[:1])}
    assert lrs == {(b, lr) for b in ("vgg16", "resnet50") for lr in (1, 10, 15, 20, 30)}
    backbones = build_cells(PRESETS["backbones"], {}, [0], PAIRS[:1])
    assert [(c.config.learning_rate, c.config.iterations) for c in backbones] == [(15, 1000), (20, 1000)]
    layer_sets = build_cells(PRESETS["layer-sets"], {}, [0], PAIRS[:1])
    assert [c.config.content_layer for c in layer_sets[:3]] == ["block5_conv2", "block4_conv2", "block3_conv2"]
    assert layer_sets[4].config.style_layers[1:] == (
        "conv2_block3_out",
        "conv3_block4_out",
        "conv4_block6_out",
        "conv5_block3_out",
    )
    fix = build_cells(PRESETS["resnet-fix"], {}, [0], PAIRS[:1])
    assert [(c.config.backbone, c.config.feature_transform) for c in fix] == [
        ("vgg16", "none"),
        ("resnet50", "none"),
        ("resnet50", "softmax-std"),
        ("resnet50", "softmax-std"),
    ]
    assert fix[2].config.transform_layers == ("conv3_block4_out", "conv3_block1_1_conv", "conv4_block1_1_conv")
    assert fix[3].config.style_layers[-1] == "conv5_block3_out"  # the SWAG paper's layers
    assert fix[3].config.transform_layers == ("conv4_block6_out", "conv5_block3_out")


def test_overrides_and_per_backbone_weights(tmp_path):
    with pytest.raises(ConfigError, match="--learning-rate"):
        build_cells(PRESETS["lr-sweep"], {"learning_rate": 3.0}, [0], PAIRS)
    resnet = tmp_path / "resnet.h5"
    resnet.touch()  # validation looks at the file, it does not load it
    weights = {"resnet50": str(resnet)}
    cells = build_cells(PRESETS["backbones"], {"weights": "none", "size": 32}, [0], PAIRS[:1], weights)
    assert [(c.config.weights, c.config.size) for c in cells] == [("none", 32), (str(resnet), 32)]
    assert study_weights(PRESETS["backbones"], {"weights": "none"}, weights) == {
        ("vgg16", "none"),
        ("resnet50", str(resnet)),
    }
    with pytest.raises(WeightsError, match="does not exist"):
        build_cells(PRESETS["backbones"], {"size": 32}, [0], PAIRS[:1], {"resnet50": "/w/gone.h5"})


def test_explicit_pairs_are_zipped_not_crossed_and_stored_only_when_given():
    assert image_pairs(["c1", "c2"], ["s1", "s2"]) == [("c1", "s1"), ("c1", "s2"), ("c2", "s1"), ("c2", "s2")]
    assert image_pairs(["c1", "c2", "c1"], ["s1", "s2", "s1"], paired=True) == [("c1", "s1"), ("c2", "s2")]
    assert image_pairs(["c1", "c1"], ["s1"]) == [("c1", "s1")]  # each pair once
    with pytest.raises(ConfigError, match="as many"):
        image_pairs(["c1"], ["s1", "s2"], paired=True)
    crossed = study_spec(PRESETS["backbones"], {}, [0], ["c1", "c2"], ["s1"])
    assert "pairs" not in crossed  # specs of cross-product studies keep their old identity
    assert spec_pairs(crossed) == [("c1", "s1"), ("c2", "s1")]
    paired = study_spec(PRESETS["backbones"], {}, [0], ["c1", "c2"], ["s1"], pairs=[("c2", "s1")])
    assert paired["pairs"] == [["c2", "s1"]] and spec_pairs(paired) == [("c2", "s1")]
    assert spec_key("a", paired) != spec_key("a", crossed)


def test_same_name_and_spec_is_the_same_study():
    spec = study_spec(PRESETS["backbones"], {"size": 32}, [0], ["c"], ["s"])
    assert spec_key("a", spec) == spec_key("a", study_spec(PRESETS["backbones"], {"size": 32}, [0], ["c"], ["s"]))
    assert spec_key("a", spec) != spec_key("b", spec)
    assert spec_key("a", spec) != spec_key("a", study_spec(PRESETS["backbones"], {"size": 64}, [0], ["c"], ["s"]))


def test_judge_weights_follow_the_run_and_say_why(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no cached ImageNet files
    assert judge_weights("vgg16", "none", "resnet50", {})[0] == "none"
    assert judge_weights("vgg16", "/v.h5", "vgg16", {})[0] == "/v.h5"
    assert judge_weights("vgg16", "/v.h5", "resnet50", {"resnet50": "/r.h5"})[0] == "/r.h5"
    weights, why = judge_weights("vgg16", "/v.h5", "resnet50", {})
    assert weights is None and "--weights-resnet50" in why


def _study_cli(db, image_files, *extra, models=None):
    content, style = image_files
    args = ["study", "--preset", "backbones", "--content", str(content), "--style", str(style)]
    args += ["--size", "32", "--iterations", "4", "--snapshot-every", "0", "--weights", "none", "--wait"]
    return main([*args, *extra, "--db", str(db)], models)


def test_study_end_to_end_resume_and_report(db, image_files, models, capsys):
    assert _study_cli(db, image_files, models=models) == 0
    out = capsys.readouterr().out
    assert "study 1 (backbones): 2 cells: 2 queued" in out and "study 1: 2/2 cells done" in out
    ids = list(store_studies.study_runs(db, 1)["id"])
    assert [store_runs.get_run(db, i)["status"] for i in ids] == ["finished", "finished"]

    # cross-evaluation: every output judged by both judges (producer x judge = 2 x 2)
    long = store_metrics.get_metrics(db, ids)
    judged = long[long["metric"].str.startswith("judge_")]
    assert sorted(judged.groupby(["run_id", "judge"]).size().items()) == [
        ((i, j), 3) for i in ids for j in ("resnet50", "vgg16")
    ]
    assert judged["value"].notna().all() and judged["detail"].str.contains("weights=none").all()
    # neutral judges: two rows each per run, computed or skipped with a reason (never downloaded)
    neutral = long[long["metric"].str.startswith("neutral_")]
    assert sorted(neutral.groupby(["run_id", "judge"]).size().items()) == [
        ((i, j), 2) for i in ids for j in ("inception_v3", "vgg19")
    ]
    assert (neutral["value"].notna() | neutral["detail"].str.startswith("skipped: ")).all()
    assert {"ssim", "edge_corr", "color_w2", "loss_ratio_final"} <= set(long["metric"])

    # re-launch: nothing to do; a failed cell is re-queued and run again
    assert _study_cli(db, image_files, models=models) == 0
    assert "0 queued, 0 re-queued, 2 already finished" in capsys.readouterr().out
    with connect(db) as con:
        con.execute("UPDATE runs SET status = 'failed' WHERE id = ?", [ids[0]])  # the cheaper VGG16 cell
    assert _study_cli(db, image_files, models=models) == 0
    assert "0 queued, 1 re-queued, 1 already finished" in capsys.readouterr().out
    assert len(store_studies.study_runs(db, 1)) == 2 and store_studies.study_progress(db, 1)["finished"] == 2

    assert main(["report", "1", "--format", "csv", "--db", str(db)]) == 2  # a CSV holds one table
    assert "give --table ID" in capsys.readouterr().err
    assert main(["report", "1", "--format", "csv", "--out", str(db.parent / "tables"), "--db", str(db)]) == 0
    assert "wrote 5 CSV files" in capsys.readouterr().out  # tables 3, 4, 5 and the final one, verdicts
    assert sorted(p.name for p in (db.parent / "tables").iterdir())[-1] == "verdicts.csv"
    assert main(["report", "1", "--format", "csv", "--table", "table3", "--db", str(db)]) == 0
    table3 = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table3.columns) == ["iteration", "VGG16 loss", "ResNet50 loss"] and list(table3["iteration"]) == [
        1,
        2,
        3,
        4,
    ]
    assert main(["report", "1", "--db", str(db)]) == 0
    report = capsys.readouterr().out
    assert "| iteration | VGG16 loss | ResNet50 loss |" in report and "## Verdicts" in report
    assert "(VGG16 judge)" in report and "not used for verdicts" in report  # the cross-evaluation, apart
    assert "What ran (from the 2 finished run(s)): iterations 4, size 32 px" in report
    assert "1000 iterations" not in report and "one pair: no interval" in report
    assert main(["studies", "--db", str(db)]) == 0 and "backbones" in capsys.readouterr().out
    assert main(["metrics", str(ids[1]), "--db", str(db)], models) == 0  # recompute: same rows again
    assert len(store_metrics.get_metrics(db, [ids[1]])) == len(long) // 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--preset", "lr-sweep", "--lr", "3"], "sets --learning-rate itself"),
        (["--preset", "backbones", "--seeds", "0,1", "--seed", "2"], "--seeds or --seed"),
        (["--preset", "backbones", "--seeds", "0,x"], "--seeds expects"),
        (["--preset", "backbones", "--weights-resnet50", "no/such.h5"], "does not exist"),
    ],
)
def test_bad_study_input_is_one_line_exit_2_and_no_row(db, image_files, args, message, capsys):
    content, style = image_files
    base = ["study", "--content", str(content), "--style", str(style), "--weights", "none", "--db", str(db)]
    assert main([*base, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert store_studies.list_studies(db).empty and store_runs.list_runs(db).empty


def test_resnet_fix_verdicts_pair_variants_not_backbones():
    # Its two softmax-std variants share a backbone and a transform: paired by backbone
    # they would be averaged into one producer.
    from store.metrics import compares_variants

    fix = study_spec(PRESETS["resnet-fix"], {}, [0], ["c1"], ["s1"])
    assert compares_variants(fix)
    plain = study_spec(PRESETS["backbones"], {}, [0], ["c1"], ["s1"])
    assert "compare_by" not in plain and not compares_variants(plain)


def test_relaunching_after_a_killed_worker_reruns_the_dead_cell(db, image_files, monkeypatch, capsys):
    """The dead cell's run still said `running`: it is reclaimed before the relaunch
    decides what to queue, so it is re-queued instead of counted as active."""
    monkeypatch.setenv("NST_NO_WORKER", "1")
    content, style = image_files
    args = ["study", "--preset", "backbones", "--content", str(content), "--style", str(style)]
    args += ["--size", "32", "--iterations", "4", "--weights", "none", "--db", str(db)]
    assert main(args) == 0
    first, second = store_studies.study_runs(db, 1)["id"]
    store_runs.claim_run(db, first, "tf", "CPU")
    with connect(db) as con:  # its worker was SIGKILLed: the pid is gone
        con.execute("UPDATE runs SET pid = 2147483647 WHERE id = ?", [first])
    capsys.readouterr()
    assert main(args) == 0
    assert "0 queued, 1 re-queued, 0 already finished, 1 already queued or running" in capsys.readouterr().out
    assert store_runs.get_run(db, first)["status"] == "interrupted"
    assert list(store_studies.study_runs(db, 1)["status"]).count("queued") == 2

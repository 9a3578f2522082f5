"""Verdicts and names in words (`workbench.verdicts`): sentences with their interval and n,
names from the engine's registries, on fabricated runs (no network needed)."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from engine.backbones import BACKBONES
from engine.judges import NEUTRAL_JUDGES
from tests.store.test_studies import _producers
from workbench import verdicts


def test_names_come_from_the_engine_registries():
    assert verdicts.display("resnet50+softmax-std") == "ResNet50 + softmax-std"
    assert [verdicts.display(n) for n in ("vgg16", "resnet50", "vgg19", "inception_v3")] == [
        "VGG16",
        "ResNet50",
        "VGG19",
        "Inception v3",
    ]
    assert verdicts.display("VGG16 lr 1") == "VGG16 lr 1"  # a study variant's label as it is
    assert verdicts.display("alexnet+softmax") == "alexnet+softmax"
    assert {**{n: b.label for n, b in BACKBONES.items()}, **{n: j.label for n, j in NEUTRAL_JUDGES.items()}} == dict(
        verdicts.DISPLAY_NAMES
    )


def test_metric_labels_name_the_judge():
    assert verdicts.metric_label("judge_style_loss [vgg16]") == "style loss (VGG16 judge)"
    assert verdicts.metric_label("neutral_style_distance [inception_v3] std", " ± std") == (
        "neutral style distance (Inception v3 judge) ± std"
    )
    assert verdicts.metric_label("made_up") == "made_up"


def test_no_comparisons_give_an_empty_table_with_its_columns():
    assert list(verdicts.verdict_sentences(pd.DataFrame())) == verdicts.VERDICT_COLUMNS


def test_wording_imports_without_tensorflow():
    code = "import sys, workbench.verdicts; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})


def _sentences(db, ids):
    found = verdicts.verdicts(db, run_ids=ids)
    return {(m, j): s for m, j, s in zip(found["metric"], found["judge"], found["sentence"], strict=True)}


def test_verdicts_state_the_interval_and_n(db):
    ids = _producers(db, [(0.8, 0.4), (0.7, 0.4), (0.9, 0.4)])
    text = _sentences(db, ids)
    # SSIM: higher is better; differences 0.4, 0.3, 0.5: 0.4 +- t(0.975; 2) * 0.1 / sqrt(3)
    assert text[("ssim", "")] == (
        "VGG16 outputs keep the content's structure (SSIM) better than ResNet50 outputs: "
        "by 0.4 (95 % CI 0.152 to 0.648, n = 3)"
    )
    # A neutral judge, lower is better: ResNet50 / VGG16 = 0.5, 0.571, 0.444; geometric mean 1 / 1.99
    neutral = text[("neutral_style_distance", "vgg19")]
    assert neutral.startswith("ResNet50 outputs match the style better than VGG16 outputs under the VGG19 judge: ")
    assert "by a factor of 1.99 (95 % CI " in neutral and neutral.endswith(", n = 3)")


def test_verdicts_never_use_a_producing_backbone_as_judge(db):
    extra = [("neutral_content_distance", "vgg16", 0.5, ""), ("loss_ratio_final", "", 0.5, "")]
    ids = _producers(db, [(0.8, 0.4), (0.7, 0.4)], extra)
    metrics = set(verdicts.verdicts(db, run_ids=ids)["metric"])
    assert metrics == {"ssim", "neutral_style_distance"}  # no cross-evaluation, own judge or own loss


def test_an_interval_that_includes_no_difference_gives_no_clear_difference(db):
    ids = _producers(db, [(0.5, 0.4), (0.4, 0.5), (0.55, 0.5)])
    ssim = _sentences(db, ids)[("ssim", "")]
    # producers pair in name order: ResNet50 - VGG16 = -0.1, 0.1, -0.05
    assert ssim == (
        "no clear difference in SSIM to the content between ResNet50 and VGG16 (n = 3; 95 % CI of ResNet50 − VGG16: "
        "-0.275 to 0.242)"
    )
    assert "better" not in ssim


def test_one_pair_gives_no_interval(db):
    ids = _producers(db, [(0.4, 0.8)])
    found = verdicts.verdicts(db, run_ids=ids)
    assert found["sentence"].str.contains("one pair: no interval").all() and (found["n"] == 1).all()
    assert _sentences(db, ids)[("ssim", "")] == (
        "SSIM to the content, ResNet50 vs VGG16: one pair: no interval (ResNet50 − VGG16 = 0.4, n = 1)"
    )

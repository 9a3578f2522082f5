"""Neutral judges: skipped (never downloaded) without weights, computed with a model given."""

import math
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from engine import judges
from engine import metrics as fair
from tests.conftest import synthetic_image


@pytest.fixture()
def images():
    output, content = synthetic_image(40, 48, seed=1), synthetic_image(40, 48, seed=2)
    return output, content, synthetic_image(36, 36, seed=3)


@pytest.fixture(scope="module")
def random_vgg19():
    keras.utils.set_random_seed(0)
    return judges.NEUTRAL_JUDGES["vgg19"].build(None)


def test_without_weights_every_judge_is_skipped_with_a_reason(images, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty Keras cache
    rows = judges.neutral_rows(images)
    assert {(m, j) for m, j, _, _ in rows} == {(m, j) for m in fair.NEUTRAL for j in judges.NEUTRAL_JUDGES}
    assert all(v is None for _, _, v, _ in rows)
    detail = next(d for _, j, _, d in rows if j == "vgg19")
    assert detail.startswith(f"skipped: no ImageNet weights for vgg19 in {tmp_path / 'models'}")
    assert "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5" in detail


def test_a_given_file_that_is_missing_or_broken_is_a_skip_not_an_error(images, tmp_path):
    rows = judges.judge_rows(judges.NEUTRAL_JUDGES["vgg19"], images, files={"vgg19": str(tmp_path / "none.h5")})
    assert all(v is None and "does not exist" in d for _, _, v, d in rows)
    broken = tmp_path / "broken.h5"
    broken.write_text("not weights")
    rows = judges.judge_rows(judges.NEUTRAL_JUDGES["vgg19"], images, files={"vgg19": str(broken)})
    assert all(v is None and "not a valid vgg19 weights file" in d for _, _, v, d in rows)


def test_a_judge_below_its_minimum_size_is_skipped(images, random_vgg19):
    rows = judges.judge_rows(judges.NEUTRAL_JUDGES["inception_v3"], images, model=random_vgg19)
    assert all(v is None and "75 px minimum" in d for _, _, v, d in rows)


def test_a_given_model_computes_scale_free_distances(images, random_vgg19):
    judge = judges.NEUTRAL_JUDGES["vgg19"]
    rows = judges.judge_rows(judge, images, model=random_vgg19)
    values = {m: v for m, j, v, d in rows if j == "vgg19" and d == "given model"}
    assert set(values) == set(fair.NEUTRAL) and all(math.isfinite(v) and v > 0 for v in values.values())
    output, content, style = images
    same = judges.judge_images(judge, random_vgg19, content, content, content)
    assert same[fair.NEUTRAL_CONTENT] == pytest.approx(0.0, abs=1e-6)
    assert same[fair.NEUTRAL_STYLE] == pytest.approx(0.0, abs=1e-6)


def test_weights_file_prefers_a_given_path_then_the_keras_cache(tmp_path, monkeypatch):
    judge = judges.NEUTRAL_JUDGES["vgg19"]
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert judges.weights_file(judge) is None
    cached = tmp_path / "models" / judge.keras_cache_file
    cached.parent.mkdir()
    cached.write_bytes(b"")
    assert judges.weights_file(judge) == cached
    assert judges.weights_file(judge, {"vgg19": "/x/v.h5"}).as_posix() == "/x/v.h5"


def test_the_registry_is_plain_data_with_report_names():
    assert {n: j.label for n, j in judges.NEUTRAL_JUDGES.items()} == {"vgg19": "VGG19", "inception_v3": "Inception v3"}
    assert all(hasattr(keras.applications, j.builder) for j in judges.NEUTRAL_JUDGES.values())
    unnamed = judges.NeutralJudge("x", "VGG19", judges.inception_preprocess, "a", ("b",), "x.h5")
    assert unnamed.label == "x"


def test_the_registry_imports_without_tensorflow():
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys; from engine.judges import NEUTRAL_JUDGES; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})

"""Shared fixtures: a fresh store per test, tiny synthetic images, cached random-weight
backbones (building ResNet50 costs seconds, so tests share one per session)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"


def synthetic_image(h: int, w: int, seed: int) -> np.ndarray:
    """A structured RGB image (gradients, a disc, stripes) so features are not flat."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    r = 255 * xx
    g = 255 * yy
    b = 127 + 127 * np.sin(2 * np.pi * (xx * rng.uniform(2, 6) + yy * rng.uniform(2, 6)))
    img = np.stack([r, g, b], axis=-1)
    disc = (xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.05
    img[disc] = rng.uniform(0, 255, 3)
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture()
def db(tmp_path, monkeypatch) -> Path:
    """A path for a fresh database file, also set as NST_DB for code that reads it."""
    path = tmp_path / "store" / "nst.duckdb"
    monkeypatch.setenv("NST_DB", str(path))
    return path


@pytest.fixture(scope="session")
def content_rgb() -> np.ndarray:
    return synthetic_image(48, 64, seed=1)


@pytest.fixture(scope="session")
def style_rgb() -> np.ndarray:
    return synthetic_image(40, 40, seed=2)


@pytest.fixture(scope="session")
def image_files(tmp_path_factory, content_rgb, style_rgb) -> tuple[Path, Path]:
    """The two synthetic images as files (JPEG content, PNG style)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("inputs")
    content, style = folder / "content.jpg", folder / "style.png"
    Image.fromarray(content_rgb).save(content, quality=95)
    Image.fromarray(style_rgb).save(style)
    return content, style


@pytest.fixture(scope="session")
def models():
    """One network cache for the session (what a worker keeps): pass it to
    `workbench.__main__.main(args, models)` and the runner so tests build each network once."""
    from workbench.models import ModelCache

    return ModelCache(size=8)


@pytest.fixture(scope="session")
def random_model(models):
    """Random-weight backbones drawn from seed 0, built once per session:
    random_model("resnet50") (the same networks a `weights=none, seed=0` run uses)."""
    return lambda name: models.backbone(name, "none", 0)


@pytest.fixture(scope="session")
def real_weights() -> dict[str, Path]:
    """Paths of the real weight files, or skip the test when they are not here."""
    files = {"vgg16": SHARED / "weights" / "vgg16_notop_hed.h5", "resnet50": SHARED / "weights" / "resnet50_notop.h5"}
    if not all(p.is_file() for p in files.values()):
        pytest.skip("real weight files are not in ../shared/weights")
    return files

"""Dashboard fixtures: a store populated by two real (tiny, random-weight) CLI runs, and
one holding a finished tiny study run through `python -m workbench study --wait`, each
built once per session and copied for every test that may change it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

VIEWS = ROOT / "dashboard" / "views"
TIMEOUT_S = 60
# The populated store's runs use distinct learning rates, so filters on it can tell them apart.
FIXTURE_LRS = {"vgg16": 15.0, "resnet50": 20.0}


def run_cli(content: Path, style: Path, backbone: str, db: Path, models=None) -> None:
    """One real run through the command line's code path, in this process."""
    from workbench.__main__ import main

    args = ["run", "--content", str(content), "--style", str(style), "--backbone", backbone]
    args += ["--size", "32", "--iterations", "8", "--snapshot-every", "4", "--weights", "none", "--db", str(db)]
    args += ["--lr", str(FIXTURE_LRS[backbone])]
    assert main(args, models) == 0


@pytest.fixture(scope="session")
def populated_template(tmp_path_factory, image_files, models) -> Path:
    """A store with run 1 (vgg16, lr 15) and run 2 (resnet50, lr 20), both finished, 8 steps each."""
    path = tmp_path_factory.mktemp("populated") / "nst.duckdb"
    content, style = image_files
    for backbone in ("vgg16", "resnet50"):
        run_cli(content, style, backbone, path, models)
    return path


def copy_store(template: Path, db: Path) -> Path:
    """A private copy of a template store at `db`."""
    db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".wal"):
        source = Path(f"{template}{suffix}")
        if source.exists():
            shutil.copy(source, f"{db}{suffix}")
    return db


@pytest.fixture()
def populated(db, populated_template) -> Path:
    """A private copy of the populated store at `db` (which NST_DB points at)."""
    return copy_store(populated_template, db)


STUDY_ARGS = ["--size", "32", "--iterations", "6", "--snapshot-every", "0", "--weights", "none"]


@pytest.fixture(scope="session")
def study_template(tmp_path_factory, image_files, models) -> Path:
    """A store holding study 1: the `backbones` preset on one content and two style
    images (4 cells, all finished, with fair metrics), run in this process by the CLI
    with the session's networks."""
    from PIL import Image

    from tests.conftest import synthetic_image
    from workbench.__main__ import main

    folder = tmp_path_factory.mktemp("study")
    content, style = image_files
    style2 = folder / "style2.png"
    Image.fromarray(synthetic_image(40, 40, seed=3)).save(style2)
    path = folder / "nst.duckdb"
    args = ["study", "--preset", "backbones", "--content", str(content), "--style", str(style), "--style", str(style2)]
    assert main([*args, *STUDY_ARGS, "--db", str(path), "--wait"], models) == 0
    return path


@pytest.fixture()
def finished_study(db, study_template) -> Path:
    """A private copy of the finished-study store at `db`."""
    return copy_store(study_template, db)


@pytest.fixture(autouse=True)
def no_worker(monkeypatch) -> None:
    """Launches queue runs without spawning a worker, unless a test removes this."""
    monkeypatch.setenv("NST_NO_WORKER", "1")


@pytest.fixture(autouse=True)
def online(monkeypatch) -> None:
    """Launch pages behave as on a machine that could download ImageNet weights (this one
    cannot): tests of the offline message set `can_download` back to False themselves."""
    import dashboard.launch

    monkeypatch.setattr(dashboard.launch, "can_download", lambda: True)


def page(script: str) -> AppTest:
    """An AppTest of one page script in dashboard/views."""
    return AppTest.from_file(VIEWS / script, default_timeout=TIMEOUT_S)


def assert_clean(at: AppTest) -> None:
    """No exception and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]

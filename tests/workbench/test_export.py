"""`export RUN --out DIR`: the folder is written completely or not at all, and a target it
cannot use is one `error:` line with nothing written."""

import os

import numpy as np
import pytest

from store import images as store_images
from store import runs as store_runs
from store.recorder import RunRecorder
from tests.store.test_store import _run
from workbench.__main__ import main
from workbench.export import ExportError, export_run

FILES = [
    "content.png",
    "iterations.csv",
    "output.png",
    "run.json",
    "snapshots/step_000002.png",
    "snapshots/step_000004.png",
    "style.png",
]


@pytest.fixture()
def run_id(db) -> int:
    """A finished run with four iterations, two snapshots and an output image."""
    rid = _run(db)
    store_runs.claim_run(db, rid, "tf", "CPU")
    rec = RunRecorder(db, rid)
    for step in range(1, 5):
        rec.add_iteration((step, 1.0 / step, 0.5, 0.5, 0.0, 0.01, step * 0.01, 8))
        if step % 2 == 0:
            rec.add_snapshot(step, np.full((8, 8, 3), step, np.uint8))
    rec.close()
    output = store_images.make_blob(np.full((8, 8, 3), 9, np.uint8))
    store_runs.finish_run(db, rid, "finished", output=output, steps_done=4)
    return rid


def _files(folder) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _export(db, run_id, out, *extra) -> int:
    return main(["export", str(run_id), "--out", str(out), *extra, "--db", str(db)])


def _one_error(capsys, message: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1, err


def test_export_creates_the_folder_and_its_parents(db, run_id, tmp_path, capsys):
    out = tmp_path / "exports" / "deep" / "run1"
    assert _export(db, run_id, out) == 0
    assert _files(out) == FILES
    assert f"wrote 7 files to {out}" in capsys.readouterr().out
    assert len((out / "iterations.csv").read_text().splitlines()) == 5
    assert sorted(p.name for p in out.parent.iterdir()) == ["run1"]  # no temporary folder left


def test_an_empty_folder_is_used(db, run_id, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert _export(db, run_id, out) == 0
    assert _files(out) == FILES


def test_a_non_empty_folder_needs_force_which_keeps_other_files(db, run_id, tmp_path, capsys):
    out = tmp_path / "full"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "run.json").write_text("old")
    assert _export(db, run_id, out) == 2
    _one_error(capsys, "is not empty; give a new or empty folder, or --force")
    assert _files(out) == ["notes.txt", "run.json"] and (out / "run.json").read_text() == "old"
    assert _export(db, run_id, out, "--force") == 0
    assert _files(out) == sorted([*FILES, "notes.txt"])
    assert (out / "notes.txt").read_text() == "mine" and (out / "run.json").read_text() != "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "store"]


@pytest.mark.parametrize(
    "where, message",
    [
        ("a_file", "is a file; give a folder"),
        ("a_file/run1", "a_file is a file"),
        ("a_file/deeper/run1", "a_file is a file"),
    ],
)
def test_a_file_in_the_way_is_one_line_and_nothing_written(db, run_id, tmp_path, where, message, capsys):
    (tmp_path / "a_file").write_text("x")
    before = _files(tmp_path)
    assert _export(db, run_id, tmp_path / where) == 2
    _one_error(capsys, message)
    assert _files(tmp_path) == before and (tmp_path / "a_file").read_text() == "x"


def test_an_unwritable_parent_is_one_line_and_nothing_written(db, run_id, tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    real_access = os.access
    if os.geteuid() == 0:  # root may write anyway: make the check see what a user would
        monkeypatch.setattr(os, "access", lambda p, m, **kw: False if str(p) == str(locked) else real_access(p, m))
    try:
        assert _export(db, run_id, locked / "run1") == 2
        _one_error(capsys, f"no permission to write in {locked}")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_a_failure_midway_leaves_nothing_behind(db, run_id, tmp_path, monkeypatch):
    real = store_images.get_png
    calls = []

    def failing(db_, image_id, thumb=False):
        calls.append(image_id)
        if len(calls) == 4:  # after the three main images: a snapshot cannot be read
            raise OSError(28, "No space left on device")
        return real(db_, image_id, thumb)

    monkeypatch.setattr(store_images, "get_png", failing)
    out = tmp_path / "new" / "run1"
    with pytest.raises(ExportError, match="No space left on device"):
        export_run(db, store_runs.get_run(db, run_id), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]  # neither the folder nor its parent


def test_export_of_a_missing_run_writes_nothing(db, run_id, tmp_path, capsys):
    out = tmp_path / "run9"
    assert _export(db, 9, out) == 2
    _one_error(capsys, "no run 9")
    assert not out.exists()

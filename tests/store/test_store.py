import os

import duckdb
import numpy as np
import pytest

from store import images as store_images
from store import runs as store_runs
from store.db import SchemaBehindError, StoreError, connect, reading, resolve_db_path
from store.recorder import RunRecorder
from store.schema import SCHEMA_VERSION

CONFIG = {
    "backbone": "vgg16",
    "content_layer": "block5_conv2",
    "style_layers": ["block1_conv1", "block2_conv1"],
    "style_layer_weights": [1.0, 1.0],
    "content_weight": 1.0,
    "style_weight": 10.0,
    "tv_weight": 0.0,
    "learning_rate": 15.0,
    "iterations": 100,
    "size": 64,
    "init": "content",
    "seed": 0,
    "snapshot_every": 10,
    "weights": "none",
}


def _run(db, status="queued"):
    img = np.zeros((8, 8, 3), np.uint8)
    cid = store_images.put_image(db, img, "c.png")
    sid = store_images.put_image(db, img + 1, "s.png")
    return store_runs.create_run(db, CONFIG, cid, sid, "test", status=status)


def test_db_path_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("NST_DB", str(tmp_path / "env.duckdb"))
    assert resolve_db_path() == tmp_path / "env.duckdb"
    assert resolve_db_path(tmp_path / "x.duckdb") == tmp_path / "x.duckdb"
    monkeypatch.delenv("NST_DB")
    assert resolve_db_path().name == "nst.duckdb"


def test_new_file_is_migrated(db):
    with connect(db) as con:
        versions = con.execute("SELECT version FROM schema_migrations").fetchall()
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert versions[-1][0] == SCHEMA_VERSION
    assert {"runs", "iterations", "images", "snapshots"} <= tables


def test_directory_db_path_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="directory"), connect(tmp_path):
        pass


def test_images_are_content_addressed(db):
    img = np.full((10, 20, 3), 7, np.uint8)
    a = store_images.put_image(db, img)
    b = store_images.put_image(db, img.copy())
    assert a == b
    with connect(db) as con:
        assert con.execute("SELECT count(*), any_value(width), any_value(height) FROM images").fetchone() == (1, 20, 10)
    np.testing.assert_array_equal(store_images.get_array(db, a), img)
    assert store_images.get_thumbs(db, [a])[a].startswith(b"\x89PNG")


def test_run_lifecycle_and_recorder(db):
    run_id = _run(db)
    assert store_runs.claim_run(db, None, "tf", "CPU") == run_id
    assert store_runs.claim_run(db, run_id, "tf", "CPU") is None  # already running
    rec = RunRecorder(db, run_id, every_steps=7, every_s=1e9)
    for step in range(1, 21):
        rec.add_iteration((step, 1.0 / step, 0.5, 0.5, 0.0, 0.01, step * 0.01, 64))
    rec.add_snapshot(20, np.zeros((4, 4, 3), np.uint8))
    rec.close()
    assert rec.steps_logged == 20
    store_runs.finish_run(db, run_id, "finished", steps_done=rec.steps_logged, total_loss=0.05)
    run = store_runs.get_run(db, run_id)
    assert run["status"] == "finished" and run["steps_done"] == 20
    assert CONFIG.items() <= run["config"].items()  # and the fields it left out, at their column defaults
    assert run["config"]["optimizer"] == "adam" and run["config"]["loss_convention"] == "gatys"
    assert list(store_runs.get_iterations(db, run_id)["step"]) == list(range(1, 21))
    assert list(store_runs.get_snapshots(db, run_id)["step"]) == [20]


def test_cancel_queued_and_running(db):
    queued = _run(db)
    assert store_runs.request_cancel(db, queued) == "cancelled"
    running = _run(db)
    store_runs.claim_run(db, running, "tf", "CPU")
    assert store_runs.request_cancel(db, running) == "running"
    rec = RunRecorder(db, running)
    rec.flush()
    assert rec.cancel_requested


def test_dead_process_marks_run_interrupted(db, monkeypatch):
    run_id = _run(db)
    store_runs.claim_run(db, run_id, "tf", "CPU")
    assert store_runs.mark_stale_runs(db) == []  # our own pid is alive
    with connect(db) as con:
        con.execute("UPDATE runs SET pid = 2147483000 WHERE id = ?", [run_id])
    assert store_runs.mark_stale_runs(db) == [run_id]
    assert store_runs.get_run(db, run_id)["status"] == "interrupted"


def test_notes_tags_and_delete(db):
    run_id = _run(db, status="finished")
    store_runs.set_notes_tags(db, run_id, "nice", ["b", "a", " a "])
    run = store_runs.get_run(db, run_id)
    assert run["notes"] == "nice" and run["tags"] == ["a", "b"]
    store_runs.delete_run(db, run_id)
    assert store_runs.get_run(db, run_id) is None
    with connect(db) as con:
        assert con.execute("SELECT count(*) FROM images").fetchone()[0] == 0


def test_active_run_cannot_be_deleted(db):
    run_id = _run(db)
    with pytest.raises(ValueError, match="cancel"):
        store_runs.delete_run(db, run_id)


def test_failed_writes_keep_their_rows(db, tmp_path):
    run_id = _run(db)
    rec = RunRecorder(tmp_path, run_id)  # a directory: every write fails
    rec.add_iteration((1, 1.0, 0.5, 0.5, 0.0, 0.01, 0.01, 64))
    with pytest.raises(StoreError):
        rec.flush()
    rec.db = db  # the store is usable again: the kept row goes in with the next batch
    rec.add_iteration((2, 1.0, 0.5, 0.5, 0.0, 0.01, 0.02, 64))
    rec.close()
    assert list(store_runs.get_iterations(db, run_id)["step"]) == [1, 2]
    assert store_runs.get_run(db, run_id)["steps_done"] == 2


def test_a_config_key_without_a_column_is_refused_before_any_row(db):
    with pytest.raises(ValueError, match="without a runs column: \\['brush_size'\\]"):
        store_runs.create_run(db, {**CONFIG, "brush_size": 3}, "c", "s", "f")
    assert store_runs.list_runs(db).empty


# --- files that are not ours, read-only opens ---------------------------------------------------


def _tables(path) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return sorted(r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall())
    finally:
        con.close()


def _foreign(path) -> None:
    """A DuckDB file of another application, with a `runs` table of its own."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE runs (name VARCHAR); INSERT INTO runs VALUES ('theirs'); CREATE TABLE laps (t DOUBLE)")
    con.close()


@pytest.mark.parametrize("read_only", [False, True])
def test_a_foreign_duckdb_file_is_refused_untouched(tmp_path, read_only):
    path = tmp_path / "foreign.duckdb"
    _foreign(path)
    with (
        pytest.raises(StoreError, match=r"is not a workbench store: it has tables laps, runs but no schema_migrations"),
        connect(path, read_only=read_only),
    ):
        pass
    assert _tables(path) == ["laps", "runs"]


def test_an_empty_duckdb_file_is_taken_for_a_new_store(tmp_path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    with connect(path) as con:
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == SCHEMA_VERSION


def test_read_only_connect_never_creates_or_migrates(tmp_path):
    from tests.store.test_migrations import _apply_first

    missing = tmp_path / "missing.duckdb"
    with pytest.raises(StoreError, match="no database at"), connect(missing, read_only=True):
        pass
    assert not missing.exists()
    old = tmp_path / "old.duckdb"
    _apply_first(old, 2)
    with (
        pytest.raises(SchemaBehindError, match=r"is at schema v2 .*open it once with write access"),
        connect(old, read_only=True),
    ):
        pass
    with reading(), connect(old) as con:  # inside reading(), a writable file behind is migrated
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == SCHEMA_VERSION


def test_reading_opens_read_only_and_refuses_writes(db):
    run_id = _run(db)
    with reading():
        assert store_runs.get_run(db, run_id)["status"] == "queued"
        with pytest.raises(duckdb.InvalidInputException, match="read-only"):
            store_runs.set_notes_tags(db, run_id, "x", [])
        with connect(db, read_only=False) as con:  # a caller may still ask for writing
            con.execute("UPDATE runs SET notes = 'ok' WHERE id = ?", [run_id])
    assert store_runs.get_run(db, run_id)["notes"] == "ok"


def test_reading_a_store_behind_that_cannot_be_written_says_so(tmp_path, monkeypatch):
    from tests.store.test_migrations import _apply_first

    old = tmp_path / "old.duckdb"
    _apply_first(old, 3)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(old) else real_access(p, mode))
    with pytest.raises(StoreError, match=r"schema v3 .*open it once with write access to migrate"), reading():
        store_runs.list_runs(old)
    con = duckdb.connect(str(old), read_only=True)
    assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == 3  # not migrated
    con.close()

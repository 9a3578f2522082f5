"""The user's own SQL and snapshots: read-only, patient with a run's lock, never writing."""

import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from store import db as store_db
from store import runs as store_runs
from store.db import StoreError, StoreLockedError, connect
from store.userquery import QueryError, SnapshotError, run_user_sql, snapshot
from tests.store.test_store import _run

# A child process that holds the file open for writing, as a run does while it flushes.
HOLDER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
    """
)


def _hold(path, seconds: float) -> subprocess.Popen:
    """Start the holder and return once it has the file open."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_sql_reads_the_store(db):
    _run(db)
    _run(db, status="finished")
    df = run_user_sql(db, "SELECT status, count(*) AS n FROM runs GROUP BY ALL ORDER BY status")
    assert df.to_dict("records") == [{"status": "finished", "n": 1}, {"status": "queued", "n": 1}]
    assert run_user_sql(db, "-- only a comment").empty


@pytest.mark.parametrize(
    "sql, message",
    [
        ("DELETE FROM runs", "read-only"),
        ("CREATE TABLE mine (a INTEGER)", "read-only"),
        ("SELEC 1", "Parser Error: syntax error"),
        ("SELECT nope FROM runs", "Binder Error"),
        ("  ", "no SQL given"),
    ],
)
def test_bad_or_writing_sql_is_refused_and_changes_nothing(db, sql, message):
    _run(db)
    with pytest.raises(QueryError, match=message) as caught:
        run_user_sql(db, sql)
    assert len(str(caught.value).splitlines()) == 1
    assert len(store_runs.list_runs(db)) == 1
    with connect(db) as con:
        tables = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert ("mine",) not in tables


def test_sql_on_a_missing_file_creates_nothing(db):
    with pytest.raises(StoreError, match="no database at"):
        run_user_sql(db, "SELECT 1")
    assert not db.exists()


def test_sql_waits_while_a_run_holds_the_file(db):
    """The failure users saw: a read-only open next to a writer is refused outright."""
    _run(db)
    holder = _hold(db, 1.0)
    try:
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(db), read_only=True)  # what SCHEMA.md used to tell users to do
        start = time.monotonic()
        df = run_user_sql(db, "SELECT count(*) AS n FROM runs")
        waited = time.monotonic() - start
    finally:
        holder.wait(timeout=30)
    assert df["n"].tolist() == [1] and waited > 0.3  # it waited for the holder, then read


def test_sql_gives_up_after_the_lock_timeout(db, monkeypatch):
    _run(db)
    monkeypatch.setattr(store_db, "LOCK_TIMEOUT_S", 0.3)
    holder = _hold(db, 3.0)
    try:
        with pytest.raises(StoreLockedError, match=r"stayed locked .*PID"):
            run_user_sql(db, "SELECT 1")
    finally:
        holder.kill()
        holder.wait()


def test_snapshot_is_a_complete_copy_that_others_may_hold_open(db, tmp_path):
    run_id = _run(db)
    out = snapshot(db, tmp_path / "copy.duckdb")
    assert out == tmp_path / "copy.duckdb" and sorted(p.name for p in tmp_path.iterdir()) == ["copy.duckdb", "store"]
    held = duckdb.connect(str(out))  # another tool keeps the copy open, for writing even ...
    try:
        assert held.execute("SELECT id FROM runs").fetchall() == [(run_id,)]
        assert held.execute("SELECT count(*) FROM images").fetchone()[0] == 2
        assert _run(db) == run_id + 1  # ... and the store goes on being written meanwhile
    finally:
        held.close()
    assert store_runs.get_run(out, run_id)["config"]["backbone"] == "vgg16"  # a store in its own right


def test_snapshot_refuses_an_existing_file_unless_forced(db, tmp_path):
    _run(db)
    out = tmp_path / "copy.duckdb"
    out.write_text("keep me")
    with pytest.raises(SnapshotError, match="exists; give --force"):
        snapshot(db, out)
    assert out.read_text() == "keep me"
    snapshot(db, out, force=True)
    assert len(run_user_sql(out, "FROM runs")) == 1


@pytest.mark.parametrize(
    "where, message",
    [
        ("missing/copy.duckdb", "does not exist"),
        ("a_file/copy.duckdb", "is a file, not a folder"),
        ("a_folder", "is a folder"),
        ("store/nst.duckdb", "is the store itself"),
    ],
)
def test_snapshot_refuses_unusable_targets_and_writes_nothing(db, tmp_path, where, message):
    _run(db)
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(SnapshotError, match=message):
        snapshot(db, tmp_path / where)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_a_failed_snapshot_leaves_no_temporary_file(db, tmp_path, monkeypatch):
    _run(db)

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("store.userquery.os.replace", fail)
    with pytest.raises(SnapshotError, match="No space left"):
        snapshot(db, tmp_path / "copy.duckdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]

"""The user's own SQL against the store, and consistent copies of it for other tools.

DuckDB lets one process hold a file open for writing, and then no other process can open
it, not even read-only: a user's `duckdb -readonly data/nst.duckdb` next to a run fails
whenever the run is writing. `run_user_sql` opens the store read-only, waiting (with the
store's usual jittered retries) while a run has it, and closes it again as soon as the
result is in; `snapshot` writes a copy that other tools may keep open as long as they like.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import duckdb
import pandas as pd

from store.db import StoreError, read_connection, resolve_db_path


class QueryError(StoreError):
    """The user's SQL was refused; the message is DuckDB's first line."""


class SnapshotError(StoreError):
    """A snapshot cannot be written where asked; the message says why."""


def run_user_sql(db: str | os.PathLike | None, sql: str) -> pd.DataFrame:
    """The result of the user's `sql` on the store opened read-only (an empty frame for a
    statement without a result). A statement that would write, and any SQL error, is a
    `QueryError` with DuckDB's first line."""
    if not sql.strip():
        raise QueryError("no SQL given")
    with read_connection(db) as con:
        try:
            con.execute(sql)
            # None for a statement without a result set (only comments, for one).
            return con.df() if con.description is not None else pd.DataFrame()
        except duckdb.Error as exc:
            raise QueryError(_explain(exc)) from None


def _explain(exc: duckdb.Error) -> str:
    """DuckDB's first line, saying plainly why a write was refused."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "read-only mode" in first:
        return f"the store is opened read-only here, so statements that write are refused ({first})"
    return first


def snapshot(db: str | os.PathLike | None, out: str | os.PathLike, force: bool = False) -> Path:
    """Copy the store, consistently, into a new DuckDB file `out`, and return its path.

    The source is opened read-only (waiting while a run holds it); the copy is written to
    a temporary file next to `out` and renamed into place only when complete, so `out` is
    never half-written. An existing `out` is refused unless `force`."""
    target = _snapshot_target(db, out, force)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _remove(tmp)
    try:
        with read_connection(db) as con:
            source = con.execute("SELECT current_database()").fetchone()[0].replace('"', '""')
            con.execute("ATTACH ? AS workbench_snapshot (READ_WRITE)", [str(tmp)])
            # Identifiers cannot be bound; the source's name is DuckDB's own, quoted.
            con.execute(f'COPY FROM DATABASE "{source}" TO workbench_snapshot')
            con.execute("DETACH workbench_snapshot")  # checkpoints the copy: one self-contained file
        os.replace(tmp, target)
    except duckdb.Error as exc:
        raise SnapshotError(f"cannot write snapshot {target}: {str(exc).strip().splitlines()[0]}") from None
    except OSError as exc:
        raise SnapshotError(f"cannot write snapshot {target}: {exc.strerror or exc}") from None
    finally:
        _remove(tmp)
    return target


def _snapshot_target(db: str | os.PathLike | None, out: str | os.PathLike, force: bool) -> Path:
    """`out` as an absolute path, once it is known that a snapshot may be written there."""
    target = Path(out).expanduser().resolve()
    parent = target.parent
    if target == resolve_db_path(db):
        raise SnapshotError(f"{target} is the store itself; give another file")
    if target.is_dir():
        raise SnapshotError(f"{target} is a folder; give a file path")
    if target.exists() and not force:
        raise SnapshotError(f"{target} exists; give --force to replace it")
    if target.with_name(target.name + ".wal").exists():
        # DuckDB would replay the old file's log against the new one.
        raise SnapshotError(f"{target} has a write-ahead log (.wal): close what has it open for writing first")
    if not parent.exists():
        raise SnapshotError(f"folder {parent} does not exist")
    if not parent.is_dir():
        raise SnapshotError(f"{parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SnapshotError(f"cannot write in folder {parent}: permission denied")
    return target


def _remove(tmp: Path) -> None:
    """Remove a temporary copy and its write-ahead log, if any."""
    for path in (tmp, tmp.with_name(tmp.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

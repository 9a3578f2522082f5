"""Where the database lives and how to talk to it: short transactions, brief retries.

DuckDB lets one process at a time open a file for writing, and while one has it open no
other process can open it at all, not even read-only. Every operation here opens the
file, runs one transaction and closes it again, so several processes (a CLI run, the
dashboard, the background worker, a user's `workbench sql`) take turns; a caller that
finds the file locked waits a little and tries again.

Reading needs no write access: `connect(db, read_only=True)` and `read_connection(db)`
open the file read-only and never migrate or write it, and inside `reading()` every
`connect` opens an existing file read-only (the command line's read commands use this,
so they work on a file the user cannot write).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np

from store.schema import SCHEMA_VERSION, migrate

log = logging.getLogger(__name__)
T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = PROJECT_ROOT / "data" / "nst.duckdb"
LOCK_TIMEOUT_S = 30.0
# Set inside `reading()`: `connect` then opens an existing file read-only.
_READING: ContextVar[bool] = ContextVar("store_reading", default=False)


class StoreError(RuntimeError):
    """The database cannot be used; the message says why in one line."""


class SchemaBehindError(StoreError):
    """A read-only open found a file whose schema is older than this code: only a
    connection that may write can migrate it."""


class StoreLockedError(StoreError):
    """Another process kept the file open past the wait; `holder_pid` is its PID when
    DuckDB named it. Writers of results in memory wait these out (`retry_while_locked`)."""

    def __init__(self, path: Path, holder_pid: int | None) -> None:
        held = f" (held by PID {holder_pid})" if holder_pid else ""
        super().__init__(f"database {path} stayed locked by another process{held} for too long")
        self.holder_pid = holder_pid


def _holder_pid(message: str) -> int | None:
    """The PID in DuckDB's "Conflicting lock is held in ... (PID 1234)", if any."""
    found = re.search(r"\(PID (\d+)\)", message)
    return int(found.group(1)) if found else None


def waiting_message(exc: StoreLockedError) -> str:
    """What a progress line says while a result waits for the file."""
    held = f" (held by PID {exc.holder_pid})" if exc.holder_pid else ""
    return f"waiting for the database{held}; nothing is lost, retrying"


def retry_while_locked(write: Callable[[], T], on_wait: Callable[[str], None], pause_s: float = 1.0) -> T:
    """`write()`, tried again for as long as another process holds the file: for results
    that exist only in memory (a finished run's image and losses), which a lock must
    never lose. Any other error is raised."""
    while True:
        try:
            return write()
        except StoreLockedError as exc:
            on_wait(waiting_message(exc))
            time.sleep(pause_s)


def resolve_db_path(explicit: str | os.PathLike | None = None) -> Path:
    """`--db` beats the `NST_DB` environment variable, which beats `data/nst.duckdb`."""
    raw = explicit or os.environ.get("NST_DB") or DEFAULT_DB
    return Path(raw).expanduser().resolve()


def change_token(path: str | os.PathLike) -> tuple:
    """A cheap value that changes whenever the store at `path` commits a change, for
    caches keyed on "the store as it is now" (no connection, two `stat` calls).

    DuckDB appends every commit to `<file>.wal` (its size grows) and a checkpoint
    rewrites the file itself and removes the log, so the pair of (mtime, size) of both
    files moves on every commit. A missing file reads as None."""

    def stat(p: Path) -> tuple[int, int] | None:
        try:
            st = p.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    path = Path(path)
    return stat(path), stat(path.with_name(path.name + ".wal"))


def _is_lock_error(exc: Exception) -> bool:
    """Another process holds the file. "lock" as a word: a full disk's "Could not write
    block" is not a lock, and waiting it out would only delay the failure it is."""
    text = str(exc).lower()
    return re.search(r"\block\b", text) is not None or "resource temporarily unavailable" in text


def _open(path: Path, deadline: float, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the file, retrying with jittered backoff while another process holds it."""
    delay = 0.005
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise StoreError(f"cannot open database {path}: {str(exc).splitlines()[0]}") from None
            if time.monotonic() > deadline:
                raise StoreLockedError(path, _holder_pid(str(exc))) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.2)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open database {path}: {str(exc).splitlines()[0]}") from None


def _check_path(path: Path) -> None:
    if path.is_dir():
        raise StoreError(f"database path {path} is a directory; give a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the folder for database {path}: {exc.strerror}") from None


@contextmanager
def reading() -> Iterator[None]:
    """Within this block every `connect(db)` that does not say otherwise opens an
    existing file read-only: for commands that only read, so that they work on a file
    the user cannot write and can never change it. A missing file, or a writable one
    whose schema is behind, still gets the ordinary connection (created or migrated)."""
    token = _READING.set(True)
    try:
        yield
    finally:
        _READING.reset(token)


@contextmanager
def connect(
    db: str | os.PathLike | None = None, timeout_s: float | None = None, *, read_only: bool | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """One short transaction on the database: committed on success, rolled back on
    error, and the file closed either way. The schema is migrated on first use.

    `read_only=True` opens an existing store read-only (never migrated, never written);
    None (the default) does so inside `reading()` and opens for writing elsewhere."""
    path = resolve_db_path(db)
    writes = not (read_only or (read_only is None and _READING.get()))
    with _writer_lock(path) if writes else contextlib.nullcontext():
        yield from _transaction(path, timeout_s, read_only)


# One writing transaction at a time per file within a process. Connections of one
# process share one DuckDB instance, and two overlapping transactions that update the
# same row lose one update without an error (DuckDB 2.0.1, measured: a cancel request
# written while the run's recorder updated its heartbeat was lost in 9 of 10 tries), so
# the process serialises its own writers as the file lock serialises processes.
_WRITER_LOCKS: dict[str, threading.RLock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(path: Path) -> threading.RLock:
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(str(path.resolve()), threading.RLock())


def _transaction(path: Path, timeout_s: float | None, read_only: bool | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The body of `connect`: open, one transaction, close."""
    con, read_only = _connection(path, time.monotonic() + _timeout(timeout_s), read_only)
    try:
        if not read_only:
            _ensure_schema(con, path)
        con.begin()
        try:
            yield con
            con.commit()
        except BaseException:
            _rollback(con)
            raise
    except (duckdb.IOException, duckdb.TransactionException) as exc:
        # Disk full, file too large, read-only file: the user's problem to fix, in one line.
        verb = "read" if read_only else "write"
        raise StoreError(f"cannot {verb} database {path}: {str(exc).splitlines()[0]}") from None
    finally:
        _close(con)


@contextmanager
def read_connection(
    db: str | os.PathLike | None = None, timeout_s: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The store opened read-only, with no transaction around it (for statements of the
    user's own, which may bring their own): waits while another process holds the file,
    refuses a missing, foreign or not yet migrated file, and never writes."""
    path = resolve_db_path(db)
    con = _open_read_only(path, time.monotonic() + _timeout(timeout_s))
    try:
        yield con
    finally:
        _close(con)


def _timeout(timeout_s: float | None) -> float:
    return LOCK_TIMEOUT_S if timeout_s is None else timeout_s


def _connection(path: Path, deadline: float, read_only: bool | None) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """The open file and whether it is read-only, as `connect` describes."""
    if read_only:
        return _open_read_only(path, deadline), True
    if read_only is None and _READING.get() and path.is_file():
        try:
            return _open_read_only(path, deadline), True
        except SchemaBehindError:
            if not os.access(path, os.W_OK):
                raise
            # Writable after all: migrate it, as any other command would.
    _check_path(path)
    return _open(path, deadline), False


def _open_read_only(path: Path, deadline: float) -> duckdb.DuckDBPyConnection:
    """Open an existing store read-only and check that it is ours and current."""
    if path.is_dir():
        raise StoreError(f"database path {path} is a directory; give a file path")
    if not path.exists():
        raise StoreError(f"no database at {path}")
    con = _open(path, deadline, read_only=True)
    try:
        _check_schema_read_only(con, path)
    except BaseException:
        _close(con)
        raise
    return con


def _check_schema_read_only(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a file this code cannot read as it is: read-only, it cannot migrate."""
    version = _schema_version(con, path)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"database {path} is at schema v{version}, newer than this code (v{SCHEMA_VERSION}); upgrade the project"
        )
    if version < SCHEMA_VERSION:
        raise SchemaBehindError(
            f"database {path} is at schema v{version} (this code needs v{SCHEMA_VERSION}); "
            "open it once with write access to migrate"
        )


def _schema_version(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """The file's schema version: 0 for a file with no tables at all; a StoreError for
    one that has tables of its own but no `schema_migrations` (not ours to change)."""
    try:
        return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
    except duckdb.CatalogException:
        pass
    tables = _table_names(con)
    if tables:
        shown = ", ".join(tables[:6]) + (f", … ({len(tables)} in all)" if len(tables) > 6 else "")
        raise StoreError(f"{path} is not a workbench store: it has tables {shown} but no schema_migrations")
    return 0


def _table_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables and views of the file itself (not of the system or temp catalogs)."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def _ensure_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Migrate the file when it is behind this code. Checked on every connection (one
    small query, ~2 ms) rather than remembered per process: another process may have
    replaced or migrated the file since. A file with tables but no `schema_migrations`
    belongs to something else: it is refused before anything is created in it."""
    if _schema_version(con, path) == SCHEMA_VERSION:
        return
    try:
        migrate(con)
    except RuntimeError as exc:  # a file from a newer version of the project
        raise StoreError(f"database {path}: {exc}") from None


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    # The failed statement may have ended the transaction already.
    with contextlib.suppress(duckdb.Error):
        con.rollback()


def _close(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.close()
    except duckdb.Error as exc:  # closing checkpoints; a full disk fails it, the WAL stays
        log.warning("closing the database failed: %s", exc)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays from a DataFrame row -> plain Python values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "item") and not isinstance(value, str):
        return value.item()
    return value


def fetch_row(db: str | os.PathLike | None, sql: str, params: list[Any]) -> dict[str, Any] | None:
    """The first row of a query as a dict of plain Python values, or None."""
    with connect(db) as con:
        return first_row(con, sql, params)


def first_row(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> dict[str, Any] | None:
    """`fetch_row` on an open connection."""
    df = con.execute(sql, params).df()
    return None if df.empty else {k: _plain(v) for k, v in df.iloc[0].to_dict().items()}

"""Where the database lives and how to talk to it: short transactions, brief retries.

DuckDB lets one process at a time open a file for writing. Every operation here opens the
file, runs one transaction and closes it again, so several processes (a CLI run, the
dashboard, the background worker) take turns; a caller that finds the file locked waits
a little and tries again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


class StoreError(RuntimeError):
    """The database cannot be used; the message says why in one line."""


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


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "resource temporarily unavailable" in text


def _open(path: Path, deadline: float) -> duckdb.DuckDBPyConnection:
    """Open the file, retrying with jittered backoff while another process holds it."""
    delay = 0.005
    while True:
        try:
            return duckdb.connect(str(path))
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
def connect(db: str | os.PathLike | None = None, timeout_s: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """One short transaction on the database: committed on success, rolled back on
    error, and the file closed either way. The schema is migrated on first use."""
    path = resolve_db_path(db)
    _check_path(path)
    con = _open(path, time.monotonic() + (LOCK_TIMEOUT_S if timeout_s is None else timeout_s))
    try:
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
        raise StoreError(f"cannot write database {path}: {str(exc).splitlines()[0]}") from None
    finally:
        _close(con)


def _ensure_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Migrate the file when it is behind this code. Checked on every connection (one
    small query, ~2 ms) rather than remembered per process: another process may have
    replaced or migrated the file since."""
    try:
        if con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == SCHEMA_VERSION:
            return
    except duckdb.CatalogException:  # a new file
        pass
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

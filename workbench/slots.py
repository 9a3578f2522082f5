"""Worker slots: at most N workers per database on one machine, each holding an exclusive
`flock` on its own lock file next to the database (`<db>.worker<K>.lock`, holding its PID).

The lock is the liveness signal too: the kernel drops it the moment its process dies, so
"a worker is running" is "some slot's lock is held" — never a guess from timestamps.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def slot_path(db_path: Path, slot: int) -> Path:
    """The lock file of worker slot `slot` of the database at `db_path`."""
    return Path(f"{db_path}.worker{slot}.lock")


@contextmanager
def worker_slot(db_path: Path, slots: int) -> Iterator[int | None]:
    """Hold one of `slots` worker slots while the block runs, or yield None if all are
    taken: at most `slots` workers run per database on this machine."""
    for slot in range(slots):
        fh = open(slot_path(db_path, slot), "a+")  # noqa: SIM115 - held while working; "a+" keeps a holder's PID
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            yield slot
        finally:
            fh.close()
        return
    yield None


def running_workers(db_path: Path) -> list[int]:
    """PIDs of the workers now holding a slot of this database (empty: none is running).
    A probe takes a shared lock for an instant and changes nothing."""
    pids = []
    for path in sorted(Path(db_path).parent.glob(f"{Path(db_path).name}.worker*.lock")):
        with open(path) as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = fh.read().strip()
                pids.append(int(text) if text.isdigit() else 0)
            else:
                fcntl.flock(fh, fcntl.LOCK_UN)
    return pids

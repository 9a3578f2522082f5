"""Buffered logging of a running run: iteration rows and snapshots go to the database in
batches, written by one background thread, so the optimisation loop never waits for the
disk and other processes still see the run's progress while it goes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from store.db import StoreLockedError, connect, retry_while_locked, waiting_message
from store.images import insert_blobs, make_blob
from store.runs import utcnow

log = logging.getLogger(__name__)

# The columns of an iteration row, in the order `add_iteration` takes them; the engine's
# `StepEvent` has a field of each name.
ITERATION_COLUMNS = (
    "step",
    "total_loss",
    "content_loss",
    "style_loss",
    "tv_loss",
    "step_seconds",
    "elapsed_seconds",
    "size",
)
# Background writes that may fail in a row before the run gives up (a full disk, a broken
# file); failed batches are kept and retried with the next one, so nothing is lost. A
# file locked by another process is not a failure: the rows wait in memory, however long.
MAX_FAILED_WRITES = 3
# Seconds between tries of a final flush while another process holds the file.
LOCK_RETRY_S = 1.0


class RunRecorder:
    """Collects a run's rows in memory and hands them to a writer thread every
    `every_steps` rows, every `every_s` seconds, at every snapshot and on `flush()`.

    Each write is one short transaction that also refreshes the run's heartbeat and
    progress and reads back whether someone asked to cancel the run. Opening the file
    costs tens of milliseconds, which is why this happens beside the loop, not in it.
    """

    def __init__(
        self,
        db: Any,
        run_id: int,
        every_steps: int = 50,
        every_s: float = 2.0,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        """`on_wait(message)` is told when a write finds the file held by another
        process (the command line shows it on the progress line)."""
        self.db, self.run_id = db, run_id
        self.on_wait = on_wait or (lambda message: log.warning("run %s: %s", run_id, message))
        self.every_steps, self.every_s = every_steps, every_s
        self._rows: list[tuple] = []
        self._snapshots: list[tuple[int, np.ndarray]] = []
        self._last_handoff = time.monotonic()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"run{run_id}-writer")
        self._pending: list[Future] = []
        self._failures = 0
        self._closed = False
        self.steps_logged = 0
        self.cancel_requested = False

    def add_iteration(self, row: tuple) -> None:
        """Buffer one iteration row (values in `ITERATION_COLUMNS` order)."""
        self._rows.append(row)
        if len(self._rows) >= self.every_steps or time.monotonic() - self._last_handoff >= self.every_s:
            self._handoff()

    def add_snapshot(self, step: int, rgb: np.ndarray) -> None:
        """Buffer a snapshot (PNG-encoded by the writer thread) and hand off at once."""
        self._snapshots.append((step, rgb))
        self._handoff()

    def flush(self) -> None:
        """Write everything buffered and wait for it, however long another process holds
        the file; raises if the store cannot take it for another reason."""
        retry_while_locked(self._write_all, self.on_wait, LOCK_RETRY_S)

    def _write_all(self) -> None:
        self._handoff()
        self._collect(wait=True)

    def close(self) -> None:
        """Flush and stop the writer thread; later calls do nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
        finally:
            # After a failed flush the writes still queued would fail the same way, one
            # after another (a full disk: ~40 s for a fast run's backlog): drop them.
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _handoff(self) -> None:
        self._collect(wait=False)
        rows, snaps = self._rows, self._snapshots
        self._rows, self._snapshots = [], []
        self._last_handoff = time.monotonic()
        self._pending.append(self._pool.submit(self._write, rows, snaps))

    def _collect(self, wait: bool) -> None:
        """Take the results of finished writes; put the rows of failed ones back."""
        while self._pending and (wait or self._pending[0].done()):
            future = self._pending.pop(0)
            rows, snaps, error = future.result()
            if error is None:
                self._failures = 0
                continue
            self._rows[:0], self._snapshots[:0] = rows, snaps  # retried with the next batch
            if isinstance(error, StoreLockedError):
                if wait:
                    raise error
                self.on_wait(waiting_message(error))
                continue
            self._failures += 1
            log.warning("run %s: store write failed (%s); will retry", self.run_id, error)
            if wait or self._failures >= MAX_FAILED_WRITES:
                raise error

    def _write(self, rows: list[tuple], snaps: list[tuple[int, np.ndarray]]):
        """Runs on the writer thread. Returns (rows, snaps, error) instead of raising so
        the owner can keep a failed batch."""
        try:
            self._insert(rows, [(step, make_blob(rgb)) for step, rgb in snaps])
        except Exception as exc:  # handed back to the loop's thread, see _collect
            return rows, snaps, exc
        return rows, snaps, None

    def _insert(self, rows: list[tuple], blobs: list) -> None:
        with connect(self.db) as con:
            if rows:
                df = pd.DataFrame(rows, columns=list(ITERATION_COLUMNS))
                df.insert(0, "run_id", self.run_id)
                con.register("batch", df)
                con.execute("INSERT INTO iterations BY NAME SELECT * FROM batch")
                con.unregister("batch")
            if blobs:
                insert_blobs(con, [b for _, b in blobs])
                con.executemany(
                    "INSERT INTO snapshots VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    [[self.run_id, step, b.id] for step, b in blobs],
                )
            row = con.execute(
                "UPDATE runs SET heartbeat_at = ?, steps_done = steps_done + ? WHERE id = ? RETURNING cancel_requested",
                [utcnow(), len(rows), self.run_id],
            ).fetchone()
        self.steps_logged += len(rows)
        self.cancel_requested = bool(row and row[0])

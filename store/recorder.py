"""Buffered logging of a running run: iteration rows and snapshots go to the database in
batches, so logging costs a negligible share of the run and other processes still see
its progress while it goes."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from store.db import connect
from store.images import ImageBlob, insert_blobs
from store.runs import utcnow

ITERATION_COLUMNS = (
    "step",
    "total_loss",
    "content_loss",
    "style_loss",
    "tv_loss",
    "step_seconds",
    "elapsed_seconds",
)


class RunRecorder:
    """Collects a run's rows in memory and flushes them every `every_steps` rows,
    every `every_s` seconds, at every snapshot, and when asked to.

    Each flush is one short transaction that also refreshes the run's heartbeat and
    progress, and reads back whether someone asked to cancel the run.
    """

    def __init__(self, db: Any, run_id: int, every_steps: int = 50, every_s: float = 2.0) -> None:
        self.db, self.run_id = db, run_id
        self.every_steps, self.every_s = every_steps, every_s
        self._rows: list[tuple] = []
        self._snapshots: list[tuple[int, ImageBlob]] = []
        self._last_flush = time.monotonic()
        self.steps_logged = 0
        self.cancel_requested = False

    def add_iteration(self, row: tuple) -> None:
        """Buffer one iteration row (values in `ITERATION_COLUMNS` order)."""
        self._rows.append(row)
        if len(self._rows) >= self.every_steps or time.monotonic() - self._last_flush >= self.every_s:
            self.flush()

    def add_snapshot(self, step: int, blob: ImageBlob) -> None:
        """Buffer a snapshot image and flush, so the live view shows it soon."""
        self._snapshots.append((step, blob))
        self.flush()

    def flush(self) -> None:
        """Write what is buffered (possibly nothing) and refresh the heartbeat."""
        rows, snaps = self._rows, self._snapshots
        with connect(self.db) as con:
            if rows:
                df = pd.DataFrame(rows, columns=list(ITERATION_COLUMNS))
                df.insert(0, "run_id", self.run_id)
                con.register("batch", df)
                con.execute("INSERT INTO iterations SELECT * FROM batch")
                con.unregister("batch")
            if snaps:
                insert_blobs(con, [b for _, b in snaps])
                con.executemany(
                    "INSERT INTO snapshots VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    [[self.run_id, step, b.id] for step, b in snaps],
                )
            steps = rows[-1][0] if rows else None
            row = con.execute(
                "UPDATE runs SET heartbeat_at = ?, steps_done = coalesce(?, steps_done) "
                "WHERE id = ? RETURNING cancel_requested",
                [utcnow(), steps, self.run_id],
            ).fetchone()
        # Cleared only after the commit: a failed flush keeps the rows for the next try.
        self._rows, self._snapshots = [], []
        self.steps_logged += len(rows)
        self.cancel_requested = bool(row and row[0])
        self._last_flush = time.monotonic()

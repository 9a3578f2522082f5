"""Run rows: creating, claiming, finishing, cancelling, and reading them back.

Status moves one way: queued -> running -> finished | failed | cancelled | interrupted
(queued -> cancelled too). `interrupted` is set by `mark_stale_runs` for a run whose
process died without saying so (SIGKILL, power loss).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from store.db import connect, first_row, resolve_db_path
from store.images import ImageBlob, insert_blobs

# The columns of `runs` that hold a run's state rather than its settings. Every other
# column holds one field of the application's run config (`engine.config.TransferConfig`,
# which the store does not import; a test holds the two together), so the field list is
# read from the table itself and adding a field is a migration that adds its column.
STATE_COLUMNS = frozenset(
    {
        "id", "created_at", "started_at", "finished_at", "heartbeat_at", "status", "gram_convention",
        "content_image", "style_image", "output_image", "error", "tf_version", "device", "host", "pid",
        "cancel_requested", "steps_done", "wall_seconds", "total_loss", "content_loss", "style_loss", "tv_loss",
        "best_loss", "best_step", "notes", "tags", "study_id", "study_cell", "study_variant",
    }
)  # fmt: skip
# How a run belongs to a study (see store.studies).
STUDY_COLUMNS = ("study_id", "study_cell", "study_variant")
STATUSES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")
# A running run whose heartbeat is older than this is taken for dead even if its pid
# cannot be checked (another host). Runs flush at least every 2 s plus one step.
STALE_AFTER = timedelta(minutes=10)


def utcnow() -> datetime:
    """Naive UTC timestamp: every TIMESTAMP column in the store is UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class StyleRow:
    """One style image of a run, as `run_styles` holds it: the image id, its blend weight,
    its region mask's image id (None: the whole image) and the (height, width) it goes to
    the network at at the full scale (None when unknown). The queue computes the size
    (`engine.styles.style_shape`); the store only keeps it."""

    image_id: str
    weight: float = 1.0
    mask_image: str | None = None
    height: int | None = None
    width: int | None = None


def create_run(
    db: Any,
    config: dict[str, Any],
    content_image: str,
    style_image: str,
    gram_convention: str,
    status: str = "queued",
    images: Sequence[tuple[ImageBlob, str | None]] = (),
    styles: Sequence[StyleRow] | None = None,
) -> int:
    """Insert a run row from a *resolved* config dict; returns the new run id. `images`
    (encoded, with display names) are stored in the same transaction, so a run that
    cannot be inserted leaves no image behind. `styles`: the run's style images in order
    (see `insert_run`)."""
    with connect(db) as con:
        for blob, name in images:
            insert_blobs(con, [blob], name)
        return insert_run(con, config, content_image, style_image, gram_convention, status, styles=styles)


def insert_run(
    con: duckdb.DuckDBPyConnection,
    config: dict[str, Any],
    content_image: str,
    style_image: str,
    gram_convention: str,
    status: str = "queued",
    study: dict[str, Any] | None = None,
    styles: Sequence[StyleRow] | None = None,
) -> int:
    """`create_run` inside an open transaction; `study` optionally sets study_id,
    study_cell and study_variant. `styles` are the run's `run_styles` rows in order (the
    first one is `style_image`); None: one row, `style_image` with weight 1, no mask."""
    unknown = set(study or {}) - set(STUDY_COLUMNS)
    if unknown:
        raise ValueError(f"unknown study fields: {sorted(unknown)}")
    stray = set(config) - set(config_columns(con))
    if stray:
        raise ValueError(f"config keys without a runs column: {sorted(stray)} (add them in a migration)")
    styles = list(styles) if styles is not None else [StyleRow(style_image)]
    if not styles or styles[0].image_id != style_image:
        raise ValueError("a run's first style row must be its style_image")
    given = {k: v for k, v in config.items() if v is not None}  # absent: the column default (legacy value)
    row = {"created_at": utcnow(), "status": status, **given, **(study or {}), "gram_convention": gram_convention}
    row |= {"content_image": content_image, "style_image": style_image}
    marks = ", ".join("?" for _ in row)
    # Column names come from the table itself or the fixed names above, never from user text.
    sql = f"INSERT INTO runs ({', '.join(row)}) VALUES ({marks}) RETURNING id"
    run_id = con.execute(sql, list(row.values())).fetchone()[0]
    con.executemany(
        "INSERT INTO run_styles (run_id, position, image_id, weight, mask_image, height, width) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [[run_id, i, s.image_id, float(s.weight), s.mask_image, s.height, s.width] for i, s in enumerate(styles)],
    )
    return run_id


def config_columns(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """The `runs` columns that hold config fields, in table order."""
    return tuple(d[0] for d in con.execute("SELECT * FROM runs LIMIT 0").description if d[0] not in STATE_COLUMNS)


def config_of(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    """A run row's config: its config columns, as the one stored representation."""
    return {c: row[c] for c in columns}


def next_queued(db: Any) -> int | None:
    """The oldest queued run's id, or None."""
    with connect(db) as con:
        return con.execute("SELECT min(id) FROM runs WHERE status = 'queued'").fetchone()[0]


def claim_run(db: Any, run_id: int | None, tf_version: str, device: str) -> int | None:
    """Move a queued run (that one, or the oldest if `run_id` is None) to running and
    stamp it with this process; returns its id, or None if there was nothing to claim."""
    now = utcnow()
    with connect(db) as con:
        if run_id is None:
            run_id = con.execute("SELECT min(id) FROM runs WHERE status = 'queued'").fetchone()[0]
        row = con.execute(
            "UPDATE runs SET status = 'running', started_at = ?, heartbeat_at = ?, pid = ?, "
            "host = ?, tf_version = ?, device = ? WHERE id = ? AND status = 'queued' RETURNING id",
            [now, now, os.getpid(), socket.gethostname(), tf_version, device, run_id],
        ).fetchone()
    return None if row is None else row[0]


def finish_run(db: Any, run_id: int, status: str, output: ImageBlob | None = None, **fields: Any) -> None:
    """Close a run: `status` plus any of error, steps_done, wall_seconds, total_loss,
    content_loss, style_loss, tv_loss, best_loss, best_step, output_image (an image id
    already stored). `output` (the encoded output image) is stored in the same
    transaction, so a process killed in between leaves neither an orphan image nor a
    finished run without its image."""
    allowed = {
        "output_image",
        "best_loss",
        "best_step",
        "error",
        "steps_done",
        "wall_seconds",
        "total_loss",
        "content_loss",
        "style_loss",
        "tv_loss",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown run fields: {sorted(unknown)}")
    if output is not None:
        fields["output_image"] = output.id
    sets = ", ".join(f"{k} = ?" for k in fields)  # names from the fixed set above
    with connect(db) as con:
        if output is not None:
            insert_blobs(con, [output])
        con.execute(
            f"UPDATE runs SET status = ?, finished_at = ?, heartbeat_at = ?{', ' if sets else ''}{sets} WHERE id = ?",
            [status, utcnow(), utcnow(), *fields.values(), run_id],
        )


def request_cancel(db: Any, run_id: int) -> str | None:
    """Cancel a run: a queued one at once, a running one at its next flush. Returns the
    run's status afterwards (None if there is no such run)."""
    with connect(db) as con:
        con.execute(
            "UPDATE runs SET status = 'cancelled', finished_at = ? WHERE id = ? AND status = 'queued'",
            [utcnow(), run_id],
        )
        con.execute("UPDATE runs SET cancel_requested = true WHERE id = ? AND status = 'running'", [run_id])
        row = con.execute("SELECT status FROM runs WHERE id = ?", [run_id]).fetchone()
    return None if row is None else row[0]


def pid_alive(pid: int | None) -> bool:
    """Whether process `pid` exists on this host (one we may not signal counts)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reclaim_before_reading(db: Any) -> list[int]:
    """`mark_stale_runs`, as every reader calls it before it shows runs: a missing file
    has nothing to reclaim (and is not created), and one this user cannot write is read
    as it is (a read-only listing must still work)."""
    path = resolve_db_path(db)
    if not path.exists() or not os.access(path, os.W_OK):
        return []
    return mark_stale_runs(db)


def mark_stale_runs(db: Any) -> list[int]:
    """Mark `running` runs whose process is gone as `interrupted`; returns their ids.

    A run on this host is dead when its pid is; on another host, when its heartbeat is
    older than `STALE_AFTER`."""
    host, now = socket.gethostname(), utcnow()
    with connect(db) as con:
        rows = con.execute("SELECT id, host, pid, heartbeat_at FROM runs WHERE status = 'running'").fetchall()
        dead = [
            rid
            for rid, h, pid, beat in rows
            if (h == host and not pid_alive(pid)) or beat is None or now - beat > STALE_AFTER
        ]
        for rid in dead:
            con.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = heartbeat_at, "
                "error = 'the run process stopped without finishing; iterations up to the last flush are kept' "
                "WHERE id = ? AND status = 'running'",
                [rid],
            )
    return dead


def get_run(db: Any, run_id: int) -> dict[str, Any] | None:
    """One run row as a dict, with its config columns gathered under "config", or None."""
    with connect(db) as con:
        row = first_row(con, "SELECT * FROM runs WHERE id = ?", [run_id])
        columns = config_columns(con)
    if row is not None:
        row["config"] = config_of(row, columns)
    return row


def list_runs(db: Any, limit: int = 100, status: str | None = None) -> pd.DataFrame:
    """The newest runs, a summary row each."""
    with connect(db) as con:
        return con.execute(
            "SELECT id, created_at, status, backbone, learning_rate, iterations, size, weights, "
            "steps_done, total_loss, wall_seconds, error FROM runs "
            "WHERE (? IS NULL OR status = ?) ORDER BY id DESC LIMIT ?",
            [status, status, limit],
        ).df()


def get_iterations(db: Any, run_id: int) -> pd.DataFrame:
    """Every logged iteration of a run, in step order."""
    with connect(db) as con:
        return con.execute(
            "SELECT step, total_loss, content_loss, style_loss, tv_loss, step_seconds, elapsed_seconds, size "
            "FROM iterations WHERE run_id = ? ORDER BY step",
            [run_id],
        ).df()


def get_styles(db: Any, run_id: int) -> list[dict[str, Any]]:
    """A run's style images in blend-weight order: dicts with position, image_id, weight,
    mask_image (None: no mask), height and width (None for runs from before schema v7)
    and name / mask_name (display names of the image and the mask). Empty for an unknown
    run."""
    with connect(db) as con:
        cur = con.execute(
            "SELECT s.position, s.image_id, s.weight, s.mask_image, s.height, s.width, i.name, m.name AS mask_name "
            "FROM run_styles s LEFT JOIN images i ON i.id = s.image_id LEFT JOIN images m ON m.id = s.mask_image "
            "WHERE s.run_id = ? ORDER BY s.position",
            [run_id],
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def get_snapshots(db: Any, run_id: int) -> pd.DataFrame:
    """(step, image_id) of a run's snapshots, in step order."""
    with connect(db) as con:
        return con.execute("SELECT step, image_id FROM snapshots WHERE run_id = ? ORDER BY step", [run_id]).df()


def set_notes_tags(db: Any, run_id: int, notes: str, tags: list[str]) -> None:
    """Replace a run's free-text notes and tags."""
    clean = sorted({t.strip() for t in tags if t.strip()})
    with connect(db) as con:
        con.execute("UPDATE runs SET notes = ?, tags = ? WHERE id = ?", [notes, clean, run_id])


def delete_run(db: Any, run_id: int) -> None:
    """Delete a run with its iterations, snapshots, metrics and style rows, and images
    nothing else uses (a style or mask image of another run's `run_styles` is kept).
    Active runs cannot be deleted (cancel them first)."""
    with connect(db) as con:
        row = con.execute("SELECT status FROM runs WHERE id = ?", [run_id]).fetchone()
        if row is None:
            return
        if row[0] in ACTIVE:
            raise ValueError(f"run {run_id} is {row[0]}; cancel it before deleting")
        for table in ("iterations", "snapshots", "run_metrics", "run_styles"):
            con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM runs WHERE id = ?", [run_id])
        con.execute(
            "DELETE FROM images WHERE id NOT IN (SELECT content_image FROM runs UNION ALL "
            "SELECT style_image FROM runs UNION ALL SELECT output_image FROM runs WHERE output_image IS NOT NULL "
            "UNION ALL SELECT image_id FROM snapshots UNION ALL SELECT image_id FROM run_styles "
            "UNION ALL SELECT mask_image FROM run_styles WHERE mask_image IS NOT NULL)"
        )

"""Queue positions and honest time estimates for active runs, from the store alone.

An estimate is built from past *finished* runs of the same backbone and size: the median
of their seconds per step (`wall_seconds / steps_done`, model loading excluded) times the
steps still to do, plus the same for every run ahead in the queue (one worker takes the
runs in id order). Without such a history there is no estimate, never a guess. A running
run is timed by its own pace only once it has done `OWN_PACE_FRACTION` of its steps: its
first step compiles the graph and says little about the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from store.db import connect

HISTORY_RUNS = 50  # the newest finished runs per (backbone, size) an estimate looks at
OWN_PACE_FRACTION = 0.10  # a running run's own pace counts from 10 % of its steps on
ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class StepRate:
    """The median seconds per step of `runs` earlier finished runs of one backbone and size."""

    backbone: str
    size: int
    seconds_per_step: float
    runs: int


@dataclass(frozen=True)
class Estimate:
    """Where one active run stands: `position` in the queue (1 = next; None when it is
    running), the active runs ahead of it, and the seconds until it ends (None when some
    run on the way has no history), with what the figure is based on."""

    run_id: int
    status: str
    position: int | None
    ahead: tuple[int, ...]
    running_ahead: tuple[int, ...]
    seconds_left: float | None
    own_seconds: float | None
    basis: StepRate | None  # the history behind this run's own share, None: its own pace or none
    own_pace: bool  # its own share comes from its own pace so far (running, past 10 %)
    missing: tuple[tuple[str, int], ...]  # (backbone, size) on the way without any history


def step_rates(db: Any) -> dict[tuple[str, int], StepRate]:
    """{(backbone, size): StepRate} over the newest `HISTORY_RUNS` finished runs of each."""
    with connect(db) as con:
        rows = con.execute(
            "WITH done AS (SELECT backbone, size, wall_seconds / steps_done AS per_step, "
            "  row_number() OVER (PARTITION BY backbone, size ORDER BY finished_at DESC NULLS LAST, id DESC) AS k "
            "  FROM runs WHERE status = 'finished' AND steps_done > 0 AND wall_seconds > 0) "
            "SELECT backbone, size, median(per_step), count(*) FROM done WHERE k <= ? GROUP BY backbone, size",
            [HISTORY_RUNS],
        ).fetchall()
    return {(b, int(s)): StepRate(b, int(s), float(m), int(n)) for b, s, m, n in rows}


def active_runs(db: Any) -> list[dict[str, Any]]:
    """The queued and running runs in the order a worker meets them: the running ones
    (earliest started first), then the queued ones by id, each with the steps logged so
    far and the seconds they took."""
    with connect(db) as con:
        rows = con.execute(
            "WITH it AS (SELECT run_id, max(step) AS step, max(elapsed_seconds) AS elapsed FROM iterations "
            "  WHERE run_id IN (SELECT id FROM runs WHERE list_contains(?, status)) GROUP BY run_id) "
            "SELECT r.id, r.status, r.backbone, r.size, r.iterations, "
            "  greatest(coalesce(r.steps_done, 0), coalesce(it.step, 0)) AS steps_done, it.elapsed "
            "FROM runs r LEFT JOIN it ON it.run_id = r.id WHERE list_contains(?, r.status) "
            "ORDER BY r.status = 'queued', CASE WHEN r.status = 'running' THEN r.started_at END, r.id",
            [list(ACTIVE), list(ACTIVE)],
        ).fetchall()
    keys = ("id", "status", "backbone", "size", "iterations", "steps_done", "elapsed")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _own_share(run: dict[str, Any], rates: dict[tuple[str, int], StepRate]) -> tuple[float | None, bool]:
    """(seconds this run still needs, whether from its own pace); None without history."""
    total, done = int(run["iterations"]), int(run["steps_done"] or 0)
    left = max(0, total - done)
    elapsed = run["elapsed"]
    own = run["status"] == "running" and done >= max(2, OWN_PACE_FRACTION * total) and elapsed
    if own:
        return float(elapsed) / done * left, True
    rate = rates.get((run["backbone"], int(run["size"])))
    return (None, False) if rate is None else (rate.seconds_per_step * left, False)


def estimate(runs: list[dict[str, Any]], rates: dict[tuple[str, int], StepRate]) -> dict[int, Estimate]:
    """An `Estimate` per run of `active_runs`' list (pure: no store access)."""
    out: dict[int, Estimate] = {}
    before = 0.0
    unknown: list[tuple[str, int]] = []
    ahead: list[int] = []
    running: list[int] = []
    position = 0
    for run in runs:
        own, own_pace = _own_share(run, rates)
        key = (run["backbone"], int(run["size"]))
        queued = run["status"] == "queued"
        waits = unknown if queued else []  # a running run waits for nobody
        missing = tuple(dict.fromkeys([*waits, *([key] if own is None else [])]))
        position += queued
        out[int(run["id"])] = Estimate(
            run_id=int(run["id"]),
            status=run["status"],
            position=position if queued else None,
            ahead=tuple(ahead) if queued else (),
            running_ahead=tuple(running) if queued else (),
            seconds_left=None if missing else (before if queued else 0.0) + own,
            own_seconds=own,
            basis=None if own_pace else rates.get(key),
            own_pace=own_pace,
            missing=missing,
        )
        if own is None:
            unknown.append(key)
        else:
            before += own
        ahead.append(int(run["id"]))
        if not queued:
            running.append(int(run["id"]))
    return out


def queue_estimates(db: Any) -> dict[int, Estimate]:
    """{run id: Estimate} for every queued or running run of the store."""
    return estimate(active_runs(db), step_rates(db))

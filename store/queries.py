"""Read-only aggregations for the dashboard: counts, gallery pages, downsampled curves
and the study's comparison tables.

Everything is aggregated in SQL so a page stays fast with thousands of runs: curves are
downsampled per run by step buckets, gallery pages use LIMIT/OFFSET, and thumbnails are
joined only for the rows on the page. Values are always bound with `?`; the only SQL
assembled from pieces comes from the fixed fragments in this module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from store.db import connect
from store.runs import ACTIVE, config_columns
from store.studies import report_steps

log = logging.getLogger(__name__)

# "content layer | style layer, style layer, ..." identifies a layer set.
LAYER_SET_SQL = "(r.content_layer || ' | ' || array_to_string(r.style_layers, ', '))"
IMAGE_PAIR_SQL = "(r.content_image || '+' || r.style_image)"
# The backbone as the study tables name it: "resnet50", or "resnet50+softmax" when a
# feature transform (SWAG) was on, so transformed runs are never averaged with plain ones.
# Also the producer key of `store.metrics` (verdicts pair producers): written once, here.
VARIANT_SQL = (
    "(r.backbone || CASE WHEN coalesce(r.feature_transform, 'none') = 'none' THEN '' "
    "ELSE '+' || r.feature_transform END)"
)

# Ways to group runs on the Compare page: label -> SQL expression giving a text key.
GROUPINGS: dict[str, str] = {
    "backbone": VARIANT_SQL,
    "learning rate": "CAST(r.learning_rate AS VARCHAR)",
    "layer set": LAYER_SET_SQL,
    "image pair": IMAGE_PAIR_SQL,
}

# Gallery sort orders: label -> ORDER BY clause (fixed text, never user input).
SORTS: dict[str, str] = {
    "newest first": "r.id DESC",
    "oldest first": "r.id ASC",
    "final loss, lowest first": "r.total_loss ASC NULLS LAST, r.id DESC",
    "final loss, highest first": "r.total_loss DESC NULLS LAST, r.id DESC",
    "learning rate, lowest first": "r.learning_rate ASC, r.id DESC",
    "learning rate, highest first": "r.learning_rate DESC, r.id DESC",
}

# A run's first logged total loss, for "loss / loss at step 1" normalisation.
_FIRST_LOSS_SQL = (
    "SELECT run_id, arg_min(total_loss, step) AS total0 FROM iterations "
    "WHERE run_id IN (SELECT unnest(?::INTEGER[])) GROUP BY run_id"
)


def _ids(run_ids: list[int] | tuple[int, ...]) -> list[int]:
    return [int(i) for i in dict.fromkeys(run_ids)]


def overview_counts(db: Any) -> pd.DataFrame:
    """Number of runs per (backbone, status)."""
    with connect(db) as con:
        return con.execute(
            "SELECT backbone, status, count(*)::INTEGER AS runs FROM runs GROUP BY ALL ORDER BY ALL"
        ).df()


def latest_outputs(db: Any, limit: int = 12) -> pd.DataFrame:
    """The newest runs that have an output image, with the output's thumbnail bytes."""
    with connect(db) as con:
        df = con.execute(
            "SELECT r.id, r.backbone, r.learning_rate, r.total_loss, r.weights, r.created_at, i.thumb_png AS thumb "
            "FROM runs r JOIN images i ON i.id = r.output_image ORDER BY r.id DESC LIMIT ?",
            [limit],
        ).df()
    df["thumb"] = df["thumb"].map(bytes)
    return df


def live_runs(db: Any, run_ids: list[int] | tuple[int, ...] = (), limit: int = 20) -> pd.DataFrame:
    """Active runs (queued/running) plus the given runs, newest first, with progress:
    seconds elapsed at the last logged step, the last total loss and the id of the
    newest snapshot image."""
    with connect(db) as con:
        return _live_runs(con, run_ids, limit)


def live_view(
    db: Any, run_ids: list[int] | tuple[int, ...] = (), limit: int = 10, max_points: int = 150
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Everything one refresh of the live view needs, in one transaction: `live_runs`
    plus a `snapshot_png` column (bytes or None), and the runs' downsampled `curves`."""
    with connect(db) as con:
        rows = _live_runs(con, run_ids, limit)
        snapshots = _pngs(con, [i for i in rows["snapshot_id"] if isinstance(i, str)])
        curve = _curves(con, rows["id"].tolist(), max_points)
    rows["snapshot_png"] = [snapshots.get(i) if isinstance(i, str) else None for i in rows["snapshot_id"]]
    return rows, curve


def _live_runs(con: duckdb.DuckDBPyConnection, run_ids: list[int] | tuple[int, ...], limit: int) -> pd.DataFrame:
    return con.execute(
        "WITH sel AS (SELECT * FROM runs WHERE list_contains(?, status) "
        "  OR id IN (SELECT unnest(?::INTEGER[])) ORDER BY id DESC LIMIT ?), "
        "it AS (SELECT run_id, max(elapsed_seconds) AS elapsed, arg_max(total_loss, step) AS last_loss "
        "  FROM iterations WHERE run_id IN (SELECT id FROM sel) GROUP BY run_id), "
        "sn AS (SELECT run_id, arg_max(image_id, step) AS snapshot_id, max(step) AS snapshot_step "
        "  FROM snapshots WHERE run_id IN (SELECT id FROM sel) GROUP BY run_id) "
        "SELECT s.id, s.status, s.backbone, s.learning_rate, s.iterations, s.steps_done, s.size, s.weights, "
        "  s.created_at, s.started_at, s.cancel_requested, s.error, s.total_loss, s.output_image, "
        "  it.elapsed, it.last_loss, sn.snapshot_id, sn.snapshot_step "
        "FROM sel s LEFT JOIN it ON it.run_id = s.id LEFT JOIN sn ON sn.run_id = s.id ORDER BY s.id DESC",
        [list(ACTIVE), _ids(run_ids), limit],
    ).df()


@dataclass(frozen=True)
class GalleryFilter:
    """Gallery filters; an empty tuple or None means "any"."""

    backbones: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    learning_rates: tuple[float, ...] = ()
    layer_sets: tuple[str, ...] = ()
    content_image: str | None = None
    style_image: str | None = None
    date_from: date | None = None
    date_to: date | None = None  # inclusive

    def where(self) -> tuple[str, list[Any]]:
        """A WHERE clause over `runs r` and its bound values."""
        clauses, values = ["true"], []
        for items, sql in (
            (self.backbones, "list_contains(?::VARCHAR[], r.backbone)"),
            (self.statuses, "list_contains(?::VARCHAR[], r.status)"),
            (self.learning_rates, "list_contains(?::DOUBLE[], r.learning_rate)"),
            (self.layer_sets, f"list_contains(?::VARCHAR[], {LAYER_SET_SQL})"),
        ):
            if items:
                clauses.append(sql)
                values.append(list(items))
        for value, sql in (
            (self.content_image, "r.content_image = ?"),
            (self.style_image, "r.style_image = ?"),
            (_day_start(self.date_from), "r.created_at >= ?"),
            (_day_start(self.date_to, plus_days=1), "r.created_at < ?"),
        ):
            if value is not None:
                clauses.append(sql)
                values.append(value)
        return " AND ".join(clauses), values


def _day_start(day: date | None, plus_days: int = 0) -> datetime | None:
    if day is None:
        return None
    return datetime(day.year, day.month, day.day) + timedelta(days=plus_days)


def count_runs(db: Any, filters: GalleryFilter) -> int:
    """How many runs match `filters`."""
    where, values = filters.where()
    with connect(db) as con:
        return int(con.execute(f"SELECT count(*) FROM runs r WHERE {where}", values).fetchone()[0])


def gallery_page(
    db: Any, filters: GalleryFilter, sort: str = "newest first", limit: int = 24, offset: int = 0
) -> tuple[pd.DataFrame, int]:
    """One page of runs matching `filters`, with content/style/output thumbnails, and
    the number of matching runs. `sort` is a key of `SORTS`."""
    order = SORTS[sort]  # KeyError for anything that is not one of the fixed orders
    where, values = filters.where()
    with connect(db) as con:
        total = con.execute(f"SELECT count(*) FROM runs r WHERE {where}", values).fetchone()[0]
        df = con.execute(
            f"WITH page AS (SELECT r.*, {LAYER_SET_SQL} AS layer_set FROM runs r WHERE {where} "
            f"  ORDER BY {order} LIMIT ? OFFSET ?) "
            "SELECT r.id, r.created_at, r.status, r.backbone, r.learning_rate, r.iterations, r.steps_done, "
            "  r.size, r.weights, r.total_loss, r.layer_set, r.content_layer, r.style_layers, r.tags, "
            "  r.content_image, r.style_image, r.output_image, ci.name AS content_name, si.name AS style_name, "
            "  ci.thumb_png AS content_thumb, si.thumb_png AS style_thumb, oi.thumb_png AS output_thumb "
            "FROM page r LEFT JOIN images ci ON ci.id = r.content_image "
            "  LEFT JOIN images si ON si.id = r.style_image LEFT JOIN images oi ON oi.id = r.output_image "
            f"ORDER BY {order}",
            [*values, limit, offset],
        ).df()
    for col in ("content_thumb", "style_thumb", "output_thumb"):
        df[col] = df[col].map(lambda b: None if b is None or b is pd.NA else bytes(b))
    return df, int(total)


def filter_options(db: Any) -> dict[str, Any]:
    """Distinct values for the gallery filters: backbones, statuses, learning rates,
    layer sets, content and style images [(id, name)], and the first/last run dates."""
    with connect(db) as con:

        def column(sql: str) -> list[Any]:
            """The first column of a fixed query."""
            return [r[0] for r in con.execute(sql).fetchall()]

        images = {
            role: con.execute(
                f"SELECT i.id, any_value(i.name) FROM runs r JOIN images i ON i.id = r.{role}_image "
                "GROUP BY i.id ORDER BY max(r.id) DESC"
            ).fetchall()
            for role in ("content", "style")  # fixed column names
        }
        first, last = con.execute("SELECT min(created_at), max(created_at) FROM runs").fetchone()
        return {
            "backbones": column("SELECT DISTINCT backbone FROM runs ORDER BY 1"),
            "statuses": column("SELECT DISTINCT status FROM runs ORDER BY 1"),
            "learning_rates": column("SELECT DISTINCT learning_rate FROM runs ORDER BY 1"),
            "layer_sets": column(f"SELECT DISTINCT {LAYER_SET_SQL} FROM runs r ORDER BY 1"),
            "content_images": images["content"],
            "style_images": images["style"],
            "first_date": first.date() if first else None,
            "last_date": last.date() if last else None,
        }


def run_choices(db: Any, limit: int = 500, logged_only: bool = False) -> pd.DataFrame:
    """Recent runs for pickers: id, status, backbone, learning rate, created_at, total loss.
    `logged_only` keeps runs with at least one logged iteration."""
    with connect(db) as con:
        return con.execute(
            "SELECT id, status, backbone, learning_rate, created_at, total_loss FROM runs "
            "WHERE NOT ? OR steps_done > 0 ORDER BY id DESC LIMIT ?",
            [logged_only, limit],
        ).df()


def run_choices_by_id(db: Any, run_ids: list[int] | tuple[int, ...]) -> pd.DataFrame:
    """The `run_choices` columns for the given run ids (those that exist)."""
    with connect(db) as con:
        return con.execute(
            "SELECT id, status, backbone, learning_rate, created_at, total_loss FROM runs "
            "WHERE id IN (SELECT unnest(?::INTEGER[])) ORDER BY id DESC",
            [_ids(run_ids)],
        ).df()


def scale_spans(db: Any, run_id: int) -> pd.DataFrame:
    """The steps a run spent at each image size (one row per scale, coarse first):
    size, first_step, last_step. Rows from before schema v3 have the run's size."""
    with connect(db) as con:
        return con.execute(
            "SELECT size, min(step) AS first_step, max(step) AS last_step FROM iterations "
            "WHERE run_id = ? GROUP BY size ORDER BY first_step",
            [run_id],
        ).df()


def curves(db: Any, run_ids: list[int] | tuple[int, ...], max_points: int = 300) -> pd.DataFrame:
    """Loss and time curves of several runs, at most about `max_points` rows per run.

    Steps are grouped into buckets of `ceil(last_step / max_points)`; each bucket gives
    its last step's losses and cumulative time, and its mean step time. The first step
    is always its own point. `total_norm` is the total loss divided by the run's first
    logged total loss."""
    with connect(db) as con:
        return _curves(con, run_ids, max_points)


def _curves(con: duckdb.DuckDBPyConnection, run_ids: list[int] | tuple[int, ...], max_points: int) -> pd.DataFrame:
    return con.execute(
        "WITH sel AS (SELECT run_id, min(step) AS first_step, "
        "  greatest(1, ceil(max(step) / ?)::INTEGER) AS stride, arg_min(total_loss, step) AS total0 "
        "  FROM iterations WHERE run_id IN (SELECT unnest(?::INTEGER[])) GROUP BY run_id), "
        "b AS (SELECT i.*, s.total0, CASE WHEN i.step = s.first_step THEN -1 ELSE i.step // s.stride END AS bucket "
        "  FROM iterations i JOIN sel s ON s.run_id = i.run_id) "
        "SELECT run_id, max(step) AS step, arg_max(total_loss, step) AS total_loss, "
        "  arg_max(content_loss, step) AS content_loss, arg_max(style_loss, step) AS style_loss, "
        "  arg_max(tv_loss, step) AS tv_loss, avg(step_seconds) AS step_seconds, "
        "  max(elapsed_seconds) AS elapsed_seconds, "
        "  arg_max(total_loss, step) / nullif(any_value(total0), 0) AS total_norm "
        "FROM b GROUP BY run_id, bucket ORDER BY run_id, step",
        [max(1, int(max_points)), _ids(run_ids)],
    ).df()


def pngs(db: Any, image_ids: list[str]) -> dict[str, bytes]:
    """Full-size PNG bytes of several images in one query (id -> bytes)."""
    with connect(db) as con:
        return _pngs(con, image_ids)


def _pngs(con: duckdb.DuckDBPyConnection, image_ids: list[str]) -> dict[str, bytes]:
    ids = [i for i in dict.fromkeys(image_ids) if i]
    if not ids:
        return {}
    rows = con.execute("SELECT id, png FROM images WHERE list_contains(?, id)", [ids]).fetchall()
    return {r[0]: bytes(r[1]) for r in rows}


def run_params(db: Any, run_ids: list[int] | tuple[int, ...]) -> pd.DataFrame:
    """Every config column of the given runs (lists as "a, b" text), with their status,
    losses, images and image names (for labels and "what differs")."""
    with connect(db) as con:
        df = con.execute(
            f"SELECT r.*, {LAYER_SET_SQL} AS layer_set, ci.name AS content_name, si.name AS style_name "
            "FROM runs r LEFT JOIN images ci ON ci.id = r.content_image LEFT JOIN images si ON si.id = r.style_image "
            "WHERE r.id IN (SELECT unnest(?::INTEGER[])) ORDER BY r.id",
            [_ids(run_ids)],
        ).df()
        columns = config_columns(con)
    for c in columns:  # list-valued settings compare and print as text
        if df[c].map(lambda v: isinstance(v, list | tuple | np.ndarray)).any():
            df[c] = df[c].map(lambda v: ", ".join(str(x) for x in v))
    return df


def report_interval(db: Any, run_ids: list[int] | tuple[int, ...]) -> int:
    """The step interval of Tables 3-4 for these runs, as a study report chooses it: every
    100 steps for runs of 1000 or more, a tenth of the longest run otherwise (so a short
    run's table is never empty)."""
    with connect(db) as con:
        longest = con.execute(
            "SELECT coalesce(max(iterations), 0) FROM runs WHERE id IN (SELECT unnest(?::INTEGER[]))", [_ids(run_ids)]
        ).fetchone()[0]
    return report_steps(int(longest))


def compare_tables(db: Any, run_ids: list[int] | tuple[int, ...], every: int = 100) -> dict[str, pd.DataFrame]:
    """The study's tables for the given runs, in long form, in one transaction:

    - "every_n" (Tables 3-4): at every `every`-th step, per backbone, the mean total loss,
      mean loss / loss at step 1, mean cumulative seconds and run count;
    - "lr" (Table 5): per (backbone, learning rate) the mean final total loss, mean final
      loss / loss at step 1, and run count (runs with a final loss);
    - "layers" (Tables 6-7): the same per (backbone, content layer, style layers)."""
    with connect(db) as con:
        return {
            "every_n": _loss_time_table(con, run_ids, every),
            "lr": _lr_table(con, run_ids),
            "layers": _layer_table(con, run_ids),
        }


def _loss_time_table(con: duckdb.DuckDBPyConnection, run_ids: list[int] | tuple[int, ...], every: int) -> pd.DataFrame:
    return con.execute(
        f"WITH first AS ({_FIRST_LOSS_SQL}) "
        f"SELECT i.step AS iteration, {VARIANT_SQL} AS backbone, avg(i.total_loss) AS total_loss, "
        "  avg(i.total_loss / nullif(f.total0, 0)) AS total_norm, avg(i.elapsed_seconds) AS elapsed_seconds, "
        "  count(*)::INTEGER AS runs "
        "FROM iterations i JOIN runs r ON r.id = i.run_id JOIN first f ON f.run_id = i.run_id "
        "WHERE i.step % ? = 0 GROUP BY ALL ORDER BY iteration, backbone",
        [_ids(run_ids), max(1, int(every))],
    ).df()


def _lr_table(con: duckdb.DuckDBPyConnection, run_ids: list[int] | tuple[int, ...]) -> pd.DataFrame:
    return con.execute(
        f"WITH first AS ({_FIRST_LOSS_SQL}) "
        f"SELECT {VARIANT_SQL} AS backbone, r.learning_rate, avg(r.total_loss) AS final_loss, "
        "  avg(r.total_loss / nullif(f.total0, 0)) AS final_norm, count(*)::INTEGER AS runs "
        "FROM runs r LEFT JOIN first f ON f.run_id = r.id "
        "WHERE r.id IN (SELECT unnest(?::INTEGER[])) AND r.total_loss IS NOT NULL "
        "GROUP BY ALL ORDER BY backbone, r.learning_rate",
        [_ids(run_ids), _ids(run_ids)],
    ).df()


def _layer_table(con: duckdb.DuckDBPyConnection, run_ids: list[int] | tuple[int, ...]) -> pd.DataFrame:
    return con.execute(
        f"WITH first AS ({_FIRST_LOSS_SQL}) "
        f"SELECT {VARIANT_SQL} AS backbone, r.content_layer, array_to_string(r.style_layers, ', ') AS style_layers, "
        "  avg(r.total_loss) AS final_loss, avg(r.total_loss / nullif(f.total0, 0)) AS final_norm, "
        "  count(*)::INTEGER AS runs "
        "FROM runs r LEFT JOIN first f ON f.run_id = r.id "
        "WHERE r.id IN (SELECT unnest(?::INTEGER[])) AND r.total_loss IS NOT NULL "
        "GROUP BY ALL ORDER BY backbone, final_loss",
        [_ids(run_ids), _ids(run_ids)],
    ).df()


def group_values(db: Any, by: str) -> pd.DataFrame:
    """Groups of finished runs under grouping `by` (a key of `GROUPINGS`): value, a
    readable label and the number of runs, largest groups first."""
    expr = GROUPINGS[by]
    with connect(db) as con:
        return con.execute(
            f"SELECT {expr} AS value, any_value(r.backbone) AS backbone, "
            "  any_value(coalesce(ci.name, left(r.content_image, 8)) || ' + ' || "
            "  coalesce(si.name, left(r.style_image, 8))) AS pair, count(*)::INTEGER AS runs "
            "FROM runs r LEFT JOIN images ci ON ci.id = r.content_image LEFT JOIN images si ON si.id = r.style_image "
            "WHERE r.status = 'finished' GROUP BY 1 ORDER BY runs DESC, value",
        ).df()


def runs_in_group(db: Any, by: str, value: str, limit: int = 1000) -> list[int]:
    """Ids of the finished runs whose grouping `by` equals `value`, newest first."""
    expr = GROUPINGS[by]
    with connect(db) as con:
        rows = con.execute(
            f"SELECT r.id FROM runs r WHERE r.status = 'finished' AND {expr} = ? ORDER BY r.id DESC LIMIT ?",
            [value, limit],
        ).fetchall()
    return [r[0] for r in rows]


def latest_finished_per_backbone(db: Any) -> list[int]:
    """The newest finished run of each backbone (a sensible default selection)."""
    with connect(db) as con:
        rows = con.execute("SELECT max(id) FROM runs WHERE status = 'finished' GROUP BY backbone ORDER BY 1").fetchall()
    return [r[0] for r in rows]

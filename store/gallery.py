"""Read-only queries of the Gallery and Home pages: filter options, one filtered, sorted
page of runs, run counts and the newest outputs.

Only comparable figures sort runs of different backbones: the normalised loss (output
loss ÷ loss at step 1) and the fair metrics in `run_metrics` (network-free measures and
neutral judges, see `store.metrics.METRICS`). A raw output loss sorts only runs of one
backbone (variant) and one loss convention (`raw_loss_sortable`). Thumbnails are not
joined here: rows carry image ids, and `store.images.get_thumbs` fetches the bytes (the
dashboard caches them by id). Values are always bound with `?`; the only SQL assembled
from pieces comes from the fixed fragments in this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from store.db import connect
from store.metrics import METRICS, NETWORK_FREE, NEUTRAL
from store.queries import LAYER_SET_SQL, VARIANT_SQL

# Weight kinds a filter may name besides exact `weights` values (file paths).
IMAGENET, RANDOM, ANY_FILE = "imagenet", "none", "file"
NOT_IN_STUDY = 0  # the study filter's value for runs that belong to no study

# The output loss ÷ the loss at step 1 (the loss of the starting image): "output ÷ step 1".
FIRST_STEP_JOIN = "LEFT JOIN iterations i1 ON i1.run_id = r.id AND i1.step = 1"
NORM_LOSS_SQL = "(r.total_loss / nullif(i1.total_loss, 0))"
# The sort metric's value of each run (bound metric and judge; no row: NULL).
METRIC_JOIN = "LEFT JOIN run_metrics m ON m.run_id = r.id AND m.metric = ? AND m.judge = ?"

NEWEST, OLDEST = "newest first", "oldest first"
NORMALISED = "output ÷ step 1 (normalised loss), lowest first"
RAW_LOSS = "output loss, lowest first"
RAW_LOSS_DESC = "output loss, highest first"
# Fixed sort orders: key (also its label) -> ORDER BY clause over the page's columns
# (fixed text, never user input).
SORTS: dict[str, str] = {
    NEWEST: "id DESC",
    OLDEST: "id ASC",
    NORMALISED: "norm_loss ASC NULLS LAST, id DESC",
    "learning rate, lowest first": "learning_rate ASC, id DESC",
    "learning rate, highest first": "learning_rate DESC, id DESC",
}
# Raw output losses: only within one backbone and loss convention (`raw_loss_sortable`).
RAW_SORTS: dict[str, str] = {
    RAW_LOSS: "total_loss ASC NULLS LAST, id DESC",
    RAW_LOSS_DESC: "total_loss DESC NULLS LAST, id DESC",
}
# Metrics that may sort runs of different backbones: no network, or a neutral judge.
SORT_METRICS = tuple(m for m, info in METRICS.items() if info.group in (NETWORK_FREE, NEUTRAL))
METRIC_PREFIX = "metric:"


def metric_sort(metric: str, judge: str = "") -> str:
    """The sort key of a fair metric: 'metric:ssim:' or 'metric:neutral_style_distance:vgg19'."""
    return f"{METRIC_PREFIX}{metric}:{judge}"


def parse_metric_sort(sort: str) -> tuple[str, str] | None:
    """(metric, judge) of a metric sort key, None for any other key; KeyError for a
    metric that may not sort runs."""
    if not sort.startswith(METRIC_PREFIX):
        return None
    metric, _, judge = sort.removeprefix(METRIC_PREFIX).partition(":")
    if metric not in SORT_METRICS:
        raise KeyError(sort)
    return metric, judge


@dataclass(frozen=True)
class GalleryFilter:
    """Gallery filters; an empty tuple or None means "any". `weights` holds exact
    `weights` values and/or the kinds IMAGENET, RANDOM, ANY_FILE; `studies` study ids
    (NOT_IN_STUDY: runs of no study); `tags`: runs with any of these tags."""

    backbones: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    learning_rates: tuple[float, ...] = ()
    layer_sets: tuple[str, ...] = ()
    content_image: str | None = None
    style_image: str | None = None
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    weights: tuple[str, ...] = ()
    studies: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    conventions: tuple[str, ...] = ()

    def where(self) -> tuple[str, list[Any]]:
        """A WHERE clause over `runs r` and its bound values."""
        clauses, values = ["true"], []
        for items, sql in (
            (self.backbones, "list_contains(?::VARCHAR[], r.backbone)"),
            (self.statuses, "list_contains(?::VARCHAR[], r.status)"),
            (self.learning_rates, "list_contains(?::DOUBLE[], r.learning_rate)"),
            (self.layer_sets, f"list_contains(?::VARCHAR[], {LAYER_SET_SQL})"),
            (self.tags, "len(list_intersect(coalesce(r.tags, []), ?::VARCHAR[])) > 0"),
            (self.conventions, "list_contains(?::VARCHAR[], r.loss_convention)"),
        ):
            if items:
                clauses.append(sql)
                values.append(list(items))
        if self.weights:
            clauses.append("(list_contains(?::VARCHAR[], r.weights) OR (? AND r.weights NOT IN (?, ?)))")
            values += [list(self.weights), ANY_FILE in self.weights, IMAGENET, RANDOM]
        if self.studies:
            clauses.append("(list_contains(?::INTEGER[], r.study_id) OR (? AND r.study_id IS NULL))")
            values += [[int(s) for s in self.studies], NOT_IN_STUDY in self.studies]
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


@dataclass(frozen=True)
class Summary:
    """What the matching runs are: how many, and how many (backbone variant, loss
    convention) groups they span (raw losses compare only within one)."""

    total: int
    groups: int


def summary(db: Any, filters: GalleryFilter) -> Summary:
    """The number of runs matching `filters` and of the loss scales among them."""
    where, values = filters.where()
    with connect(db) as con:
        total, groups = con.execute(
            f"SELECT count(*), count(DISTINCT ({VARIANT_SQL}, r.loss_convention)) FROM runs r WHERE {where}", values
        ).fetchone()
    return Summary(int(total), int(groups))


def count_runs(db: Any, filters: GalleryFilter) -> int:
    """How many runs match `filters`."""
    return summary(db, filters).total


def raw_loss_sortable(filters: GalleryFilter, found: Summary) -> bool:
    """Raw output losses may sort these runs: the filter keeps one backbone and the
    matching runs share one backbone variant and one loss convention."""
    return len(filters.backbones) == 1 and found.groups <= 1


def sort_keys(filters: GalleryFilter, found: Summary, metrics: list[tuple[str, str]]) -> list[str]:
    """Every sort allowed for these runs, in menu order: the fixed ones, the fair
    metrics present in the store (`metrics`: (metric, judge) pairs), and raw output
    loss only where `raw_loss_sortable`."""
    keys = [*SORTS]
    keys += [metric_sort(m, j) for m, j in metrics if m in SORT_METRICS]
    if raw_loss_sortable(filters, found):
        keys += [*RAW_SORTS]
    return keys


def _order(sort: str) -> str:
    """The ORDER BY clause of a sort key (KeyError for anything else)."""
    parsed = parse_metric_sort(sort)
    if parsed is not None:
        direction = "DESC" if METRICS[parsed[0]].better == "higher" else "ASC"
        return f"sort_value {direction} NULLS LAST, id DESC"
    if sort in SORTS:
        return SORTS[sort]
    return RAW_SORTS[sort]


@dataclass(frozen=True)
class GalleryPage:
    """One page of cards: the rows, how many runs match, and how many of them have no
    value of the sort metric (they come last; 0 unless sorting by a metric)."""

    rows: pd.DataFrame
    total: int
    missing: int


def gallery_page(db: Any, filters: GalleryFilter, sort: str = NEWEST, limit: int = 24, offset: int = 0) -> GalleryPage:
    """One page of runs matching `filters`, sorted by `sort` (a key of `SORTS`, a
    `metric_sort` key, or a key of `RAW_SORTS`, which raises ValueError unless
    `raw_loss_sortable`). Rows carry `norm_loss` (output ÷ step 1), `sort_value` (the
    sort metric's value or NULL), names of images and study, and image ids."""
    order = _order(sort)  # KeyError for anything that is not one of the fixed orders
    metric, judge = parse_metric_sort(sort) or (None, None)
    where, values = filters.where()
    with connect(db) as con:
        total, groups, missing = con.execute(
            f"SELECT count(*), count(DISTINCT ({VARIANT_SQL}, r.loss_convention)), count(*) FILTER (m.value IS NULL) "
            f"FROM runs r {METRIC_JOIN} WHERE {where}",
            [metric, judge, *values],
        ).fetchone()
        if sort in RAW_SORTS and not raw_loss_sortable(filters, Summary(total, groups)):
            raise ValueError("raw output losses sort runs of one backbone and loss convention only")
        rows = _page(con, where, values, order, metric, judge, limit, offset)
    return GalleryPage(rows, int(total), int(missing) if metric else 0)


def _page(
    con: duckdb.DuckDBPyConnection,
    where: str,
    values: list[Any],
    order: str,
    metric: str | None,
    judge: str | None,
    limit: int,
    offset: int,
) -> pd.DataFrame:
    # The step-1 loss of every matching run only when it sorts them; else of the page's rows.
    norm = (FIRST_STEP_JOIN, NORM_LOSS_SQL) if "norm_loss" in order else ("", "NULL")
    return con.execute(
        f"WITH base AS (SELECT r.id, r.learning_rate, r.total_loss, {norm[1]} AS norm_loss, m.value AS sort_value "
        f"  FROM runs r {norm[0]} {METRIC_JOIN} WHERE {where}), "
        f"page AS (SELECT id, sort_value, row_number() OVER (ORDER BY {order}) AS pos FROM base "
        "  QUALIFY pos > ? AND pos <= ?) "
        f"SELECT r.id, r.created_at, r.status, r.backbone, {VARIANT_SQL} AS variant, r.loss_convention, "
        "  r.learning_rate, r.iterations, r.steps_done, r.size, r.weights, r.total_loss, "
        f"  i1.total_loss AS first_loss, {NORM_LOSS_SQL} AS norm_loss, p.sort_value, {LAYER_SET_SQL} AS layer_set, "
        "  r.tags, r.study_id, s.name AS study_name, r.error, r.content_image, r.style_image, r.output_image, "
        "  ci.name AS content_name, si.name AS style_name "
        f"FROM page p JOIN runs r ON r.id = p.id {FIRST_STEP_JOIN} "
        "  LEFT JOIN images ci ON ci.id = r.content_image LEFT JOIN images si ON si.id = r.style_image "
        "  LEFT JOIN studies s ON s.id = r.study_id ORDER BY p.pos",
        [metric, judge, *values, offset, offset + limit],
    ).df()


def filter_options(db: Any) -> dict[str, Any]:
    """Distinct values for the gallery filters: backbones, statuses, learning rates,
    layer sets, content and style images [(id, name)], weights values, studies
    [(id, name)], tags, loss conventions, the fair metrics present [(metric, judge)]
    that may sort runs, and the first/last run dates."""
    with connect(db) as con:

        def column(sql: str, values: list[Any] | None = None) -> list[Any]:
            """The first column of a fixed query."""
            return [r[0] for r in con.execute(sql, values or []).fetchall()]

        images = {
            role: con.execute(
                f"SELECT i.id, any_value(i.name) FROM runs r JOIN images i ON i.id = r.{role}_image "
                "GROUP BY i.id ORDER BY max(r.id) DESC"
            ).fetchall()
            for role in ("content", "style")  # fixed column names
        }
        studies = con.execute(
            "SELECT s.id, s.name FROM studies s WHERE s.id IN (SELECT study_id FROM runs) ORDER BY s.id DESC"
        ).fetchall()
        metrics = con.execute(
            "SELECT DISTINCT metric, judge FROM run_metrics WHERE value IS NOT NULL "
            "AND list_contains(?::VARCHAR[], metric) AND run_id IN (SELECT id FROM runs)",
            [list(SORT_METRICS)],
        ).fetchall()
        first, last = con.execute("SELECT min(created_at), max(created_at) FROM runs").fetchone()
        return {
            "backbones": column("SELECT DISTINCT backbone FROM runs ORDER BY 1"),
            "statuses": column("SELECT DISTINCT status FROM runs ORDER BY 1"),
            "learning_rates": column("SELECT DISTINCT learning_rate FROM runs ORDER BY 1"),
            "layer_sets": column(f"SELECT DISTINCT {LAYER_SET_SQL} FROM runs r ORDER BY 1"),
            "content_images": images["content"],
            "style_images": images["style"],
            "weights": column("SELECT DISTINCT weights FROM runs ORDER BY 1"),
            "studies": [(int(i), n) for i, n in studies],
            "has_one_offs": bool(con.execute("SELECT count(*) FROM runs WHERE study_id IS NULL").fetchone()[0]),
            "tags": column("SELECT DISTINCT t FROM (SELECT unnest(tags) AS t FROM runs) ORDER BY 1"),
            "conventions": column("SELECT DISTINCT loss_convention FROM runs ORDER BY 1"),
            "metrics": sorted(metrics, key=lambda mj: (SORT_METRICS.index(mj[0]), mj[1])),
            "first_date": first.date() if first else None,
            "last_date": last.date() if last else None,
        }


def overview_counts(db: Any) -> pd.DataFrame:
    """Number of runs per (backbone, status)."""
    with connect(db) as con:
        return con.execute(
            "SELECT backbone, status, count(*)::INTEGER AS runs FROM runs GROUP BY ALL ORDER BY ALL"
        ).df()


def latest_outputs(db: Any, limit: int = 12) -> pd.DataFrame:
    """The newest runs that have an output image: id, backbone (variant), loss
    convention, learning rate, output loss, `norm_loss` (output ÷ step 1), `ssim` (a
    fair metric, NULL until computed), created_at and the output's image id."""
    with connect(db) as con:
        return con.execute(
            "WITH latest AS (SELECT * FROM runs WHERE output_image IS NOT NULL ORDER BY id DESC LIMIT ?) "
            f"SELECT r.id, r.backbone, {VARIANT_SQL} AS variant, r.loss_convention, r.learning_rate, r.weights, "
            f"  r.total_loss, {NORM_LOSS_SQL} AS norm_loss, ss.value AS ssim, r.created_at, r.output_image "
            f"FROM latest r {FIRST_STEP_JOIN} "
            "LEFT JOIN run_metrics ss ON ss.run_id = r.id AND ss.metric = 'ssim' AND ss.judge = '' "
            "ORDER BY r.id DESC",
            [limit],
        ).df()


def backbone_summary(db: Any) -> pd.DataFrame:
    """Per backbone variant and loss convention, over finished runs: how many, and the
    median normalised loss (output ÷ step 1) and SSIM to the content (comparable across
    backbones, unlike raw losses)."""
    with connect(db) as con:
        return con.execute(
            f"SELECT {VARIANT_SQL} AS variant, r.loss_convention, count(*)::INTEGER AS finished, "
            f"  median({NORM_LOSS_SQL}) AS norm_loss, median(ss.value) AS ssim "
            f"FROM runs r {FIRST_STEP_JOIN} "
            "LEFT JOIN run_metrics ss ON ss.run_id = r.id AND ss.metric = 'ssim' AND ss.judge = '' "
            "WHERE r.status = 'finished' GROUP BY ALL ORDER BY ALL"
        ).df()

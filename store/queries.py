"""Read-only aggregations for the dashboard's live view, Run detail and Compare: live
runs, downsampled curves, groupings and the study's comparison tables (the Gallery's and
Home's queries are in `store.gallery`).

Everything is aggregated in SQL so a page stays fast with thousands of runs: curves are
downsampled per run by step buckets. Values are always bound with `?`; the only SQL
assembled from pieces comes from the fixed fragments in this module.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
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
# Any config column of `runs` (a `TransferConfig` field) groups runs too (`_grouping_sql`).
GROUPINGS: dict[str, str] = {
    "backbone": VARIANT_SQL,
    "learning rate": "CAST(r.learning_rate AS VARCHAR)",
    "layer set": LAYER_SET_SQL,
    "image pair": IMAGE_PAIR_SQL,
}


def _ids(run_ids: list[int] | tuple[int, ...]) -> list[int]:
    return [int(i) for i in dict.fromkeys(run_ids)]


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


def _group_cte(run_ids: list[int] | tuple[int, ...], groups: Mapping[int, str] | None) -> tuple[str, list[Any]]:
    """A CTE `g(run_id, grp)`: the runs and their group labels ('' without groups), bound."""
    ids = _ids(run_ids)
    labels = [str(groups.get(i, "")) if groups else "" for i in ids]
    return "g AS (SELECT unnest(?::INTEGER[]) AS run_id, unnest(?::VARCHAR[]) AS grp)", [ids, labels]


def compare_tables(
    db: Any, run_ids: list[int] | tuple[int, ...], every: int = 100, groups: Mapping[int, str] | None = None
) -> dict[str, pd.DataFrame]:
    """The study's tables for the given runs, in long form, in one transaction:

    - "every_n" (Tables 3-4): at every `every`-th step, per backbone, the mean total loss,
      mean loss / loss at step 1, mean cumulative seconds and run count;
    - "lr" (Table 5): per (backbone, learning rate) the mean output loss (`runs.total_loss`),
      mean output loss / loss at step 1, and run count (runs with an output loss);
    - "layers" (Tables 6-7): the same per (backbone, content layer, style layers).

    `groups` ({run id: group label}, from `runs_by_group`) adds a `group` column and
    splits every row by it too (Compare's "group by"); without it `group` is ''."""
    with connect(db) as con:
        return {
            "every_n": _loss_time_table(con, run_ids, every, groups),
            "lr": _lr_table(con, run_ids, groups),
            "layers": _layer_table(con, run_ids, groups),
        }


def _first_cte() -> str:
    return (
        "first AS (SELECT run_id, arg_min(total_loss, step) AS total0 FROM iterations "
        "WHERE run_id IN (SELECT run_id FROM g) GROUP BY run_id)"
    )


def _loss_time_table(
    con: duckdb.DuckDBPyConnection, run_ids: list[int] | tuple[int, ...], every: int, groups: Mapping[int, str] | None
) -> pd.DataFrame:
    cte, values = _group_cte(run_ids, groups)
    return con.execute(
        f"WITH {cte}, {_first_cte()} "
        f'SELECT i.step AS iteration, g.grp AS "group", {VARIANT_SQL} AS backbone, avg(i.total_loss) AS total_loss, '
        "  avg(i.total_loss / nullif(f.total0, 0)) AS total_norm, avg(i.elapsed_seconds) AS elapsed_seconds, "
        "  count(*)::INTEGER AS runs "
        "FROM iterations i JOIN g ON g.run_id = i.run_id JOIN runs r ON r.id = i.run_id "
        "  JOIN first f ON f.run_id = i.run_id "
        'WHERE i.step % ? = 0 GROUP BY ALL ORDER BY iteration, "group", backbone',
        [*values, max(1, int(every))],
    ).df()


def _lr_table(
    con: duckdb.DuckDBPyConnection, run_ids: list[int] | tuple[int, ...], groups: Mapping[int, str] | None
) -> pd.DataFrame:
    cte, values = _group_cte(run_ids, groups)
    return con.execute(
        f"WITH {cte}, {_first_cte()} "
        f'SELECT g.grp AS "group", {VARIANT_SQL} AS backbone, r.learning_rate, avg(r.total_loss) AS output_loss, '
        "  avg(r.total_loss / nullif(f.total0, 0)) AS output_norm, count(*)::INTEGER AS runs "
        "FROM runs r JOIN g ON g.run_id = r.id LEFT JOIN first f ON f.run_id = r.id "
        "WHERE r.total_loss IS NOT NULL "
        'GROUP BY ALL ORDER BY "group", backbone, r.learning_rate',
        values,
    ).df()


def _layer_table(
    con: duckdb.DuckDBPyConnection, run_ids: list[int] | tuple[int, ...], groups: Mapping[int, str] | None
) -> pd.DataFrame:
    cte, values = _group_cte(run_ids, groups)
    return con.execute(
        f"WITH {cte}, {_first_cte()} "
        f'SELECT g.grp AS "group", {VARIANT_SQL} AS backbone, r.content_layer, '
        "  array_to_string(r.style_layers, ', ') AS style_layers, "
        "  avg(r.total_loss) AS output_loss, avg(r.total_loss / nullif(f.total0, 0)) AS output_norm, "
        "  count(*)::INTEGER AS runs "
        "FROM runs r JOIN g ON g.run_id = r.id LEFT JOIN first f ON f.run_id = r.id "
        "WHERE r.total_loss IS NOT NULL "
        'GROUP BY ALL ORDER BY "group", backbone, output_loss',
        values,
    ).df()


def _column_types(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {
        name: kind
        for name, kind in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'runs'"
        ).fetchall()
    }


def _grouping_sql(con: duckdb.DuckDBPyConnection, by: str) -> str:
    """The SQL text key of grouping `by`: a key of `GROUPINGS`, or the name of a config
    column of `runs` (checked against the table: never user text in SQL); lists as
    "a, b". KeyError for anything else."""
    if by in GROUPINGS:
        return GROUPINGS[by]
    if by not in config_columns(con):
        raise KeyError(by)
    column = f'r."{by}"'  # a real column name, checked above
    if _column_types(con).get(by, "").endswith("[]"):
        return f"coalesce(array_to_string({column}, ', '), '')"
    return f"coalesce(CAST({column} AS VARCHAR), '')"


def _where_groups(con: duckdb.DuckDBPyConnection, where: Mapping[str, Sequence[str]] | None) -> tuple[str, list]:
    """`AND ...` clauses keeping runs whose grouping values are among the allowed ones
    ({grouping: [values]}; an empty list allows any)."""
    clauses, values = [], []
    for by, allowed in (where or {}).items():
        if allowed:
            clauses.append(f" AND list_contains(?::VARCHAR[], {_grouping_sql(con, by)})")
            values.append([str(v) for v in allowed])
    return "".join(clauses), values


def grouping_options(db: Any, candidates: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
    """For every grouping in `candidates` (keys of `GROUPINGS` or config columns), the
    distinct values among finished runs with their run counts, largest first, in one
    transaction (for Compare's group-by and filter pickers)."""
    out: dict[str, list[tuple[str, int]]] = {}
    with connect(db) as con:
        for by in candidates:
            expr = _grouping_sql(con, by)
            rows = con.execute(
                f"SELECT {expr} AS value, count(*)::INTEGER AS runs FROM runs r WHERE r.status = 'finished' "
                "GROUP BY 1 ORDER BY runs DESC, value"
            ).fetchall()
            out[by] = [(str(v), int(n)) for v, n in rows]
    return out


def group_values(db: Any, by: str, where: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Groups of finished runs under grouping `by` (a key of `GROUPINGS` or a config
    column): value, a readable label and the number of runs, largest groups first.
    `where` ({grouping: [values]}) keeps only runs with those values."""
    with connect(db) as con:
        expr = _grouping_sql(con, by)
        clauses, values = _where_groups(con, where)
        return con.execute(
            f"SELECT {expr} AS value, any_value(r.backbone) AS backbone, "
            "  any_value(coalesce(ci.name, left(r.content_image, 8)) || ' + ' || "
            "  coalesce(si.name, left(r.style_image, 8))) AS pair, count(*)::INTEGER AS runs "
            "FROM runs r LEFT JOIN images ci ON ci.id = r.content_image LEFT JOIN images si ON si.id = r.style_image "
            f"WHERE r.status = 'finished'{clauses} GROUP BY 1 ORDER BY runs DESC, value",
            values,
        ).df()


def runs_by_group(
    db: Any,
    by: str,
    groups: Sequence[str] | None = None,
    where: Mapping[str, Sequence[str]] | None = None,
    limit: int = 2000,
) -> pd.DataFrame:
    """The finished runs to compare across the groups of `by`: id and `group` (the
    run's value of `by` as text), newest first, at most `limit`; `groups` keeps only
    those groups (None: all), `where` ({grouping: [values]}) filters by other settings."""
    with connect(db) as con:
        expr = _grouping_sql(con, by)
        clauses, values = _where_groups(con, where)
        if groups is not None:
            clauses += f" AND list_contains(?::VARCHAR[], {expr})"
            values.append([str(g) for g in groups])
        return con.execute(
            f"SELECT r.id, {expr} AS \"group\" FROM runs r WHERE r.status = 'finished'{clauses} "
            "ORDER BY r.id DESC LIMIT ?",
            [*values, int(limit)],
        ).df()


def runs_in_group(db: Any, by: str, value: str, limit: int = 1000) -> list[int]:
    """Ids of the finished runs whose grouping `by` equals `value`, newest first."""
    return [int(i) for i in runs_by_group(db, by, [value], limit=limit)["id"]]


def group_curves(db: Any, groups: Mapping[int, str], max_points: int = 200) -> pd.DataFrame:
    """Group-level curves: for every group of runs ({run id: group label}) and step
    bucket (one stride for all runs, about `max_points` buckets; the first step its own),
    the mean, sample std and count of the runs' total loss, total loss ÷ loss at step 1
    and cumulative seconds (each run's last step in the bucket). Columns: group, step,
    elapsed_seconds (mean), and <value>_mean/_std/_n for total_loss, total_norm,
    elapsed_seconds."""
    cte, values = _group_cte(list(groups), groups)
    stats = ", ".join(
        f"avg({v}) AS {v}_mean, stddev_samp({v}) AS {v}_std, count({v})::INTEGER AS {v}_n"
        for v in ("total_loss", "total_norm", "elapsed_seconds")
    )
    with connect(db) as con:
        return con.execute(
            f"WITH {cte}, "
            "sel AS (SELECT run_id, min(step) AS first_step, arg_min(total_loss, step) AS total0 FROM iterations "
            "  WHERE run_id IN (SELECT run_id FROM g) GROUP BY run_id), "
            "st AS (SELECT greatest(1, ceil(coalesce(max(step), 1) / ?)::INTEGER) AS stride FROM iterations "
            "  WHERE run_id IN (SELECT run_id FROM g)), "
            "b AS (SELECT i.run_id, CASE WHEN i.step = s.first_step THEN -1 ELSE i.step // st.stride END AS bucket, "
            "  max(i.step) AS step, arg_max(i.total_loss, i.step) AS total_loss, "
            "  arg_max(i.total_loss, i.step) / nullif(any_value(s.total0), 0) AS total_norm, "
            "  max(i.elapsed_seconds) AS elapsed_seconds "
            "  FROM iterations i JOIN sel s ON s.run_id = i.run_id CROSS JOIN st GROUP BY i.run_id, bucket) "
            f'SELECT g.grp AS "group", max(b.step) AS step, avg(b.elapsed_seconds) AS elapsed_seconds, {stats} '
            'FROM b JOIN g ON g.run_id = b.run_id GROUP BY g.grp, b.bucket ORDER BY "group", step',
            [*values, max(1, int(max_points))],
        ).df()


def latest_finished_per_backbone(db: Any) -> list[int]:
    """The newest finished run of each backbone (a sensible default selection)."""
    with connect(db) as con:
        rows = con.execute("SELECT max(id) FROM runs WHERE status = 'finished' GROUP BY backbone ORDER BY 1").fetchall()
    return [r[0] for r in rows]

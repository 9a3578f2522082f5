"""Studies in the store: the `studies` table, queueing a study's cells resumably, progress,
and the study's tables rebuilt from its runs.

A study's runs carry `study_id`, `study_cell` (the cell's identity: a hash of its resolved
config and image ids) and `study_variant` (the label of its column/row in the tables).
When a cell has several runs (failed, then re-queued), its latest finished one counts.
All aggregation is SQL; pandas only pivots the small aggregated result into the study's
shape. Values are bound with `?`; the only SQL built from pieces uses fixed names here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from store.db import connect, fetch_row
from store.images import ImageBlob, insert_blobs
from store.runs import insert_run, utcnow

# The latest finished run of every cell of study ? (one row per cell).
CELL_RUNS_SQL = (
    "SELECT * FROM runs WHERE study_id = ? AND status = 'finished' "
    "QUALIFY row_number() OVER (PARTITION BY study_cell ORDER BY id DESC) = 1"
)
# The latest run of every cell, whatever its status: a study's progress.
LATEST_SQL = (
    "SELECT * FROM runs WHERE study_id IS NOT NULL "
    "QUALIFY row_number() OVER (PARTITION BY study_id, study_cell ORDER BY id DESC) = 1"
)
# Cells whose latest run is one of these are left alone on re-launch; others are re-queued.
KEEP_STATUSES = ("finished", "queued", "running")
ITERATION_MEASURES = ("total_loss", "content_loss", "style_loss", "elapsed_seconds")


@dataclass(frozen=True)
class StudyTable:
    """One table of a study's report, already in the study's shape."""

    id: str
    title: str
    frame: pd.DataFrame
    note: str = ""


@dataclass(frozen=True)
class StudyRows:
    """What a study launch writes: its identity and the cells it may queue. Each cell is
    a dict with `config` (resolved config dict), `content_image`, `style_image`, `cell`
    (its identity), `variant` and `gram_convention` (its loss formulas: cells of one
    study may differ in convention), and optionally `styles` (its `run_styles` rows,
    `store.runs.StyleRow`s; absent: its style image with weight 1)."""

    name: str
    preset: str
    spec: dict[str, Any]
    key: str
    cells: list[dict[str, Any]]


def launch(db: Any, rows: StudyRows, images: Sequence[tuple[ImageBlob, str | None]]) -> tuple[int, bool, dict]:
    """Create the study (or find it by its key: a re-launch), store its input images and
    queue its cells that have no finished, queued or running run yet, in ONE transaction:
    a launch that fails leaves neither a study row nor an orphan image. Returns
    (study id, resumed, counts); counts: `queued` (new), `requeued` (latest run failed,
    cancelled or interrupted), `finished` and `active` (left alone)."""
    with connect(db) as con:
        for blob, name in images:
            insert_blobs(con, [blob], name)
        study_id, resumed = _create_or_resume(con, rows)
        return study_id, resumed, _queue_cells(con, study_id, rows.cells)


def _create_or_resume(con: duckdb.DuckDBPyConnection, rows: StudyRows) -> tuple[int, bool]:
    now = utcnow()
    row = con.execute("SELECT id FROM studies WHERE spec_key = ?", [rows.key]).fetchone()
    if row is not None:
        con.execute("UPDATE studies SET launched_at = ? WHERE id = ?", [now, row[0]])
        return row[0], True
    new = con.execute(
        "INSERT INTO studies (name, preset, spec, spec_key, cells, created_at, launched_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [rows.name, rows.preset, json.dumps(rows.spec, sort_keys=True), rows.key, len(rows.cells), now, now],
    ).fetchone()
    return new[0], False


def _queue_cells(con: duckdb.DuckDBPyConnection, study_id: int, cells: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"queued": 0, "requeued": 0, "finished": 0, "active": 0}
    latest = dict(
        con.execute(
            "SELECT study_cell, status FROM runs WHERE study_id = ? "
            "QUALIFY row_number() OVER (PARTITION BY study_cell ORDER BY id DESC) = 1",
            [study_id],
        ).fetchall()
    )
    for cell in cells:
        status = latest.get(cell["cell"])
        if status in KEEP_STATUSES:
            counts["finished" if status == "finished" else "active"] += 1
            continue
        study = {"study_id": study_id, "study_cell": cell["cell"], "study_variant": cell["variant"]}
        formulas = cell["gram_convention"]
        images = (cell["content_image"], cell["style_image"])
        insert_run(con, cell["config"], *images, formulas, study=study, styles=cell.get("styles"))
        counts["requeued" if status else "queued"] += 1
    return counts


def cancel_study(db: Any, study_id: int) -> dict[str, int]:
    """Cancel every active run of a study in one transaction: queued ones at once, running
    ones at their next flush (their worker, local or a Ray driver, stops them). Returns
    {"cancelled": queued runs cancelled, "stopping": running runs asked to stop}; a
    relaunch of the study queues its unfinished cells again."""
    with connect(db) as con:
        cancelled = con.execute(
            "UPDATE runs SET status = 'cancelled', finished_at = ? WHERE study_id = ? AND status = 'queued' "
            "RETURNING id",
            [utcnow(), study_id],
        ).fetchall()
        stopping = con.execute(
            "UPDATE runs SET cancel_requested = true WHERE study_id = ? AND status = 'running' RETURNING id",
            [study_id],
        ).fetchall()
    return {"cancelled": len(cancelled), "stopping": len(stopping)}


def get_study(db: Any, study_id: int) -> dict[str, Any] | None:
    """One study row as a dict (spec parsed), or None."""
    row = fetch_row(db, "SELECT * FROM studies WHERE id = ?", [study_id])
    if row is None:
        return None
    row["spec"] = json.loads(row["spec"])
    return row


def list_studies(db: Any) -> pd.DataFrame:
    """Every study with its progress (latest run per cell): cells, finished, failed,
    stopped (cancelled/interrupted), queued, running, and an ETA from the mean time its
    finished cells took from claim to finish (model loading and compilation included)."""
    with connect(db) as con:
        return con.execute(
            f"""WITH latest AS ({LATEST_SQL})
            SELECT s.id, s.name, s.preset, s.cells,
                count(*) FILTER (l.status = 'finished') AS finished,
                count(*) FILTER (l.status = 'failed') AS failed,
                count(*) FILTER (l.status IN ('cancelled', 'interrupted')) AS stopped,
                count(*) FILTER (l.status = 'queued') AS queued,
                count(*) FILTER (l.status = 'running') AS running,
                avg(epoch(l.finished_at) - epoch(l.started_at)) FILTER (l.status = 'finished') AS mean_cell_seconds,
                mean_cell_seconds * (count(*) FILTER (l.status IN ('queued', 'running'))) AS eta_seconds,
                s.created_at, s.launched_at
            FROM studies s LEFT JOIN latest l ON l.study_id = s.id
            GROUP BY ALL ORDER BY s.id DESC"""
        ).df()


def study_progress(db: Any, study_id: int) -> dict[str, Any]:
    """One study's row of `list_studies` as a dict (empty dict if there is no such study)."""
    df = list_studies(db)
    df = df[df["id"] == study_id]
    return {} if df.empty else df.iloc[0].to_dict()


def study_runs(db: Any, study_id: int) -> pd.DataFrame:
    """The latest run of every cell of a study, in queue order."""
    with connect(db) as con:
        return con.execute(
            f"SELECT id, study_variant AS variant, status, backbone, learning_rate, feature_transform, seed, "
            f"content_image, style_image, steps_done, iterations, total_loss, wall_seconds, error "
            f"FROM ({LATEST_SQL}) WHERE study_id = ? ORDER BY id",
            [study_id],
        ).df()


def report_steps(iterations: int) -> int:
    """Row spacing of the by-iteration tables: every 100 steps as in the study, or every
    tenth of the run when it is shorter than 1000 iterations."""
    return 100 if iterations >= 1000 else max(1, iterations // 10)


def _pivot(long: pd.DataFrame, row_name: str, keys: list, headers: list[str]) -> pd.DataFrame:
    """long (key, row, mean, std, n) -> one row per `row`, a column per key (in order),
    plus "<header> std" columns when any value averages more than one run."""
    out = pd.DataFrame({row_name: sorted(long["row"].unique())}) if not long.empty else pd.DataFrame({row_name: []})
    with_std = bool(not long.empty and long["n"].max() > 1)
    for key, header in zip(keys, headers, strict=True):
        part = long[long["key"] == key].set_index("row")
        out[header] = out[row_name].map(part["mean"]).astype(float)
        if with_std:
            out[f"{header} std"] = out[row_name].map(part["std"]).astype(float)
    return out


def _runs_note(long: pd.DataFrame) -> str:
    if long.empty:
        return "no finished runs yet"
    lo, hi = int(long["n"].min()), int(long["n"].max())
    count = f"{lo}" if lo == hi else f"{lo}-{hi}"
    spread = "; std is the sample standard deviation" if hi > 1 else ""
    return f"mean over {count} run(s) per value (image pairs x seeds){spread}"


def by_iteration(
    con: duckdb.DuckDBPyConnection, study_id: int, table: dict[str, Any], spec: dict[str, Any]
) -> StudyTable:
    """Tables 3/4: a row per reported iteration, a column per variant (`spec` unused:
    the table names its variants)."""
    measure = table.get("measure", "total_loss")
    if measure not in ITERATION_MEASURES:
        raise ValueError(f"unknown measure {measure!r}")
    n_iter = con.execute(f"SELECT coalesce(max(iterations), 0) FROM ({CELL_RUNS_SQL})", [study_id]).fetchone()[0]
    every = report_steps(n_iter)
    long = con.execute(
        f"""SELECT r.study_variant AS key, i.step AS row, avg(i.{measure}) AS mean,
                stddev_samp(i.{measure}) AS std, count(*) AS n
            FROM ({CELL_RUNS_SQL}) r JOIN iterations i ON i.run_id = r.id
            WHERE i.step % ? = 0 GROUP BY ALL""",
        [study_id, every],
    ).df()
    frame = _pivot(long, "iteration", table["variants"], table["headers"])
    return StudyTable(table["id"], table["title"], frame, _runs_note(long))


def by_learning_rate(
    con: duckdb.DuckDBPyConnection, study_id: int, table: dict[str, Any], spec: dict[str, Any]
) -> StudyTable:
    """Table 5: a row per learning rate, a column per backbone, final total loss (`spec`
    unused: the table names its backbones)."""
    long = con.execute(
        f"""SELECT backbone AS key, learning_rate AS row, avg(total_loss) AS mean,
                stddev_samp(total_loss) AS std, count(*) AS n
            FROM ({CELL_RUNS_SQL}) GROUP BY ALL""",
        [study_id],
    ).df()
    names, headers = zip(*table["backbones"], strict=True)  # [[backbone, header], ...] in column order
    frame = _pivot(long, "learning rate", list(names), list(headers))
    return StudyTable(table["id"], table["title"], frame, _runs_note(long))


def _final_losses(con: duckdb.DuckDBPyConnection, study_id: int, variants: list[str]) -> pd.DataFrame:
    return con.execute(
        f"""SELECT study_variant AS variant, avg(total_loss) AS total, stddev_samp(total_loss) AS total_std,
                avg(content_loss) AS content, avg(style_loss) AS style, avg(wall_seconds) AS seconds,
                avg(best_loss) AS best, count(*) AS n
            FROM ({CELL_RUNS_SQL}) WHERE list_contains(?, study_variant) GROUP BY ALL""",
        [study_id, variants],
    ).df()


def layer_sets(
    con: duckdb.DuckDBPyConnection, study_id: int, table: dict[str, Any], spec: dict[str, Any]
) -> StudyTable:
    """Tables 6/7: a column per layer set; rows content layer, style layers, total loss.
    Layer names come from the study's spec, so the shape is right before any run ends."""
    settings = {v["label"]: v["settings"] for v in spec["variants"]}
    finals = _final_losses(con, study_id, table["variants"]).set_index("variant")
    depth = max(len(settings[v]["style_layers"]) for v in table["variants"])
    rows = ["Content Layer", *(f"Style Layer {i}" for i in range(1, depth + 1)), "Total Loss"]
    with_std = bool(not finals.empty and finals["n"].max() > 1)
    rows += ["Total Loss std"] if with_std else []
    frame = pd.DataFrame({"Layer Type": rows})
    for label, header in zip(table["variants"], table["headers"], strict=True):
        style = list(settings[label]["style_layers"]) + [""] * (depth - len(settings[label]["style_layers"]))
        total = finals["total"].get(label, float("nan"))
        spread = [finals["total_std"].get(label, float("nan"))] if with_std else []
        frame[header] = [settings[label]["content_layer"], *style, total, *spread]
    note = _runs_note(finals.rename(columns={"total": "mean"})) if not finals.empty else "no finished runs yet"
    return StudyTable(table["id"], table["title"], frame, note)


def final_table(
    con: duckdb.DuckDBPyConnection, study_id: int, table: dict[str, Any], spec: dict[str, Any]
) -> StudyTable:
    """A row per variant: mean final total, content and style loss and optimisation seconds."""
    variants = [v["label"] for v in spec["variants"]]
    finals = _final_losses(con, study_id, variants).set_index("variant").reindex(variants)
    frame = pd.DataFrame(
        {
            "variant": variants,
            "total loss": finals["total"].to_numpy(float),
            "content loss": finals["content"].to_numpy(float),
            "style loss": finals["style"].to_numpy(float),
            "best total loss": finals["best"].to_numpy(float),
            "seconds": finals["seconds"].to_numpy(float),
            "runs": finals["n"].fillna(0).to_numpy(int),
        }
    )
    if frame["runs"].max() > 1:
        frame.insert(2, "total loss std", finals["total_std"].to_numpy(float))
    note = (
        "mean over the runs of each variant; losses are those of the output image (the last, or the best with "
        "keep_best), the best total is the lowest loss of any image of the run's last scale (NULL before schema v4)"
    )
    return StudyTable(table["id"], table["title"], frame, note)


# A builder makes one table of a study from its runs: (connection, study id, the table's
# entry in the spec, the whole spec) -> the table in the study's shape.
TableBuilder = Callable[[duckdb.DuckDBPyConnection, int, dict[str, Any], dict[str, Any]], StudyTable]
# One builder per table kind (the spec's `kind`); a new kind is one entry here (and one
# view in `dashboard.studies.TABLE_VIEWS`, one rule in `workbench.report.RAW_LOSS_KINDS`).
TABLE_BUILDERS: dict[str, TableBuilder] = {
    "by_iteration": by_iteration,
    "by_learning_rate": by_learning_rate,
    "layer_sets": layer_sets,
    "final": final_table,
}


def table_builder(kind: str) -> TableBuilder:
    """The builder of a table kind; a ValueError naming the known kinds otherwise."""
    try:
        return TABLE_BUILDERS[kind]
    except KeyError:
        raise ValueError(f"unknown table kind {kind!r}; known kinds: {', '.join(TABLE_BUILDERS)}") from None


def study_tables(db: Any, study_id: int) -> list[StudyTable]:
    """The study's tables (its preset's, in order), rebuilt from the store."""
    study = get_study(db, study_id)
    if study is None:
        raise KeyError(f"no study {study_id}")
    spec = study["spec"]
    # Every kind is checked before any SQL runs: a bad spec fails whole, not half-built.
    builders = [table_builder(table["kind"]) for table in spec["tables"]]
    with connect(db) as con:
        return [build(con, study_id, table, spec) for build, table in zip(builders, spec["tables"], strict=True)]

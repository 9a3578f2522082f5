"""Compare sections: run selection (by hand or by grouping), overlaid curves, the
study's tables (3-4: loss and cumulative seconds every N iterations per backbone;
5: final loss per learning rate; 6-7: final loss per layer set), the fair metrics
(a row per run, the producer x judge cross-evaluation and the verdicts), and
side-by-side outputs labelled with the parameters that differ. Every table has a CSV
download.

Widget keys: `compare_mode`, `compare_runs`, `compare_group_by`, `compare_group_value`,
`compare_color`, `compare_log`, `compare_every`, `compare_judged`, downloads
`compare_dl_<table>` (`compare_dl_fair`, `compare_dl_cross_eval`, `compare_dl_verdicts`
for the fair metrics).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, fair
from dashboard.common import run_label
from dashboard.text import md_escape
from engine.config import compared_fields
from store import metrics as store_metrics
from store import queries
from workbench import verdicts as wording

log = logging.getLogger(__name__)

MAX_CURVE_RUNS = 40  # more lines than this make an unreadable chart
MAX_OUTPUTS = 8
MODES = ("by hand", "by grouping")
COLOR_BY = ("run", "backbone", "loss_convention", "learning_rate", "layer_set", "optimizer", "scales")
# What "differs" between runs: every config field Compare is told to show
# (`TransferConfig` metadata), then the input images' names.
DIFF_COLUMNS = (*compared_fields(), "content_name", "style_name")
SCALES_NOTE = (
    "Raw losses of different backbones or loss conventions live on different scales (their feature maps "
    "and Gram matrices differ by orders of magnitude, and each convention normalises differently), so compare "
    "raw values only within one backbone and one convention; judge outputs by the fair metrics below. "
    "The normalised loss (total loss ÷ total loss at step 1) puts every run on the same scale: it starts "
    "at 1 and shows how far each run brought its own loss down."
)


def _by_hand(db: Any, choices: pd.DataFrame) -> list[int]:
    labels = {int(r["id"]): run_label(r) for _, r in choices.iterrows()}
    if "compare_runs" not in st.session_state:
        st.session_state["compare_runs"] = [i for i in queries.latest_finished_per_backbone(db) if i in labels]
    st.session_state["compare_runs"] = [i for i in st.session_state["compare_runs"] if i in labels]
    return st.multiselect("Runs", list(labels), format_func=labels.get, key="compare_runs")


def _by_grouping(db: Any) -> list[int]:
    left, right = st.columns(2)
    by = left.selectbox("Group by", list(queries.GROUPINGS), key="compare_group_by")
    groups = queries.group_values(db, by)
    if groups.empty:
        right.caption("No finished runs to group.")
        return []
    names = {v: (p if by == "image pair" else v) for v, p in zip(groups["value"], groups["pair"], strict=True)}
    sizes = dict(zip(groups["value"], groups["runs"], strict=True))
    value = right.selectbox(
        "Group", list(names), format_func=lambda v: f"{names[v]} ({sizes[v]} runs)", key="compare_group_value"
    )
    return queries.runs_in_group(db, by, value)


def select_runs(db: Any) -> list[int] | None:
    """Pick runs by hand or by grouping; returns their ids (None: no run has logged
    any iteration yet, so there is nothing to compare)."""
    choices = queries.run_choices(db, limit=1000, logged_only=True)
    if choices.empty:
        return None
    mode = st.radio("Pick runs", MODES, key="compare_mode", horizontal=True)
    return _by_hand(db, choices) if mode == MODES[0] else _by_grouping(db)


def download(table: pd.DataFrame, name: str, label: str) -> None:
    """A CSV download button for `table` (key `compare_dl_<name>`)."""
    st.download_button(
        f"Download {label} (CSV)",
        data=table.to_csv(),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"compare_dl_{name}",
        on_click="ignore",
    )


def _number_columns(table: pd.DataFrame, fmt: str) -> dict[str, Any]:
    return {str(c): st.column_config.NumberColumn(str(c), format=fmt) for c in table.columns}


def show_table(table: pd.DataFrame, name: str, label: str, fmt: str = "%.4g") -> None:
    """A table with number formats and its CSV download."""
    st.dataframe(table, key=f"compare_table_{name}", column_config=_number_columns(table, fmt))
    download(table, name, label)


def curves_section(db: Any, params: pd.DataFrame) -> None:
    """Overlaid raw and normalised loss curves, and cumulative time per backbone."""
    st.subheader("Loss and time against iteration")
    st.info(SCALES_NOTE, icon="📏")
    ids = params["id"].tolist()[-MAX_CURVE_RUNS:]
    if len(params) > MAX_CURVE_RUNS:
        st.caption(f"Curves show the newest {MAX_CURVE_RUNS} of the {len(params)} selected runs; tables use all.")
    curve = queries.curves(db, ids, max_points=200)
    if curve.empty:
        st.caption("The selected runs have no logged iterations.")
        return
    label = params.assign(run=[run_label(r) for _, r in params.iterrows()])
    curve = curve.merge(label[["id", "run", *COLOR_BY[1:]]], left_on="run_id", right_on="id")
    left, middle, right = st.columns(3)
    color = left.selectbox("Colour by", COLOR_BY, key="compare_color")
    x = middle.radio(
        "Against",
        tuple(charts.X_AXES),
        format_func=charts.X_AXES.get,
        key="compare_x",
        horizontal=True,
        help="Wall time compares optimisers and speed options fairly: their steps need not cost the same.",
    )
    log_scale = right.toggle("Log scale", value=True, key="compare_log")
    raw_col, norm_col = st.columns(2)
    with raw_col:
        st.caption("Raw total loss")
        raw = charts.overlay_chart(curve, "total_loss", "total loss", color, log_scale, x=x)
        st.altair_chart(raw, key="compare_raw")
    with norm_col:
        st.caption("Normalised: total loss ÷ total loss at step 1")
        norm = charts.overlay_chart(curve, "total_norm", "loss / loss at step 1", color, log_scale, x=x)
        st.altair_chart(norm, key="compare_norm")
    st.caption("Cumulative elapsed seconds (cf. the study's Figure 20)")
    time_chart = charts.overlay_chart(curve, "elapsed_seconds", "elapsed seconds", "backbone")
    st.altair_chart(time_chart, key="compare_time")


def tables_section(db: Any, ids: list[int]) -> None:
    """The study's tables (fetched in one transaction), each with its CSV download."""
    st.subheader("Every N iterations (Tables 3-4)")
    # The study's 100 for 1000-step runs, a tenth of shorter ones: never an empty table.
    default = queries.report_interval(db, ids)
    every = int(st.number_input("Every N iterations", min_value=1, value=default, step=10, key="compare_every"))
    tables = queries.compare_tables(db, ids, every=every)
    every_n_tables(tables["every_n"], every)
    lr_tables(tables["lr"])
    layer_tables(tables["layers"])


def every_n_tables(long: pd.DataFrame, every: int) -> None:
    """Tables 3-4: loss and cumulative seconds every N iterations; rows = iteration,
    columns = backbone (means over the selected runs of each backbone)."""
    if long.empty:
        st.caption(f"No selected run logged a step that is a multiple of {every}; lower N.")
        return
    for value, name, label in (
        ("total_loss", "loss_every_n", "Table 3: total loss (raw)"),
        ("total_norm", "loss_norm_every_n", "Table 3: total loss ÷ loss at step 1"),
        ("elapsed_seconds", "time_every_n", "Table 4: cumulative elapsed seconds"),
    ):
        st.markdown(f"**{label}**")
        table = long.pivot(index="iteration", columns="backbone", values=value)
        table.columns.name = None
        show_table(table, name, label.split(":")[0].lower(), "%.2f" if value == "elapsed_seconds" else "%.4g")


def lr_tables(long: pd.DataFrame) -> None:
    """Table 5: final total loss per learning rate; rows = learning rate, columns = backbone."""
    st.subheader("Final loss against learning rate (Table 5)")
    if long.empty:
        st.caption("None of the selected runs has a final loss yet.")
        return
    for value, name, label in (
        ("final_loss", "lr_final_loss", "final total loss (raw)"),
        ("final_norm", "lr_final_norm", "final total loss ÷ loss at step 1"),
    ):
        st.markdown(f"**Table 5: {label}**")
        table = long.pivot(index="learning_rate", columns="backbone", values=value)
        table.columns.name = None
        show_table(table, name, f"table 5 ({label})")
    st.altair_chart(charts.lr_chart(long, "final_norm", "final loss / loss at step 1"), key="compare_lr_chart")


def layer_tables(long: pd.DataFrame) -> None:
    """Tables 6-7: final total loss per (content layer, style layers) set, per backbone."""
    st.subheader("Layer sets (Tables 6-7)")
    if long.empty:
        st.caption("None of the selected runs has a final loss yet.")
        return
    for backbone, part in long.groupby("backbone", sort=True):
        st.markdown(f"**{backbone}**: final total loss per layer set")
        table = part.drop(columns="backbone").reset_index(drop=True)
        st.dataframe(
            table,
            key=f"compare_table_layers_{backbone}",
            column_config={
                "final_loss": st.column_config.NumberColumn("final loss", format="%.4g"),
                "final_norm": st.column_config.NumberColumn("final ÷ step 1", format="%.4g"),
            },
            hide_index=True,
        )
        download(table, f"layers_{backbone}", f"{backbone} layer sets")


FAIR_PARAMS = ("id", "backbone", "feature_transform", "learning_rate", "seed", "weights")


def fair_runs_table(db: Any, params: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """(a row per selected run with its fair metrics, ids of runs that have none)."""
    wide = store_metrics.metrics_wide(db, params["id"].tolist())
    table = params[list(FAIR_PARAMS)].merge(wide, left_on="id", right_on="run_id", how="left")
    order = {name: i for i, name in enumerate(store_metrics.METRICS)}
    metric_cols = sorted(
        (c for c in table.columns if c not in (*FAIR_PARAMS, "run_id")),
        key=lambda c: (order.get(c.partition(" [")[0], len(order)), c),
    )
    table = table[[*FAIR_PARAMS, *metric_cols]]
    has = table[metric_cols].notna().any(axis=1) if metric_cols else pd.Series(False, index=table.index)
    return table[has].reset_index(drop=True), table.loc[~has, "id"].astype(int).tolist()


def fair_section(db: Any, params: pd.DataFrame) -> None:
    """Backbone-independent metrics of the selected runs, the producer x judge view, the
    verdicts for the selection and what each metric means."""
    st.subheader("Fair metrics")
    st.caption(
        "Measures that do not depend on which backbone produced the image, so VGG16 and ResNet50 runs "
        "can be compared (unlike their raw losses)."
    )
    table, missing = fair_runs_table(db, params)
    if missing:
        runs = ", ".join(f"#{i}" for i in missing)
        st.info(f"No fair metrics for run{'s' if len(missing) > 1 else ''} {runs}. {fair.HINT}", icon="📐")
    if table.empty:
        return
    config = {"id": st.column_config.NumberColumn("run", format="%d"), **fair.column_config(table)}
    config["learning_rate"] = st.column_config.NumberColumn("learning rate", format="%g")
    st.dataframe(table, key="compare_table_fair", hide_index=True, column_config=config)
    fair.download(table, "fair_metrics", "fair metrics", "compare_dl_fair")
    ids = table["id"].tolist()
    fair.cross_eval_section(store_metrics.paired_values(db, run_ids=ids), "compare")
    fair.verdicts_section(wording.verdicts(db, run_ids=ids), "compare", set(table["weights"]))
    fair.explain()


def differing(params: pd.DataFrame) -> list[str]:
    """The parameter columns whose value is not the same for all selected runs."""
    return [c for c in DIFF_COLUMNS if params[c].astype(str).nunique() > 1]


def outputs_section(db: Any, params: pd.DataFrame) -> None:
    """Output images side by side, labelled with the parameters that differ."""
    st.subheader("Outputs side by side")
    shown = params[params["output_image"].notna()].tail(MAX_OUTPUTS)
    if shown.empty:
        st.caption("None of the selected runs has an output image yet.")
        return
    diff = differing(params)
    st.caption("Labels show the parameters that differ: " + (", ".join(diff) if diff else "none (identical settings)"))
    images = queries.pngs(db, shown["output_image"].tolist())
    cols = st.columns(min(4, len(shown)))
    for i, (_, row) in enumerate(shown.iterrows()):
        # Image names and weights paths are the user's: a caption renders Markdown.
        label = " · ".join([f"#{row['id']}", *(f"{c}={md_escape(_fmt(row[c]))}" for c in diff)])
        cols[i % len(cols)].image(images.get(row["output_image"]), caption=label, width="stretch")


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)

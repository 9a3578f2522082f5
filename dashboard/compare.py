"""Compare sections: run selection (by hand, from `?runs=1,3`, or by grouping on any
parameter), overlaid curves, the study's tables (3-4: loss and cumulative seconds every
N iterations; 5: output loss per learning rate; 6-7: output loss per layer set), the fair
metrics (a row per run, per group when grouped, the producer x judge cross-evaluation and
the verdicts), side-by-side outputs labelled with the parameters that differ, a contact
sheet of them (one PNG) and an image comparison slider. Every table has a CSV download,
every chart Streamlit's "Download as PNG" and an HTML download that saves it as SVG.

Selection: by hand the picked runs are written back to the URL (`?runs=1,3`, shareable);
opening `/compare?runs=1,3` selects exactly those runs. By grouping, the runs are split by
one parameter (backbone, learning rate, layer set, image pair or any compared
`TransferConfig` field), optionally filtered by others, and every section shows the
groups side by side: one colour per group, group means with 95 % intervals where a group
has >= 2 runs, n stated.

Colours: one scale per page (`charts.color_scale`), used by every chart; backbones keep
their colour on every page (`charts.BACKBONE_COLORS`).

Speed: store reads are cached until the store commits (`common.store_read`; images by id), and the curve
controls and charts are a fragment, so "Colour by" reruns only that part.

Widget keys: `compare_mode`, `compare_runs`, `compare_group_by`, `compare_groups`,
`compare_where_<grouping>`, `compare_color`, `compare_x`, `compare_log`, `compare_every`,
`compare_judged`, `compare_slider_left`, `compare_slider_right`; downloads
`compare_dl_<table>` (`compare_dl_fair`, `compare_dl_fair_groups`, `compare_dl_cross_eval`,
`compare_dl_verdicts` for the fair metrics) and
`compare_contact_sheet` (the PNG contact sheet).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts, common, fair, nav
from dashboard.common import OUTPUT_LOSS, run_label, store_read, store_token
from dashboard.contact_sheet import Tile, contact_sheet, run_lines
from dashboard.image_compare import image_compare
from dashboard.text import md_escape
from engine.config import compared_fields
from store import metrics as store_metrics
from store import queries
from workbench import verdicts as wording

log = logging.getLogger(__name__)

MAX_CURVE_RUNS = 40  # more lines than this make an unreadable chart
MAX_OUTPUTS = 8
MAX_OUTPUTS_PER_GROUP = 4
MAX_GROUP_RUNS = 2000
MAX_URL_RUNS = 60  # a longer selection is not written to the URL
MODES = ("by hand", "by grouping")
COLOR_BY = ("run", "backbone", "loss_convention", "learning_rate", "layer_set", "optimizer", "scales")
# Ways to group: the study's named groupings, then every field Compare shows.
GROUP_BY = (*queries.GROUPINGS, *(f for f in compared_fields() if f not in ("backbone", "learning_rate")))
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
RAW_NOTE = "Raw values compare only within one backbone and one loss convention."
GROUP_NOTE = (
    "Lines are group means; the band is the 95 % Student t interval of the mean where a point averages "
    "at least 2 runs; hover for n."
)


@dataclass
class Selection:
    """The runs to compare; `groups` ({run id: group label}) and `by` when grouped."""

    ids: list[int]
    groups: dict[int, str] | None = None
    by: str | None = None
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def grouped(self) -> bool:
        return self.groups is not None


def grouping_label(by: str) -> str:
    """A grouping's name for people: "loss_convention" -> "loss convention"."""
    return by.replace("_", " ")


# --- cached store reads (keyed on the store's change token; images by id) -----------------


def _pair_names(db: Any) -> dict[str, str]:
    pairs = store_read(queries.group_values, db, "image pair")
    return dict(zip(pairs["value"], pairs["pair"], strict=True))


@st.cache_data(max_entries=256, show_spinner=False)
def _pngs(db: str, image_ids: tuple[str, ...]) -> dict[str, bytes]:
    """Images never change under an id: cached by id alone."""
    return queries.pngs(db, list(image_ids))


def params_of(db: Any, ids: list[int]) -> pd.DataFrame:
    """Every config column of the runs (cached `queries.run_params`)."""
    return store_read(queries.run_params, db, list(ids))


# --- selection ----------------------------------------------------------------------------

URL_SEEN = "_compare_runs_seen_url"


def _sync_from_url() -> None:
    """`?runs=1,3` (a new value: a link or a hand-edited URL) selects exactly those runs,
    by hand. A value this page wrote itself is not applied again."""
    raw = st.query_params.get("runs")
    if raw is None or raw == st.session_state.get(URL_SEEN):
        return
    st.session_state[URL_SEEN] = raw
    st.session_state["compare_mode"] = MODES[0]
    st.session_state["compare_runs"] = nav.parse_ids(raw)


def _write_url(ids: list[int]) -> None:
    """The selection into the URL (`?runs=1,3`) so it can be shared; too long a
    selection (a large group) is left out of the URL."""
    value = ",".join(str(i) for i in ids) if 0 < len(ids) <= MAX_URL_RUNS else None
    if value is None:
        st.query_params.pop("runs", None)
        st.session_state.pop(URL_SEEN, None)
        return
    if st.query_params.get("runs") != value:
        st.query_params["runs"] = value
    st.session_state[URL_SEEN] = value


def _labels(choices: pd.DataFrame) -> dict[int, str]:
    """{id: "#12 vgg16 lr=15 (finished)"} (as `common.run_label`), without a row loop."""
    rows = zip(choices["id"], choices["backbone"], choices["learning_rate"], choices["status"], strict=True)
    return {int(i): run_label({"id": i, "backbone": b, "learning_rate": lr, "status": s}) for i, b, lr, s in rows}


def _by_hand(db: str, choices: pd.DataFrame) -> list[int]:
    labels = _labels(choices)
    if "compare_runs" not in st.session_state:
        latest = store_read(queries.latest_finished_per_backbone, db)
        st.session_state["compare_runs"] = [i for i in latest if i in labels]
    wanted = [int(i) for i in st.session_state["compare_runs"]]
    extra = tuple(i for i in wanted if i not in labels)  # e.g. from the URL: older or not yet logged
    if extra:
        labels |= _labels(store_read(queries.run_choices_by_id, db, extra))
    st.session_state["compare_runs"] = [i for i in wanted if i in labels]
    return st.multiselect("Runs", list(labels), format_func=labels.get, key="compare_runs")


def _group_names(db: str, by: str, values: list[str]) -> dict[str, str]:
    """Readable group names: image pairs by their file names, the rest as they are."""
    if by != "image pair":
        return {v: v for v in values}
    names = _pair_names(db)
    return {v: names.get(v, v) for v in values}


def _by_grouping(db: str) -> Selection:
    options = store_read(queries.grouping_options, db, GROUP_BY)
    varying = [b for b in GROUP_BY if len(options.get(b, [])) > 1]
    if not options.get("backbone"):
        st.caption("No finished runs to group.")
        return Selection([], {}, None)
    offered = list(dict.fromkeys(["backbone", *varying]))
    left, right = st.columns([1, 2])
    by = left.selectbox(
        "Group by",
        offered,
        format_func=grouping_label,
        key="compare_group_by",
        help="Only settings that differ between finished runs are offered. Every section then shows the groups "
        "side by side.",
    )
    counts = dict(options[by])
    names = _group_names(db, by, list(counts))
    if st.session_state.get("_compare_groups_by") != by:  # a new grouping: compare all its groups
        st.session_state["_compare_groups_by"] = by
        st.session_state["compare_groups"] = list(counts)[:8]
    st.session_state["compare_groups"] = [g for g in st.session_state.get("compare_groups", []) if g in counts]
    chosen = right.multiselect(
        "Groups to compare",
        list(counts),
        format_func=lambda v: f"{names[v]} ({counts[v]} runs)",
        key="compare_groups",
    )
    where = _filters(by, varying, options)
    if not chosen:
        return Selection([], {}, by)
    runs = store_read(queries.runs_by_group, db, by, list(chosen), {k: list(v) for k, v in where}, limit=MAX_GROUP_RUNS)
    groups = {int(i): names.get(g, g) for i, g in zip(runs["id"], runs["group"], strict=True)}
    sizes = {names.get(g, g): int(n) for g, n in runs["group"].value_counts().items()}
    return Selection(list(groups), groups, by, sizes)


def _filters(by: str, varying: list[str], options: Mapping[str, list[tuple[str, int]]]) -> tuple:
    """Filters by the other settings that vary ({grouping: allowed values} as a hashable
    tuple); an empty filter allows any value."""
    others = [b for b in varying if b != by]
    if not others:
        return ()
    where = []
    with st.expander("Only runs with… (filter by other settings)"):
        cols = st.columns(3)
        for i, other in enumerate(others):
            values = [v for v, _ in options[other]]
            picked = cols[i % 3].multiselect(
                grouping_label(other), values, key=f"compare_where_{other.replace(' ', '_')}", placeholder="any"
            )
            if picked:
                where.append((other, tuple(picked)))
    return tuple(where)


def select_runs(db: Any) -> Selection | None:
    """Pick runs by hand (or from `?runs=`) or by grouping; None when no run has logged
    any iteration yet (nothing to compare)."""
    db = str(db)
    choices = store_read(queries.run_choices, db, limit=1000, logged_only=True)
    if choices.empty:
        return None
    _sync_from_url()
    mode = st.radio("Pick runs", MODES, key="compare_mode", horizontal=True)
    selection = Selection(_by_hand(db, choices)) if mode == MODES[0] else _by_grouping(db)
    _write_url(selection.ids)
    return selection


# --- downloads and small helpers -------------------------------------------------------------


def download(table: pd.DataFrame, name: str, label: str, file_name: str | None = None) -> None:
    """A CSV download button for `table` (key `compare_dl_<name>`)."""
    st.download_button(
        f"Download {label} (CSV)",
        data=table.to_csv(),
        file_name=f"{file_name or name}.csv",
        mime="text/csv",
        key=f"compare_dl_{name}",
        on_click="ignore",
    )


def show_chart(chart: alt.TopLevelMixin, name: str) -> None:
    """A chart; Streamlit's chart toolbar saves it as PNG, and the CSV buttons give its
    data. (No SVG: vega-embed's SVG export needs Vega from the web or a converter package,
    and the dashboard must work offline.)"""
    st.altair_chart(chart, key=f"compare_{name}")


def _number_columns(table: pd.DataFrame, fmt: str) -> dict[str, Any]:
    return {str(c): st.column_config.NumberColumn(str(c), format=fmt) for c in table.columns}


def show_table(table: pd.DataFrame, name: str, label: str, fmt: str = "%.4g", file_name: str | None = None) -> None:
    """A table with number formats and its CSV download."""
    st.dataframe(table, key=f"compare_table_{name}", column_config=_number_columns(table, fmt))
    download(table, name, label, file_name)


def _n_text(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{md_escape(g)} (n = {n})" for g, n in sizes.items())


def page_scale(values: Any) -> alt.Scale:
    """The page's one colour scale over the series `values`."""
    return charts.color_scale(values)


# --- curves -------------------------------------------------------------------------------


def curves_section(db: Any, params: pd.DataFrame, selection: Selection | None = None) -> None:
    """Overlaid raw and normalised loss curves and cumulative time (per run by hand, per
    group when grouped), in a fragment: its controls rerun only this section."""
    st.subheader("Loss and time against iteration")
    st.info(SCALES_NOTE, icon=":material/straighten:")
    if selection is not None and selection.grouped:
        _group_curves_fragment(str(db), tuple(selection.groups.items()), selection.by or "group", selection.sizes)
    else:
        _run_curves_fragment(str(db), tuple(int(i) for i in params["id"]))


def _controls(with_color: bool) -> tuple[str, str, bool]:
    cols = st.columns(3)
    color = cols[0].selectbox("Colour by", COLOR_BY, key="compare_color") if with_color else "group"
    x = cols[1].radio(
        "Against",
        tuple(charts.X_AXES),
        format_func=charts.X_AXES.get,
        key="compare_x",
        horizontal=True,
        help="Wall time compares optimisers and speed options fairly: their steps need not cost the same.",
    )
    log_scale = cols[2].toggle("Log scale", value=True, key="compare_log")
    return color, x, log_scale


@st.fragment
def _run_curves_fragment(db: str, ids: tuple[int, ...]) -> None:
    params = store_read(queries.run_params, db, list(ids))
    shown = tuple(ids[-MAX_CURVE_RUNS:])
    if len(ids) > MAX_CURVE_RUNS:
        st.caption(f"Curves show the newest {MAX_CURVE_RUNS} of the {len(ids)} selected runs; tables use all.")
    curve = store_read(queries.curves, db, list(shown), max_points=200)
    if curve.empty:
        st.caption("The selected runs have no logged iterations.")
        return
    label = params.assign(run=[run_label(r) for _, r in params.iterrows()])
    color, x, log_scale = _controls(with_color=True)
    curve = curve.merge(label[["id", "run", *COLOR_BY[1:]]], left_on="run_id", right_on="id")
    curve[color] = curve[color].astype(str)
    scale = page_scale(curve[color])  # one scale for the three charts
    raw_col, norm_col = st.columns(2)
    with raw_col:
        st.caption(f"Raw total loss. {RAW_NOTE}")
        show_chart(charts.overlay_chart(curve, "total_loss", "total loss", color, log_scale, x=x, scale=scale), "raw")
    with norm_col:
        st.caption("Normalised: total loss ÷ total loss at step 1")
        norm = charts.overlay_chart(curve, "total_norm", "loss / loss at step 1", color, log_scale, x=x, scale=scale)
        show_chart(norm, "norm")
    st.caption("Cumulative elapsed seconds (cf. the study's Figure 20), in the same colours")
    time_chart = charts.overlay_chart(curve, "elapsed_seconds", "elapsed seconds", color, scale=scale)  # by step
    show_chart(time_chart, "time")


def group_long(curve: pd.DataFrame, value: str) -> pd.DataFrame:
    """Rows of `queries.group_curves` for one value as chart rows: group, step,
    elapsed_seconds, mean, lo/hi (95 % t interval; NaN where n < 2), n."""
    mean, std, n = curve[f"{value}_mean"], curve[f"{value}_std"], curve[f"{value}_n"]
    lo, hi = charts.interval(mean, std, n)
    return pd.DataFrame(
        {
            "group": curve["group"].astype(str),
            "step": curve["step"],
            "elapsed_seconds": curve["elapsed_seconds"],
            "mean": mean,
            "lo": lo,
            "hi": hi,
            "n": n,
        }
    )


@st.fragment
def _group_curves_fragment(db: str, items: tuple[tuple[int, str], ...], by: str, sizes: Mapping[str, int]) -> None:
    curve = store_read(queries.group_curves, db, dict(items), max_points=200)
    if curve.empty:
        st.caption("The selected runs have no logged iterations.")
        return
    st.caption(f"Grouped by **{md_escape(grouping_label(by))}**: {_n_text(sizes)}. {GROUP_NOTE}")
    _, x, log_scale = _controls(with_color=False)
    scale = page_scale(sizes)
    title = grouping_label(by)
    params = store_read(queries.run_params, db, [i for i, _ in items])
    groups = dict(items)
    kinds = params.assign(group=params["id"].map(groups)).groupby("group")[["backbone", "loss_convention"]].nunique()
    raw_ok = bool((kinds <= 1).all().all())
    norm_col, raw_col = st.columns(2)
    with norm_col:
        st.caption("Normalised: total loss ÷ total loss at step 1 (group mean)")
        long = group_long(curve, "total_norm")
        show_chart(charts.group_chart(long, "loss / loss at step 1", log_scale, x, scale, group_title=title), "norm")
    with raw_col:
        if raw_ok:
            st.caption(f"Raw total loss (group mean). {RAW_NOTE}")
            long = group_long(curve, "total_loss")
            show_chart(charts.group_chart(long, "total loss", log_scale, x, scale, group_title=title), "raw")
        else:
            st.caption(
                "Raw total loss: not shown, because a group mixes backbones or loss conventions, whose raw losses "
                "are not comparable. Group by backbone (or filter to one) to see them."
            )
    st.caption("Cumulative elapsed seconds (group mean), in the same colours")
    long = group_long(curve, "elapsed_seconds")
    show_chart(charts.group_chart(long, "elapsed seconds", False, "step", scale, group_title=title), "time")


# --- the study's tables --------------------------------------------------------------------


def _column_label(group: str, backbone: str, grouped: bool) -> str:
    """A table column: the backbone by hand; the group when grouped (and its backbone
    too where the group holds other backbones than itself)."""
    if not grouped:
        return backbone
    return group if group == backbone else f"{group} · {backbone}"


def _with_columns(long: pd.DataFrame, grouped: bool) -> pd.DataFrame:
    pairs = zip(long["group"], long["backbone"], strict=True)
    return long.assign(column=[_column_label(g, b, grouped) for g, b in pairs])


def tables_section(db: Any, ids: list[int], selection: Selection | None = None) -> None:
    """The study's tables (fetched in one transaction), each with its CSV download."""
    grouped = selection is not None and selection.grouped
    st.subheader("Every N iterations (Tables 3-4)")
    # The study's 100 for 1000-step runs, a tenth of shorter ones: never an empty table.
    default = store_read(queries.report_interval, db, list(ids))
    every = int(st.number_input("Every N iterations", min_value=1, value=default, step=10, key="compare_every"))
    items = tuple(selection.groups.items()) if grouped else None
    tables = store_read(queries.compare_tables, db, list(ids), every=every, groups=dict(items) if items else None)
    every_n_tables(tables["every_n"], every, grouped)
    scale = page_scale(selection.sizes) if grouped else None
    lr_tables(tables["lr"], grouped, scale)
    layer_tables(tables["layers"], grouped)


def _pool(long: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    """Means over (group, backbone) rows pooled per `keys`, weighted by their run counts."""
    weighted = long.assign(**{v: long[v] * long["runs"] for v in values})
    out = weighted.groupby(keys, as_index=False)[[*values, "runs"]].sum()
    for v in values:
        out[v] = out[v] / out["runs"]
    return out


def every_n_tables(long: pd.DataFrame, every: int, grouped: bool = False) -> None:
    """Tables 3-4: loss and cumulative seconds every N iterations; rows = iteration,
    columns = backbone (by hand) or group (normalised loss and seconds pooled over the
    group's runs; raw loss per group and backbone), means over the runs."""
    if long.empty:
        st.caption(f"No selected run logged a step that is a multiple of {every}; lower N.")
        return
    long = _with_columns(long, grouped)
    pooled = _pool(long, ["iteration", "group"], ["total_norm", "elapsed_seconds"]) if grouped else long
    for value, name, label in (
        ("total_loss", "loss_every_n", f"Table 3: total loss (raw; {RAW_NOTE.lower()[:-1]})"),
        ("total_norm", "loss_norm_every_n", "Table 3: total loss ÷ loss at step 1"),
        ("elapsed_seconds", "time_every_n", "Table 4: cumulative elapsed seconds"),
    ):
        st.markdown(f"**{label}**")
        source, column = (long, "column") if value == "total_loss" or not grouped else (pooled, "group")
        table = source.pivot(index="iteration", columns=column, values=value)
        table.columns.name = None
        show_table(table, name, label.split(":")[0].lower(), "%.2f" if value == "elapsed_seconds" else "%.4g")
    if grouped:
        n = long.groupby("column")["runs"].max()
        st.caption("Runs per column (n): " + ", ".join(f"{md_escape(c)}: {k}" for c, k in n.items()))


def lr_tables(long: pd.DataFrame, grouped: bool = False, scale: alt.Scale | None = None) -> None:
    """Table 5: output loss per learning rate; rows = learning rate, columns = backbone
    (or group · backbone when grouped)."""
    st.subheader(f"{OUTPUT_LOSS.capitalize()} against learning rate (Table 5)")
    if long.empty:
        st.caption(f"None of the selected runs has an {OUTPUT_LOSS} yet.")
        return
    long = _with_columns(long, grouped)
    for value, name, label, file_name in (
        ("output_loss", "lr_final_loss", f"{OUTPUT_LOSS} (raw)", "lr_output_loss"),
        ("output_norm", "lr_final_norm", "output ÷ step 1 (output loss ÷ loss at step 1)", "lr_output_norm"),
    ):
        st.markdown(f"**Table 5: {label}**")
        table = long.pivot(index="learning_rate", columns="column", values=value)
        table.columns.name = None
        show_table(table, name, f"table 5 ({label})", file_name=file_name)
    st.caption(f"{common.OUTPUT_LOSS_HELP} The raw table: {RAW_NOTE.lower()}")
    if grouped:
        data = _pool(long, ["group", "learning_rate"], ["output_norm"])
        chart = charts.lr_chart(data, "output_norm", "output ÷ step 1", color="group", scale=scale)
    else:
        chart = charts.lr_chart(long, "output_norm", "output ÷ step 1")
    show_chart(chart, "lr_chart")


def layer_tables(long: pd.DataFrame, grouped: bool = False) -> None:
    """Tables 6-7: output loss per (content layer, style layers) set, per backbone."""
    st.subheader("Layer sets (Tables 6-7)")
    if long.empty:
        st.caption(f"None of the selected runs has an {OUTPUT_LOSS} yet.")
        return
    for backbone, part in long.groupby("backbone", sort=True):
        st.markdown(f"**{backbone}**: {OUTPUT_LOSS} per layer set ({RAW_NOTE.lower()[:-1]})")
        table = part.drop(columns=["backbone", *([] if grouped else ["group"])]).reset_index(drop=True)
        st.dataframe(
            table,
            key=f"compare_table_layers_{backbone}",
            column_config={
                "output_loss": st.column_config.NumberColumn(OUTPUT_LOSS, format="%.4g", help=common.OUTPUT_LOSS_HELP),
                "output_norm": st.column_config.NumberColumn(
                    "output ÷ step 1", format="%.4g", help="output loss ÷ loss at step 1"
                ),
            },
            hide_index=True,
        )
        download(table, f"layers_{backbone}", f"{backbone} layer sets")


# --- fair metrics -------------------------------------------------------------------------

FAIR_PARAMS = ("id", "backbone", "feature_transform", "learning_rate", "seed", "weights")


def fair_runs_table(db: Any, params: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """(a row per selected run with its fair metrics, ids of runs that have none); a
    `group` column after the id when `params` has one."""
    wide = store_read(store_metrics.metrics_wide, db, [int(i) for i in params["id"]])
    keys = ("id", "group", *FAIR_PARAMS[1:]) if "group" in params.columns else FAIR_PARAMS
    table = params[list(keys)].merge(wide, left_on="id", right_on="run_id", how="left")
    order = {name: i for i, name in enumerate(store_metrics.METRICS)}
    metric_cols = sorted(
        (c for c in table.columns if c not in (*keys, "run_id")),
        key=lambda c: (order.get(c.partition(" [")[0], len(order)), c),
    )
    table = table[[*keys, *metric_cols]]
    has = table[metric_cols].notna().any(axis=1) if metric_cols else pd.Series(False, index=table.index)
    return table[has].reset_index(drop=True), table.loc[~has, "id"].astype(int).tolist()


def fair_groups_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per group: n and, per metric, the mean and its 95 % Student t interval (low,
    high; empty where n < 2)."""
    metric_cols = [c for c in table.columns if c.partition(" [")[0] in store_metrics.METRICS]
    rows = []
    for group, part in table.groupby("group", sort=False):
        row: dict[str, Any] = {"group": group, "n": len(part)}
        for col in metric_cols:
            values = part[col].dropna()
            n = pd.Series([len(values)])
            mean, std = pd.Series([values.mean()]), pd.Series([values.std(ddof=1)])
            lo, hi = charts.interval(mean, std, n)
            row[col], row[f"{col} 95% low"], row[f"{col} 95% high"] = mean[0], lo[0], hi[0]
        rows.append(row)
    return pd.DataFrame(rows)


def fair_section(db: Any, params: pd.DataFrame, selection: Selection | None = None) -> None:
    """Backbone-independent metrics of the selected runs (per group too when grouped),
    the producer x judge view, the verdicts for the selection and what each metric means."""
    st.subheader("Fair metrics")
    st.caption(
        "Measures that do not depend on which backbone produced the image, so VGG16 and ResNet50 runs "
        "can be compared (unlike their raw losses)."
    )
    if selection is not None and selection.grouped and "group" not in params.columns:
        params = params.assign(group=params["id"].map(selection.groups))
    table, missing = fair_runs_table(db, params)
    if missing:
        more = f" and {len(missing) - 30} more" if len(missing) > 30 else ""
        runs = ", ".join(f"#{i}" for i in missing[:30]) + more
        st.info(
            f"No fair metrics for run{'s' if len(missing) > 1 else ''} {runs}. {fair.HINT}",
            icon=":material/straighten:",
        )
    if table.empty:
        return
    if "group" in table.columns:
        groups = fair_groups_table(table)
        st.markdown("**Per group**: mean, 95 % interval of the mean (where n ≥ 2) and n")
        config = {**fair.column_config(groups), "n": st.column_config.NumberColumn("n (runs)", format="%d")}
        st.dataframe(groups, key="compare_table_fair_groups", hide_index=True, column_config=config)
        fair.download(groups, "fair_metrics_groups", "fair metrics per group", "compare_dl_fair_groups")
        st.markdown("**Per run**")
    config = {"id": st.column_config.NumberColumn("run", format="%d"), **fair.column_config(table)}
    config["learning_rate"] = st.column_config.NumberColumn("learning rate", format="%g")
    st.dataframe(table, key="compare_table_fair", hide_index=True, column_config=config)
    fair.download(table, "fair_metrics", "fair metrics", "compare_dl_fair")
    ids = [int(i) for i in table["id"]]
    skipped = fair.skipped_reasons(store_read(store_metrics.get_metrics, db, ids))  # issue 11 #2
    fair.cross_eval_section(store_read(store_metrics.paired_values, db, run_ids=ids), "compare", skipped)
    fair.verdicts_section(store_read(wording.verdicts, db, run_ids=ids), "compare", set(table["weights"]))
    fair.explain()


# --- outputs, contact sheet, slider -----------------------------------------------------------


def differing(params: pd.DataFrame) -> list[str]:
    """The parameter columns whose value is not the same for all selected runs."""
    return [c for c in DIFF_COLUMNS if params[c].astype(str).nunique() > 1]


def shown_outputs(params: pd.DataFrame) -> pd.DataFrame:
    """The runs whose outputs are shown: the newest MAX_OUTPUTS with an output, or the
    newest MAX_OUTPUTS_PER_GROUP of each group when grouped."""
    done = params[params["output_image"].notna()]
    if "group" not in done.columns:
        return done.tail(MAX_OUTPUTS)
    return done.groupby("group", sort=False, group_keys=False).tail(MAX_OUTPUTS_PER_GROUP)


def outputs_section(db: Any, params: pd.DataFrame, selection: Selection | None = None) -> None:
    """Output images side by side (per group when grouped), labelled with the parameters
    that differ; the contact sheet download and the comparison slider."""
    st.subheader("Outputs side by side")
    if selection is not None and selection.grouped and "group" not in params.columns:
        params = params.assign(group=params["id"].map(selection.groups))
    shown = shown_outputs(params)
    if shown.empty:
        st.caption("None of the selected runs has an output image yet.")
        return
    diff = differing(params)
    st.caption("Labels show the parameters that differ: " + (", ".join(diff) if diff else "none (identical settings)"))
    images = _pngs(str(db), tuple(shown["output_image"]))
    blocks = shown.groupby("group", sort=False) if "group" in shown.columns else [(None, shown)]
    for group, part in blocks:
        if group is not None:
            n = int((params["group"] == group).sum())
            st.markdown(f"**{md_escape(group)}** (n = {n}; newest {len(part)} shown)")
        cols = st.columns(min(4, max(len(part), 1 if group is None else 4)))
        for i, (_, row) in enumerate(part.iterrows()):
            # Image names and weights paths are the user's: a caption renders Markdown.
            label = " · ".join([f"#{row['id']}", *(f"{c}={md_escape(_fmt(row[c]))}" for c in diff)])
            cols[i % len(cols)].image(
                images.get(row["output_image"]), caption=label, width="stretch", output_format="PNG"
            )
    contact_sheet_button(db, params, shown, diff)
    _slider_fragment(str(db), tuple(int(i) for i in shown["id"]))


@st.cache_data(max_entries=32, show_spinner=False)
def _sheet(db: str, token: tuple, ids: tuple[int, ...], diff: tuple[str, ...]) -> bytes:
    params = store_read(queries.run_params, db, list(ids))
    wide = store_read(store_metrics.metrics_wide, db, list(ids)).set_index("run_id")
    images = _pngs(db, tuple(params["output_image"]))
    tiles = []
    for _, row in params.iterrows():
        metrics = wide.loc[row["id"]].to_dict() if row["id"] in wide.index else {}
        tiles.append(Tile(images[row["output_image"]], run_lines(row, diff, metrics)))
    inputs = []
    for role in ("content", "style"):
        if params[f"{role}_image"].nunique() == 1:
            image_id = params[f"{role}_image"].iloc[0]
            name = params[f"{role}_name"].iloc[0]
            png = _pngs(db, (image_id,)).get(image_id)
            if png:
                inputs.append(Tile(png, (f"{role} image", str(name) if common.present(name) else "")))
    runs = ", ".join(f"#{i}" for i in ids)
    return contact_sheet(tiles, inputs, title=f"Compared runs {runs}", columns=min(4, len(tiles) + len(inputs)))


def contact_sheet_button(db: Any, params: pd.DataFrame, shown: pd.DataFrame, diff: list[str]) -> None:
    """Download the shown outputs as one labelled PNG (`contact_sheet.png`, key
    `compare_contact_sheet`)."""
    ids = tuple(int(i) for i in shown["id"])
    data = _sheet(str(db), store_token(), ids, tuple(diff))
    st.download_button(
        "Download contact sheet (PNG)",
        data=data,
        file_name="contact_sheet.png",
        mime="image/png",
        key="compare_contact_sheet",
        on_click="ignore",
        icon=":material/download:",
        help="The outputs above in one labelled image: run id, backbone, the settings that differ and the fair "
        "metrics where computed (the content and style images first when all runs share them).",
    )


@st.fragment
def _slider_fragment(db: str, ids: tuple[int, ...]) -> None:
    """Two of the shown outputs (or an output and its content photo) under a slider."""
    params = store_read(queries.run_params, db, list(ids))
    options: dict[str, tuple[str, str]] = {}
    for _, row in params.iterrows():
        options[f"run {row['id']}"] = (row["output_image"], f"#{row['id']} {row['backbone']} output")
    for image_id, name in dict(zip(params["content_image"], params["content_name"], strict=True)).items():
        label = f"content photo{'' if params['content_image'].nunique() == 1 else ' ' + str(name)}"
        options[label] = (image_id, str(name) if common.present(name) else "content photo")
    st.markdown("**Slide between two images**")
    keys = list(options)
    left_col, right_col = st.columns(2)
    left = left_col.selectbox("Left", keys, index=0, key="compare_slider_left")
    right_default = 1 if len(keys) > 1 else 0
    right = right_col.selectbox("Right", keys, index=right_default, key="compare_slider_right")
    pngs = _pngs(db, (options[left][0], options[right][0]))
    if options[left][0] in pngs and options[right][0] in pngs:
        image_compare(pngs[options[left][0]], pngs[options[right][0]], options[left][1], options[right][1])


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float | np.floating) else str(value)

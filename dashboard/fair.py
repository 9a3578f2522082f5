"""Fair metrics on screen, shared by Compare and the study report: readable column
labels and help from `store.metrics.METRICS` (named by `workbench.verdicts`), the producer x judge cross-evaluation
view, the computed verdicts, a short explanation of every metric and CSV downloads.

Widget keys are `<prefix>_judged` (the cross-evaluation measure), and downloads
`<prefix>_dl_cross_eval`, `<prefix>_dl_verdicts` (plus whatever the caller adds), where
`<prefix>` is `compare` or `study`. Run detail uses `run_table` (one run's metrics with
labels, units and, for a missing value, why it is missing) and `skipped_reasons`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.text import md_escape
from engine.config import TransferConfig
from store.metrics import CROSS_EVAL, METRICS, NETWORK_FREE, NEUTRAL, OWN_LOSS, metric_column
from workbench.verdicts import display
from workbench.verdicts import metric_label as words_metric_label

log = logging.getLogger(__name__)

# What each metric measures, in one line (the full definitions are in store/SCHEMA.md).
DESCRIPTIONS = {
    "ssim": "structural similarity of output and content photo in greyscale (1 = identical structure; colour "
    "changes, which stylisation should make, do not count against it)",
    "edge_corr": "correlation of the Sobel edge maps of output and content photo (1 = the same edges in the same "
    "places)",
    "color_ratio": "colour distance output→style ÷ photo→style (Gaussian W2 of the CIELAB statistics): 1 = the "
    "colours are unchanged from the photo, lower = closer to the style's palette, 0 = the style's",
    "texture_ratio": "texture distance output→style ÷ photo→style: 1 = the texture is unchanged from the photo, "
    "lower = closer to the style's brush work",
    "grid_ratio": "share of spectral power at 2-pixel periods (the checkerboard of stride-2 network layers) ÷ the "
    "photo's: ~1 = no more grid than the photo had, ≫ 1 = checkerboard artefacts",
    "neutral_style_distance": "a neutral judge network (one that made neither output) compares the Gram matrices "
    "of output and style image at its style layers: relative error, 0 = same style statistics",
    "neutral_content_distance": "the neutral judge's relative feature error of output vs photo at its content "
    "layer (0 = same content features)",
    "color_w2": "distance between the colour statistics (mean and covariance in CIELAB) of output and style "
    "image, in Lab units (0 = same palette); the colour ratio normalises it by the photo's distance",
    "texture_swd": "sliced Wasserstein distance between 7 × 7 patches of the Laplacian pyramids of output and "
    "style image (Karras et al. 2018; 0 = same texture statistics); the texture ratio normalises it",
    "judge_style_loss": "the judge backbone's own style loss (Gram matrices at its default style layers) "
    "of the output against the style image",
    "judge_content_loss": "the judge's own content loss of the output against the content image, at its default "
    "content layer",
    "judge_total_loss": "α · content + β · style loss with the judge's default weights",
    "loss_ratio_final": "the run's output loss (its output image evaluated once after the last step) ÷ its loss "
    "at step 1: how far it brought its own loss down, on any backbone's scale (Compare's normalised loss)",
    "iters_to_90": "the first step at which the run had made 90 % of its total loss drop",
    "iters_to_99": "the first step at which the run had made 99 % of its total loss drop",
}
# Labels that differ from `METRICS` (one name per number, issue 11 #1): the own-loss ratio
# is the output loss over the loss at step 1, Compare's "output ÷ step 1".
LABELS = {"loss_ratio_final": "output ÷ step-1 loss"}
# The unit (or scale) of each metric's value, shown next to it.
UNITS = {
    "ssim": "index, −1 … 1",
    "edge_corr": "correlation, −1 … 1",
    "color_ratio": "× the photo's distance",
    "texture_ratio": "× the photo's distance",
    "grid_ratio": "× the photo's",
    "neutral_style_distance": "relative error",
    "neutral_content_distance": "relative error",
    "color_w2": "CIELAB units",
    "texture_swd": "sliced Wasserstein distance",
    "judge_style_loss": "the judge's loss units",
    "judge_content_loss": "the judge's loss units",
    "judge_total_loss": "the judge's loss units",
    "loss_ratio_final": "× the step-1 loss",
    "iters_to_90": "steps",
    "iters_to_99": "steps",
}
# The producing backbones: the judges of the cross-evaluation (the neutral judges are others).
BACKBONE_NAMES = next(f.metadata["choices"] for f in fields(TransferConfig) if f.name == "backbone")
CROSS_EVAL_LABEL = "each judge network favours outputs made with its own objective; not used for verdicts"
JUDGED = {"style loss": "judge_style_loss", "content loss": "judge_content_loss", "total loss": "judge_total_loss"}
HINT = (
    "Fair metrics are computed when a run finishes; for runs made before they existed, run "
    "`python -m workbench metrics --missing`."
)


def metric_label(column: str) -> str:
    """'judge_style_loss [vgg16]' -> 'style loss (VGG16 judge)'; 'ssim std' -> 'SSIM to the content ± std'."""
    label = words_metric_label(column, std_suffix=" ± std")
    name = column.removesuffix(" std").partition(" [")[0]
    if name in LABELS and name in METRICS:
        label = label.replace(METRICS[name].label, LABELS[name], 1)
    return label


def unit(metric: str) -> str:
    """The unit or scale of a metric's values ('' when it has none)."""
    return UNITS.get(metric, "")


def skipped_reasons(long: pd.DataFrame, metrics: Iterable[str] | None = None) -> dict[str, str]:
    """{judge: why} for every judge with a missing value in `long` (rows of
    `store.metrics.get_metrics`: run_id, metric, judge, value, detail), the first reason
    stored; `metrics` limits which metrics count (e.g. the judged losses)."""
    if long.empty:
        return {}
    rows = long[long["value"].isna() & (long["judge"] != "")]
    if metrics is not None:
        rows = rows[rows["metric"].isin(list(metrics))]
    out: dict[str, str] = {}
    for judge, detail in zip(rows["judge"], rows["detail"], strict=True):
        out.setdefault(str(judge), str(detail) if isinstance(detail, str) and detail else "no reason stored")
    return out


def _value_text(metric: str, value: Any) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{int(value):d}" if metric.startswith("iters_to") else f"{float(value):.4g}"


def run_table(long: pd.DataFrame) -> pd.DataFrame:
    """One run's metrics (rows of `store.metrics.get_metrics`) for reading: group, metric
    (label, with its judge), value as text ("–" when missing), unit, which direction is
    better, and a note: for a missing value why it is missing, else how it was judged.
    In `METRICS` order, judges sorted within a metric; unknown metrics are left out."""
    columns = ["group", "metric", "value", "unit", "better", "note"]
    if long.empty:
        return pd.DataFrame(columns=columns)
    order = {m: i for i, m in enumerate(METRICS)}
    rows = long[long["metric"].isin(list(METRICS))].copy()
    rows["_order"] = rows["metric"].map(order)
    rows = rows.sort_values(["_order", "judge"], kind="stable")
    out = []
    for r in rows.itertuples():
        info = METRICS[r.metric]
        missing = r.value is None or pd.isna(r.value)
        detail = r.detail if isinstance(r.detail, str) else ""
        note = (detail or "not computed") if missing else detail
        label = metric_label(metric_column(r.metric, r.judge))
        out.append([info.group, label, _value_text(r.metric, r.value), unit(r.metric), info.better, note])
    return pd.DataFrame(out, columns=columns)


def metric_help(column: str) -> str | None:
    """A column's tooltip: what it measures and which direction is better."""
    name = column.removesuffix(" std").partition(" [")[0]
    if name not in METRICS:
        return None
    std = " (sample standard deviation over the runs averaged)" if column.endswith(" std") else ""
    return f"{DESCRIPTIONS.get(name, METRICS[name].label)}; {METRICS[name].better} is better{std}"


def column_config(frame: pd.DataFrame) -> dict[str, Any]:
    """Number formats, readable labels and help for every metric column of `frame`."""
    config: dict[str, Any] = {}
    for col in map(str, frame.columns):
        if col.removesuffix(" std").partition(" [")[0] in METRICS:
            fmt = "%d" if col.startswith("iters_to") and not col.endswith(" std") else "%.3g"
            config[col] = st.column_config.NumberColumn(metric_label(col), help=metric_help(col), format=fmt)
    return config


def _group_lines(group: str) -> list[str]:
    return [
        f"- **{metric_label(m)}** ({info.better} is better): {DESCRIPTIONS.get(m, '')}."
        for m, info in METRICS.items()
        if info.group == group
    ]


def explain() -> None:
    """A short explanation of every metric and of how verdicts are reached, folded away."""
    with st.expander("What the fair metrics mean"):
        lines = ["**Network-free measures** (verdicts rest on these):", *_group_lines(NETWORK_FREE)]
        lines += [
            "\nDistances to the style are given as output→style ÷ photo→style: 1 = unchanged from the photo, "
            "lower = closer to the style. The photo is resized to the output's size first.",
            "\n**Neutral judges** (ImageNet networks that produced neither output: VGG19, Inception v3; each runs "
            "only when its weights file is in Keras's cache, else its rows say *skipped*):",
            *_group_lines(NEUTRAL),
            "\n**Cross-evaluation** by the producing backbones' own losses at their default layers: "
            f"{CROSS_EVAL_LABEL}. Compare values within one judge only: each judge has its own scale.",
            *_group_lines(CROSS_EVAL),
            "\n**Each run on its own loss** (convergence, not quality; not used for verdicts):",
            *_group_lines(OWN_LOSS),
            "\n**Verdicts** pair outputs of the same photo, painting and seed across producers and give the mean "
            "difference (the geometric-mean ratio for ratio metrics) with its 95 % Student t interval and the "
            "number of pairs n. A winner is named only when the interval excludes no difference; otherwise the "
            "verdict says *no clear difference*, and one pair gives no interval at all.",
        ]
        st.markdown("\n".join(lines))


def download(frame: pd.DataFrame, name: str, label: str, key: str) -> None:
    """A CSV download button (no rerun on click)."""
    st.download_button(
        f"Download {label} (CSV)",
        data=frame.to_csv(index=False),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=key,
        on_click="ignore",
    )


def fair_long(frame: pd.DataFrame, id_col: str) -> pd.DataFrame:
    """A wide fair table (a row per `id_col`, metric columns and "<col> std") -> long
    (metric label, series, mean, std, better) for the small-multiples chart."""
    parts = []
    for col in map(str, frame.columns):
        name = col.partition(" [")[0]
        if col == id_col or col.endswith(" std") or name not in METRICS:
            continue
        std = frame[f"{col} std"] if f"{col} std" in frame.columns else np.nan
        label, better = metric_label(col), METRICS[name].better
        series = frame[id_col].astype(str)
        parts.append(
            pd.DataFrame({"metric": label, "series": series, "mean": frame[col], "std": std, "better": better})
        )
    if not parts:
        return pd.DataFrame(columns=["metric", "series", "mean", "std", "better"])
    return pd.concat(parts, ignore_index=True).dropna(subset=["mean"]).reset_index(drop=True)


def by_metric(frame: pd.DataFrame, id_col: str) -> pd.DataFrame:
    """A wide fair table turned to a row per metric (and judge), a column per `id_col`
    value (variant), "<variant> std" columns where a mean averages several runs, and
    which direction is better."""
    long = fair_long(frame, id_col)
    if long.empty:
        return pd.DataFrame({"metric": []})
    metrics, series = list(dict.fromkeys(long["metric"])), list(dict.fromkeys(long["series"]))
    out = long.pivot(index="metric", columns="series", values="mean").reindex(index=metrics, columns=series)
    if long["std"].notna().any():
        std = long.pivot(index="metric", columns="series", values="std").reindex(index=metrics, columns=series)
        for i, name in enumerate(series):
            out.insert(2 * i + 1, f"{name} std", std[name])
    out.columns.name = None
    out = out.reset_index()
    out.insert(1, "better", out["metric"].map(long.groupby("metric")["better"].first()))
    return out


def cross_eval(values: pd.DataFrame) -> pd.DataFrame:
    """Mean judged losses per (metric, producer, judge) from `store.metrics.paired_values`,
    with `relative` = value ÷ the lowest value under the same judge and metric."""
    judged = values[values["metric"].isin(JUDGED.values()) & (values["judge"] != "")]
    if judged.empty:
        return pd.DataFrame(columns=["metric", "producer", "judge", "value", "runs", "relative"])
    out = judged.groupby(["metric", "producer", "judge"], as_index=False).agg(
        value=("value", "mean"), runs=("value", "count")
    )
    best = out.groupby(["metric", "judge"])["value"].transform("min")
    out["relative"] = out["value"] / best.where(best > 0)
    out["producer"] = out["producer"].map(display)
    out["judge"] = out["judge"].map(display)
    return out


def _skip_lines(skipped: Mapping[str, str]) -> str:
    """One Markdown line per skipped judge: its name and why (stored text, escaped)."""
    return "\n".join(f"- **{display(j)} judge**: {md_escape(why)}" for j, why in sorted(skipped.items()))


def cross_eval_grid(part: pd.DataFrame, skipped: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One judged loss (rows of `cross_eval` for one metric) as a producer x judge grid:
    numbers when every cell has one, else text cells holding the value or "– (skipped:
    why)", so an empty cell says why; a judge skipped on every run still gets its column."""
    reasons = {display(j): why for j, why in (skipped or {}).items() if j in BACKBONE_NAMES}
    grid = part.pivot(index="producer", columns="judge", values="value")
    for judge in reasons:
        if judge not in grid.columns:
            grid[judge] = np.nan
    grid.columns.name = None
    if grid.notna().all().all():  # every cell has a value: numbers, sortable
        return grid.reset_index()
    out = pd.DataFrame({"producer": grid.index})
    for judge in grid.columns:
        why = reasons.get(judge)
        empty = f"– ({why})" if why else "– (no value stored)"
        out[judge] = [f"{v:.3g}" if pd.notna(v) else empty for v in grid[judge]]
    return out


def cross_eval_section(values: pd.DataFrame, prefix: str, skipped: Mapping[str, str] | None = None) -> None:
    """The 2 x 2 (producer x judge) view of one judged loss, as a table and a heat map.
    `skipped` ({judge: why}, e.g. `skipped_reasons` or `store.metrics.skipped_judges`)
    puts each skipped judge's reason in its empty cells and under the table."""
    st.markdown(f"**Cross-evaluation: producer × judge** ({CROSS_EVAL_LABEL})")
    table = cross_eval(values)
    cross_skipped = {j: why for j, why in (skipped or {}).items() if j in BACKBONE_NAMES}
    if table.empty:
        st.caption("No judged losses for these runs (a judge can be skipped: see the run's metrics detail).")
        if cross_skipped:
            st.markdown("Judges skipped:\n" + _skip_lines(cross_skipped))
        return
    measure = st.radio("Judged loss", list(JUDGED), key=f"{prefix}_judged", horizontal=True)
    part = table[table["metric"] == JUDGED[measure]]
    grid = cross_eval_grid(part, cross_skipped)
    judges = [c for c in grid.columns if c != "producer"]
    numeric = all(pd.api.types.is_numeric_dtype(grid[j]) for j in judges)
    column = st.column_config.NumberColumn if numeric else st.column_config.TextColumn
    config = {j: column(f"{j} judge", **({"format": "%.3g"} if numeric else {})) for j in judges}
    st.dataframe(grid, key=f"{prefix}_cross_eval", hide_index=True, column_config=config)
    if cross_skipped:
        st.markdown("Judges skipped on some runs (their cells are empty):\n" + _skip_lines(cross_skipped))
    st.caption(
        f"Mean {measure} of each producer's outputs as each judge scores them. Read down a column: each judge "
        "has its own scale. The heat map shows each value ÷ the best (lowest) under that judge. A judge scores "
        "what it optimised, so its own backbone's outputs tend to win here: these numbers never enter a verdict."
    )
    st.altair_chart(charts.cross_eval_heatmap(part), key=f"{prefix}_cross_eval_chart")
    download(
        table.drop(columns="relative"), f"{prefix}_cross_evaluation", "cross-evaluation", f"{prefix}_dl_cross_eval"
    )


def verdicts_section(verdicts: pd.DataFrame, prefix: str, weights: set[str] | None = None) -> None:
    """The computed verdicts, one sentence per metric and producer pair, and their CSV."""
    st.markdown("**Verdicts**")
    if verdicts.empty:
        st.caption(
            "No verdict yet: verdicts pair runs that differ only in their producer (backbone, or the softmax "
            "transform) on the same images and seed, and need fair metrics on both."
        )
        return
    if weights and "none" in weights:
        st.caption("These runs used random weights (`weights = none`): the verdicts only show the bookkeeping works.")
    lines = [f"- **{metric_label(metric_column(r.metric, r.judge))}**: {r.sentence}" for r in verdicts.itertuples()]
    st.markdown("\n".join(lines))
    st.caption(
        "Each verdict pairs outputs of the same images and seed across producers: mean difference (geometric-mean "
        "ratio for ratio metrics), 95 % Student t interval, n pairs; a winner only when the interval excludes no "
        "difference. Only network-free measures and neutral judges are used, never the cross-evaluation."
    )
    download(verdicts, f"{prefix}_verdicts", "verdicts", f"{prefix}_dl_verdicts")

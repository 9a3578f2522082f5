"""Altair charts of run curves. Every chart takes long-form data (one row per point)
and has tooltips and a legend keyed by a run parameter."""

from __future__ import annotations

import altair as alt
import pandas as pd

LOSS_PARTS = {"total_loss": "total", "content_loss": "content", "style_loss": "style"}


def _y_scale(log: bool) -> alt.Scale:
    return alt.Scale(type="log") if log else alt.Scale(type="linear", zero=False)


def _positive(df: pd.DataFrame, column: str, log: bool) -> pd.DataFrame:
    """A log axis cannot show zero or negative values: drop them when `log`."""
    return df[df[column] > 0] if log else df


def loss_parts_chart(curve: pd.DataFrame, log: bool = True, height: int = 260) -> alt.Chart:
    """Total, content and style loss of one run against the step."""
    long = curve.melt(id_vars=["step"], value_vars=list(LOSS_PARTS), var_name="part", value_name="loss")
    long["part"] = long["part"].map(LOSS_PARTS)
    long = _positive(long, "loss", log)
    return (
        alt.Chart(long)
        .mark_line(point=len(curve) < 30)
        .encode(
            x=alt.X("step:Q", title="iteration"),
            y=alt.Y("loss:Q", title="loss", scale=_y_scale(log)),
            color=alt.Color("part:N", title="loss"),
            tooltip=["step:Q", "part:N", alt.Tooltip("loss:Q", format=".4g")],
        )
        .properties(height=height)
    )


X_AXES = {"step": "iteration", "elapsed_seconds": "seconds since the run started"}


def overlay_chart(
    curves: pd.DataFrame,
    y: str,
    y_title: str,
    color: str = "run",
    log: bool = False,
    height: int = 300,
    x: str = "step",
) -> alt.Chart:
    """One line per run of `y` against `x` (the step, or `elapsed_seconds` to compare
    optimisers by wall time), coloured by `color` (a column of `curves`, e.g. "run" or
    "backbone"); runs sharing a colour stay separate lines."""
    data = _positive(curves, y, log)
    tooltip = ["run:N", "backbone:N", "learning_rate:Q", "step:Q", alt.Tooltip(f"{y}:Q", format=".4g")]
    return (
        alt.Chart(data)
        .mark_line(point=len(data) < 60)
        .encode(
            x=alt.X(f"{x}:Q", title=X_AXES.get(x, x)),
            y=alt.Y(f"{y}:Q", title=y_title, scale=_y_scale(log)),
            color=alt.Color(f"{color}:N", title=color.replace("_", " ")),
            detail="run:N",
            tooltip=tooltip,
        )
        .properties(height=height)
    )


def step_time_chart(curve: pd.DataFrame, height: int = 220) -> alt.Chart:
    """Seconds per step (mean over each plotted bucket) against the step."""
    return (
        alt.Chart(curve)
        .mark_line(point=len(curve) < 30)
        .encode(
            x=alt.X("step:Q", title="iteration"),
            y=alt.Y("step_seconds:Q", title="seconds per step"),
            tooltip=[
                "step:Q",
                alt.Tooltip("step_seconds:Q", format=".3f"),
                alt.Tooltip("elapsed_seconds:Q", format=".1f"),
            ],
        )
        .properties(height=height)
    )


def lr_chart(table: pd.DataFrame, y: str, y_title: str, log: bool = False) -> alt.Chart:
    """Final loss against learning rate, one line per backbone."""
    data = _positive(table, y, log)
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("learning_rate:Q", title="learning rate"),
            y=alt.Y(f"{y}:Q", title=y_title, scale=_y_scale(log)),
            color=alt.Color("backbone:N", title="backbone"),
            tooltip=["backbone:N", "learning_rate:Q", alt.Tooltip(f"{y}:Q", format=".4g"), "runs:Q"],
        )
        .properties(height=260)
    )


def _band(long: pd.DataFrame, log: bool) -> pd.DataFrame:
    """Rows with a spread, with `lo`/`hi` = mean ∓ std (a log axis drops lo <= 0)."""
    band = long[long["std"].notna()].assign(lo=lambda d: d["mean"] - d["std"], hi=lambda d: d["mean"] + d["std"])
    return band[band["lo"] > 0] if log else band


def _study_tooltip(x_title: str) -> list:
    return [
        alt.Tooltip("series:N", title="variant"),
        alt.Tooltip("x", title=x_title),
        alt.Tooltip("mean:Q", title="mean", format=".4g"),
        alt.Tooltip("std:Q", title="std", format=".3g"),
    ]


def study_line_chart(
    long: pd.DataFrame, x_title: str, y_title: str, log: bool = False, x_format: str = "d"
) -> alt.LayerChart:
    """A study table as lines (x quantitative, one line per variant) with a mean ± std
    band where a value averages more than one run."""
    data = _positive(long, "mean", log)
    x_axis = alt.Axis(format=x_format, tickMinStep=1)
    order = list(dict.fromkeys(data["series"]))  # legend in the table's column order
    base = alt.Chart(data).encode(
        x=alt.X("x:Q", title=x_title, axis=x_axis), color=alt.Color("series:N", title="variant", sort=order)
    )
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", title=y_title, scale=_y_scale(log)), tooltip=_study_tooltip(x_title)
    )
    band = (
        alt.Chart(_band(data, log))
        .mark_area(opacity=0.2)
        .encode(
            x="x:Q",
            y=alt.Y("lo:Q", scale=_y_scale(log)),
            y2="hi:Q",
            color=alt.Color("series:N", sort=order),
            tooltip=_study_tooltip(x_title),
        )
    )
    return alt.layer(band, line).properties(height=280)


def study_dot_chart(long: pd.DataFrame, x_title: str, y_title: str, log: bool = False) -> alt.LayerChart:
    """A study table as dots (one per variant or layer set) with mean ± std error bars;
    dots rather than bars, so that a log axis (which has no zero) works too."""
    data = _positive(long, "mean", log)
    order = list(dict.fromkeys(data["x"]))  # the table's order, whichever layer has which rows
    x = alt.X("x:N", title=x_title, sort=order, axis=alt.Axis(labelLimit=220, labelAngle=0))
    dots = (
        alt.Chart(data)
        .mark_point(filled=True, size=140)
        .encode(
            x=x,
            y=alt.Y("mean:Q", title=y_title, scale=_y_scale(log)),
            color=alt.Color("series:N", title="variant", sort=None, legend=None),
            tooltip=_study_tooltip(x_title),
        )
    )
    errors = (
        alt.Chart(_band(data, log))
        .mark_rule(color="black", strokeWidth=1.5)
        .encode(x=x, y=alt.Y("lo:Q", title=y_title, scale=_y_scale(log)), y2="hi:Q", tooltip=_study_tooltip(x_title))
    )
    return alt.layer(errors, dots).properties(height=280)


def metric_bars(long: pd.DataFrame) -> alt.FacetChart:
    """Fair metrics: one small bar chart per metric (its own y scale), a bar per
    variant/producer with mean ± std error bars. `long`: metric, series, mean, std."""
    data = long.assign(lo=long["mean"] - long["std"].fillna(0), hi=long["mean"] + long["std"].fillna(0))
    tooltip = [
        alt.Tooltip("metric:N"),
        alt.Tooltip("series:N", title="variant"),
        alt.Tooltip("mean:Q", format=".4g"),
        alt.Tooltip("std:Q", format=".3g"),
    ]
    base = alt.Chart().encode(x=alt.X("series:N", title=None, sort=None, axis=alt.Axis(labelLimit=160)))
    bars = base.mark_bar().encode(
        y=alt.Y("mean:Q", title=None), color=alt.Color("series:N", title="variant", sort=None), tooltip=tooltip
    )
    errors = base.mark_rule(color="black", strokeWidth=1.5).encode(y="lo:Q", y2="hi:Q", tooltip=tooltip)
    order = list(dict.fromkeys(long["metric"]))
    return (
        alt.layer(bars, errors, data=data)
        .properties(width=180, height=160)
        .facet(facet=alt.Facet("metric:N", title=None, sort=order), columns=3)
        .resolve_scale(y="independent")
    )


def cross_eval_heatmap(long: pd.DataFrame) -> alt.Chart:
    """Producer x judge: colour = value ÷ the best (lowest) value under that judge, so
    cells compare within a judge's column only. `long`: producer, judge, value, relative."""
    tooltip = [
        "producer:N",
        "judge:N",
        alt.Tooltip("value:Q", title="mean loss", format=".4g"),
        alt.Tooltip("relative:Q", title="÷ best under this judge", format=".3g"),
    ]
    return (
        alt.Chart(long)
        .mark_rect()
        .encode(
            x=alt.X("judge:N", title="judge (whose losses score the output)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("producer:N", title="producer"),
            color=alt.Color("relative:Q", title="÷ best", scale=alt.Scale(scheme="orangered")),
            tooltip=tooltip,
        )
    )  # no fixed height: Streamlit then collapses a nominal y axis

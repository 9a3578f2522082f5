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


def overlay_chart(
    curves: pd.DataFrame,
    y: str,
    y_title: str,
    color: str = "run",
    log: bool = False,
    height: int = 300,
) -> alt.Chart:
    """One line per run of `y` against the step, coloured by `color` (a column of
    `curves`, e.g. "run" or "backbone"); runs sharing a colour stay separate lines."""
    data = _positive(curves, y, log)
    tooltip = ["run:N", "backbone:N", "learning_rate:Q", "step:Q", alt.Tooltip(f"{y}:Q", format=".4g")]
    return (
        alt.Chart(data)
        .mark_line(point=len(data) < 60)
        .encode(
            x=alt.X("step:Q", title="iteration"),
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

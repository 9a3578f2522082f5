"""Altair charts of run curves. Every chart takes long-form data (one row per point)
and has tooltips and a legend keyed by a run parameter.

Colours (issue 11 #7): one colour per series across a page. `color_scale(values)` gives
one `alt.Scale` (domain = the series values in a fixed order, one range) that a page
passes to every chart it draws; backbones (and their feature-transform variants) always
get the colour of `BACKBONE_COLORS`, on every page (Run detail and the live view too).

Vega warnings (issue 11 #15): a log scale never sees zero, negative or NaN values
(`_positive`), a layer is never drawn without data (an empty band would give "Infinite
extent"), and charts with a discrete axis have an explicit size (else Vega drops
Streamlit's "fit" autosize with "Dropping fit-y").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from engine.backbones import BACKBONES
from store.stats import t_quantile

LOSS_PARTS = {"total_loss": "total", "content_loss": "content", "style_loss": "style"}

# Tableau 10: the palette of every categorical colour on the dashboard.
PALETTE = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
)
# A backbone keeps its colour on every chart of every page (and its SWAG variants a
# colour of their own): VGG16 blue, ResNet50 orange.
BACKBONE_COLORS = {
    "vgg16": PALETTE[0],
    "resnet50": PALETTE[1],
    "resnet50+softmax": PALETTE[3],
    "resnet50+softmax-std": PALETTE[6],
    "vgg16+softmax": PALETTE[4],
    "vgg16+softmax-std": PALETTE[8],
}
# The loss terms of one run (Run detail, live view): fixed colours, none a backbone's.
PART_COLORS = {"total": "#333333", "content": PALETTE[2], "style": PALETTE[3], "tv": PALETTE[5]}
STEP_AXIS = {"format": "d", "tickMinStep": 1}  # steps are integers: never "1.000000"


# A series named for a backbone as reports print it ("VGG16", "ResNet50 loss" in the study
# tables) is that backbone: same colour as its key.
_BY_LABEL = {b.label: name for name, b in BACKBONES.items()}


def _backbone_key(series: str) -> str | None:
    """The `BACKBONE_COLORS` key a series stands for: the key itself, or a backbone's
    label alone or followed by " loss" (the study tables' columns)."""
    if series in BACKBONE_COLORS:
        return series
    return _BY_LABEL.get(series.removesuffix(" loss"))


def backbone_color(backbone: str) -> str:
    """The colour of a backbone (or variant such as "resnet50+softmax") on every chart."""
    return BACKBONE_COLORS.get(str(backbone), PALETTE[len(BACKBONE_COLORS) % len(PALETTE)])


def _sort_key(value: Any) -> tuple:
    """Numbers in numeric order ("2" before "10"), then text."""
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def series_colors(values: Iterable[Any], ordered: bool = False) -> dict[str, str]:
    """{series (as text): colour} for the distinct `values`, sorted (numbers numerically)
    unless `ordered`: backbones get `BACKBONE_COLORS`, every other value the palette's
    colours in order, never VGG16's or ResNet50's (blue and orange mean those backbones on
    every page) nor those of other backbone variants shown."""
    keys = list(dict.fromkeys(str(v) for v in values))
    if not ordered:
        keys.sort(key=_sort_key)
    taken = {BACKBONE_COLORS["vgg16"], BACKBONE_COLORS["resnet50"]}
    taken |= {BACKBONE_COLORS[b] for k in keys if (b := _backbone_key(k))}
    free = [c for c in PALETTE if c not in taken] or list(PALETTE)
    out, i = {}, 0
    for key in keys:
        if backbone := _backbone_key(key):
            out[key] = BACKBONE_COLORS[backbone]
        else:
            out[key] = free[i % len(free)]
            i += 1
    return out


def color_scale(values: Iterable[Any], ordered: bool = False) -> alt.Scale:
    """One colour scale for a page: domain = the series values (as text, see
    `series_colors`), range = their colours. Pass it to every chart of the page."""
    colors = series_colors(values, ordered)
    return alt.Scale(domain=list(colors), range=list(colors.values()))


def _y_scale(log: bool) -> alt.Scale:
    return alt.Scale(type="log") if log else alt.Scale(type="linear", zero=False)


def _finite(df: pd.DataFrame, column: str) -> pd.DataFrame:
    values = pd.to_numeric(df[column], errors="coerce")
    return df[np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))]


def _positive(df: pd.DataFrame, column: str, log: bool) -> pd.DataFrame:
    """Rows a y axis can show: finite values, and only positive ones on a log axis
    (zero, negatives or NaN on a log scale give Vega's "Infinite extent")."""
    data = _finite(df, column)
    return data[data[column] > 0] if log else data


def _step_x(field: str = "step", title: str = "iteration") -> alt.X:
    return alt.X(f"{field}:Q", title=title, axis=alt.Axis(**STEP_AXIS))


def _x(x: str) -> alt.X:
    """The x encoding of a curve: integer ticks for steps, seconds otherwise."""
    if x == "step":
        return _step_x()
    return alt.X(f"{x}:Q", title=X_AXES.get(x, x))


def loss_parts(curve: pd.DataFrame, log: bool = True) -> pd.DataFrame:
    """The curve's loss terms in long form (step, part, loss) as `loss_parts_chart` draws
    them: the content term starts at step 2 when there are later steps (an output that
    starts from the photo has a content loss of ~0 at step 1, e.g. 4e-8, which would
    flatten the rest of the curve on a log axis), and a log axis drops values <= 0."""
    parts = [c for c in LOSS_PARTS if c in curve.columns]
    long = curve.melt(id_vars=["step"], value_vars=parts, var_name="part", value_name="loss")
    long["part"] = long["part"].map(LOSS_PARTS)
    if curve["step"].nunique() > 1:
        first = curve["step"].min()
        long = long[~((long["part"] == "content") & (long["step"] == first))]
    return _positive(long, "loss", log).reset_index(drop=True)


def loss_parts_chart(curve: pd.DataFrame, log: bool = True, height: int = 260) -> alt.VConcatChart:
    """Total, content and style loss of one run against the step: one panel per term,
    each with its own y scale (the terms differ by orders of magnitude), integer step
    ticks, the content term from step 2 (see `loss_parts`). `height` is the height of
    the whole stack."""
    long = loss_parts(curve, log)
    names = [p for p in LOSS_PARTS.values() if p in set(long["part"])] or ["total"]
    panel = max(70, int(height) // len(names))
    charts = []
    for i, name in enumerate(names):
        data = long[long["part"] == name]
        title = f"{name} loss" + (" (from step 2)" if name == "content" and curve["step"].nunique() > 1 else "")
        x = alt.X("step:Q", title="iteration" if i == len(names) - 1 else None, axis=alt.Axis(**STEP_AXIS))
        charts.append(
            alt.Chart(data)
            .mark_line(point=len(data) < 30, color=PART_COLORS[name])
            .encode(
                x=x,
                y=alt.Y("loss:Q", title=title, scale=_y_scale(log), axis=alt.Axis(format=".2~g")),
                tooltip=["step:Q", "part:N", alt.Tooltip("loss:Q", format=".4g")],
            )
            .properties(height=panel)
        )
    return alt.vconcat(*charts, spacing=6).resolve_scale(x="shared")


X_AXES = {"step": "iteration", "elapsed_seconds": "seconds since the run started"}


def overlay_chart(
    curves: pd.DataFrame,
    y: str,
    y_title: str,
    color: str = "run",
    log: bool = False,
    height: int = 300,
    x: str = "step",
    scale: alt.Scale | None = None,
) -> alt.Chart:
    """One line per run of `y` against `x` (the step, or `elapsed_seconds` to compare
    optimisers by wall time), coloured by `color` (a column of `curves`, e.g. "run" or
    "backbone"); runs sharing a colour stay separate lines. `scale`: the page's colour
    scale (`color_scale`); by default one is built from the column's values."""
    data = _positive(curves, y, log)
    if scale is None:
        scale = color_scale(curves[color]) if color in curves.columns else alt.Undefined
        data = data.assign(**{color: data[color].astype(str)}) if color in data.columns else data
    tooltip = [c for c in ("run:N", "backbone:N", "learning_rate:Q") if c.split(":")[0] in data.columns]
    tooltip += ["step:Q", alt.Tooltip(f"{y}:Q", format=".4g")]
    return (
        alt.Chart(data)
        .mark_line(point=len(data) < 60)
        .encode(
            x=_x(x),
            y=alt.Y(f"{y}:Q", title=y_title, scale=_y_scale(log)),
            color=alt.Color(f"{color}:N", title=color.replace("_", " "), scale=scale),
            detail="run_id:N" if "run_id" in data.columns else "run:N",
            tooltip=tooltip,
        )
        .properties(height=height)
    )


def interval(mean: pd.Series, std: pd.Series, n: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(low, high) of a 95 % Student t interval of a mean of `n` values (NaN for n < 2)."""
    t = n.map(lambda k: t_quantile(int(k) - 1) if k >= 2 else math.nan)
    half = t * std / np.sqrt(n.where(n > 0))
    return mean - half, mean + half


def group_chart(
    long: pd.DataFrame,
    y_title: str,
    log: bool = False,
    x: str = "step",
    scale: alt.Scale | None = None,
    height: int = 300,
    group_title: str = "group",
) -> alt.Chart | alt.LayerChart:
    """Group-level curves: one line per group (`group`) of the mean (`mean`) against `x`,
    with a band for the 95 % interval (`lo`, `hi`) where a point averages >= 2 runs
    (`n`, in the tooltip). No band layer when no point has an interval."""
    data = _positive(long, "mean", log)
    color = alt.Color("group:N", title=group_title, scale=scale if scale is not None else color_scale(data["group"]))
    tooltip = [
        alt.Tooltip("group:N", title=group_title),
        alt.Tooltip(f"{x}:Q", title=X_AXES.get(x, x), format="d" if x == "step" else ".3g"),
        alt.Tooltip("mean:Q", format=".4g"),
        alt.Tooltip("lo:Q", title="95 % low", format=".4g"),
        alt.Tooltip("hi:Q", title="95 % high", format=".4g"),
        alt.Tooltip("n:Q", title="runs (n)"),
    ]
    line = (
        alt.Chart(data)
        .mark_line(point=len(data) < 60)
        .encode(x=_x(x), y=alt.Y("mean:Q", title=y_title, scale=_y_scale(log)), color=color, tooltip=tooltip)
        .properties(height=height)
    )
    band = _finite(_finite(data, "lo"), "hi")
    if log:
        band = band[band["lo"] > 0]
    if band.empty:
        return line
    area = (
        alt.Chart(band)
        .mark_area(opacity=0.2)
        .encode(x=_x(x), y=alt.Y("lo:Q", scale=_y_scale(log)), y2="hi:Q", color=color, tooltip=tooltip)
    )
    return alt.layer(area, line).properties(height=height)


def step_time_chart(curve: pd.DataFrame, height: int = 220, backbone: str | None = None) -> alt.Chart:
    """Seconds per step (mean over each plotted bucket) against the step; drawn in the
    backbone's colour when `backbone` is given."""
    return (
        alt.Chart(_finite(curve, "step_seconds"))
        .mark_line(point=len(curve) < 30, color=backbone_color(backbone) if backbone else PALETTE[0])
        .encode(
            x=_step_x(),
            y=alt.Y("step_seconds:Q", title="seconds per step"),
            tooltip=[
                "step:Q",
                alt.Tooltip("step_seconds:Q", format=".3f"),
                alt.Tooltip("elapsed_seconds:Q", format=".1f"),
            ],
        )
        .properties(height=height)
    )


def lr_chart(
    table: pd.DataFrame,
    y: str,
    y_title: str,
    log: bool = False,
    color: str = "backbone",
    scale: alt.Scale | None = None,
) -> alt.Chart:
    """Output loss (or a ratio of it) against learning rate, one line per `color`
    (backbone by default, in the backbones' colours)."""
    data = _positive(table, y, log).assign(**{color: lambda d: d[color].astype(str)})
    scale = scale if scale is not None else color_scale(data[color])
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("learning_rate:Q", title="learning rate"),
            y=alt.Y(f"{y}:Q", title=y_title, scale=_y_scale(log)),
            color=alt.Color(f"{color}:N", title=color.replace("_", " "), scale=scale),
            tooltip=[f"{color}:N", "learning_rate:Q", alt.Tooltip(f"{y}:Q", format=".4g"), "runs:Q"],
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
) -> alt.Chart | alt.LayerChart:
    """A study table as lines (x quantitative, one line per variant) with a mean ± std
    band where a value averages more than one run (no band layer when none does)."""
    data = _positive(long, "mean", log)
    x_axis = alt.Axis(format=x_format, tickMinStep=1)
    order = list(dict.fromkeys(data["series"]))  # legend in the table's column order
    scale = color_scale(order, ordered=True)
    base = alt.Chart(data).encode(
        x=alt.X("x:Q", title=x_title, axis=x_axis),
        color=alt.Color("series:N", title="variant", sort=order, scale=scale),
    )
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", title=y_title, scale=_y_scale(log)), tooltip=_study_tooltip(x_title)
    )
    spread = _band(data, log)
    if spread.empty:
        return line.properties(height=280)
    band = (
        alt.Chart(spread)
        .mark_area(opacity=0.2)
        .encode(
            x="x:Q",
            y=alt.Y("lo:Q", scale=_y_scale(log)),
            y2="hi:Q",
            color=alt.Color("series:N", sort=order, scale=scale),
            tooltip=_study_tooltip(x_title),
        )
    )
    return alt.layer(band, line).properties(height=280)


def study_dot_chart(long: pd.DataFrame, x_title: str, y_title: str, log: bool = False) -> alt.Chart | alt.LayerChart:
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
            color=alt.Color(
                "series:N", title="variant", sort=None, legend=None, scale=color_scale(data["series"], ordered=True)
            ),
            tooltip=_study_tooltip(x_title),
        )
    )
    spread = _band(data, log)
    if spread.empty:
        return dots.properties(height=280)
    errors = (
        alt.Chart(spread)
        .mark_rule(color="black", strokeWidth=1.5)
        .encode(x=x, y=alt.Y("lo:Q", title=y_title, scale=_y_scale(log)), y2="hi:Q", tooltip=_study_tooltip(x_title))
    )
    return alt.layer(errors, dots).properties(height=280)


def metric_bars(long: pd.DataFrame) -> alt.FacetChart:
    """Fair metrics: one small bar chart per metric (its own y scale), a bar per
    variant/producer with mean ± std error bars. `long`: metric, series, mean, std.
    Explicit panel sizes: a facet gets no container fit from Streamlit."""
    data = _finite(long, "mean")
    data = data.assign(lo=data["mean"] - data["std"].fillna(0), hi=data["mean"] + data["std"].fillna(0))
    tooltip = [
        alt.Tooltip("metric:N"),
        alt.Tooltip("series:N", title="variant"),
        alt.Tooltip("mean:Q", format=".4g"),
        alt.Tooltip("std:Q", format=".3g"),
    ]
    base = alt.Chart().encode(x=alt.X("series:N", title=None, sort=None, axis=alt.Axis(labelLimit=160)))
    scale = color_scale(data["series"], ordered=True)
    bars = base.mark_bar().encode(
        y=alt.Y("mean:Q", title=None),
        color=alt.Color("series:N", title="variant", sort=None, scale=scale),
        tooltip=tooltip,
    )
    errors = base.mark_rule(color="black", strokeWidth=1.5).encode(y="lo:Q", y2="hi:Q", tooltip=tooltip)
    order = list(dict.fromkeys(data["metric"]))
    return (
        alt.layer(bars, errors, data=data)
        .properties(width=180, height=160)
        .facet(facet=alt.Facet("metric:N", title=None, sort=order), columns=3)
        .resolve_scale(y="independent")
    )


def cross_eval_heatmap(long: pd.DataFrame) -> alt.Chart:
    """Producer x judge: colour = value ÷ the best (lowest) value under that judge, so
    cells compare within a judge's column only. `long`: producer, judge, value, relative.
    An explicit height (a row per producer): a nominal y without one makes Vega drop
    Streamlit's fit autosize ("Dropping fit-y")."""
    tooltip = [
        "producer:N",
        "judge:N",
        alt.Tooltip("value:Q", title="mean loss", format=".4g"),
        alt.Tooltip("relative:Q", title="÷ best under this judge", format=".3g"),
    ]
    rows = max(1, long["producer"].nunique()) if "producer" in long.columns else 1
    return (
        alt.Chart(long)
        .mark_rect()
        .encode(
            x=alt.X("judge:N", title="judge (whose losses score the output)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("producer:N", title="producer"),
            color=alt.Color("relative:Q", title="÷ best", scale=alt.Scale(scheme="orangered")),
            tooltip=tooltip,
        )
        .properties(height=48 * rows + 20)
    )

"""Fair metrics in the store (`run_metrics`, long format): storing them, reading them back
per run or per study, and the paired statistics between producers (backbone, plus
"+ <transform>" when a feature transform was on) that verdicts rest on.

`engine.metrics` computes the values; this module stores them and, per metric and judge,
compares every pair of producers: the number of pairs, the mean paired effect and its
95 % interval (`store.stats`), and the better producer when the interval is clear.
Verdicts only use network-free metrics and neutral judges (networks that produced neither
output); the cross-evaluation by the producers' own losses is shown, never judged on.
The sentences that say all this, and the names reports give backbones and judges, are
written in `workbench.verdicts`. Nothing here is hard-coded about which backbone wins.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from store.db import connect
from store.queries import VARIANT_SQL
from store.runs import utcnow
from store.stats import Interval, paired_interval
from store.studies import CELL_RUNS_SQL

# Metric groups: what a value rests on, and so whether a verdict may use it.
NETWORK_FREE, NEUTRAL, CROSS_EVAL, OWN_LOSS = "network-free", "neutral judge", "cross-evaluation", "own loss"


@dataclass(frozen=True)
class MetricInfo:
    """How to read a metric: its label, which direction is better, whether producers are
    compared by ratio (positive values: geometric mean of A/B) or by difference, the
    verdict's phrase, its group and whether verdicts use it."""

    label: str
    better: str  # "lower" | "higher"
    compare: str  # "ratio" | "diff"
    phrase: str  # "<producer> outputs <phrase> than <other> outputs"
    group: str = NETWORK_FREE
    verdict: bool = False


METRICS: dict[str, MetricInfo] = {
    # Verdicts rest on these: no network, or a network that produced neither output.
    "ssim": MetricInfo(
        "SSIM to the content", "higher", "diff", "keep the content's structure (SSIM) better", NETWORK_FREE, True
    ),
    "edge_corr": MetricInfo(
        "edge correlation", "higher", "diff", "keep the content's edges better", NETWORK_FREE, True
    ),
    "color_ratio": MetricInfo(
        "colour distance ratio (output→style ÷ photo→style)",
        "lower",
        "ratio",
        "come closer to the style's colours",
        NETWORK_FREE,
        True,
    ),
    "texture_ratio": MetricInfo(
        "texture distance ratio (output→style ÷ photo→style)",
        "lower",
        "ratio",
        "come closer to the style's texture",
        NETWORK_FREE,
        True,
    ),
    "grid_ratio": MetricInfo(
        "2-pixel grid energy ÷ the photo's", "lower", "ratio", "show fewer grid artefacts", NETWORK_FREE, True
    ),
    "neutral_style_distance": MetricInfo(
        "neutral style distance", "lower", "ratio", "match the style better", NEUTRAL, True
    ),
    "neutral_content_distance": MetricInfo(
        "neutral content distance", "lower", "ratio", "keep the content better", NEUTRAL, True
    ),
    # The raw distances behind the ratios (each pair shares its photo and style, so the
    # ratios carry the same comparison, normalised).
    "color_w2": MetricInfo(
        "colour distance to the style (Lab)", "lower", "ratio", "match the style's colours better", NETWORK_FREE
    ),
    "texture_swd": MetricInfo(
        "texture distance to the style (SWD)", "lower", "ratio", "match the style's texture better", NETWORK_FREE
    ),
    # Each judge favours outputs made with its own objective: shown, never judged on.
    "judge_style_loss": MetricInfo("style loss", "lower", "ratio", "match the style better", CROSS_EVAL),
    "judge_content_loss": MetricInfo("content loss", "lower", "ratio", "keep the content better", CROSS_EVAL),
    "judge_total_loss": MetricInfo("total loss", "lower", "ratio", "score better overall", CROSS_EVAL),
    # Each run on its own loss: how it converged, not how good its output is.
    "loss_ratio_final": MetricInfo("output ÷ step-1 loss", "lower", "ratio", "reduce their own loss further", OWN_LOSS),
    "iters_to_90": MetricInfo(
        "iterations to 90 % of the drop", "lower", "diff", "reach 90 % of their loss drop sooner", OWN_LOSS
    ),
    "iters_to_99": MetricInfo(
        "iterations to 99 % of the drop", "lower", "diff", "reach 99 % of their loss drop sooner", OWN_LOSS
    ),
}
CROSS_EVAL_METRICS = tuple(m for m, i in METRICS.items() if i.group == CROSS_EVAL)
FAIR_METRICS = tuple(m for m, i in METRICS.items() if i.group != CROSS_EVAL)


def put_metrics(db: Any, run_id: int, rows: list[tuple[str, str, float | None, str]]) -> None:
    """Replace a run's metrics with `rows` of (metric, judge, value, detail); NaN is stored
    as NULL (the detail says why)."""
    now = utcnow()
    clean = [[run_id, m, j, None if v is None or not math.isfinite(v) else float(v), d, now] for m, j, v, d in rows]
    with connect(db) as con:
        con.execute("DELETE FROM run_metrics WHERE run_id = ?", [run_id])
        if clean:
            con.executemany("INSERT INTO run_metrics VALUES (?, ?, ?, ?, ?, ?)", clean)


def get_metrics(db: Any, run_ids: list[int]) -> pd.DataFrame:
    """Long rows (run_id, metric, judge, value, detail) of the given runs."""
    with connect(db) as con:
        return con.execute(
            "SELECT run_id, metric, judge, value, detail FROM run_metrics "
            "WHERE list_contains(?, run_id) ORDER BY run_id, metric, judge",
            [list(run_ids)],
        ).df()


def metric_column(metric: str, judge: str) -> str:
    """Column name of a metric in wide tables: 'judge_style_loss [vgg16]' or 'ssim'."""
    return f"{metric} [{judge}]" if judge else metric


def metrics_wide(db: Any, run_ids: list[int]) -> pd.DataFrame:
    """One row per run, one column per metric (and judge): the Compare page's view."""
    long = get_metrics(db, run_ids)
    if long.empty:
        return pd.DataFrame({"run_id": list(run_ids)})
    long["column"] = [metric_column(m, j) for m, j in zip(long["metric"], long["judge"], strict=True)]
    wide = long.pivot(index="run_id", columns="column", values="value").reset_index()
    wide.columns.name = None
    return wide


def runs_for_metrics(db: Any, missing_only: bool = False) -> list[int]:
    """Finished runs with an output image (only those without metrics if `missing_only`)."""
    with connect(db) as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT id FROM runs WHERE status = 'finished' AND output_image IS NOT NULL "
                "AND (NOT ? OR id NOT IN (SELECT run_id FROM run_metrics)) ORDER BY id",
                [missing_only],
            ).fetchall()
        ]


def fair_table(db: Any, study_id: int, variants: list[str], metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """A row per variant, a column per metric (mean over its cells, plus std columns when
    a variant has more than one run): the study's fair-metrics table. `metrics` picks
    which (e.g. `FAIR_METRICS` or `CROSS_EVAL_METRICS`; default all), in `METRICS` order."""
    with connect(db) as con:
        long = con.execute(
            f"""SELECT r.study_variant AS variant, m.metric, m.judge, avg(m.value) AS mean,
                    stddev_samp(m.value) AS std, count(m.value) AS n
                FROM ({CELL_RUNS_SQL}) r JOIN run_metrics m ON m.run_id = r.id GROUP BY ALL""",
            [study_id],
        ).df()
    frame = pd.DataFrame({"variant": variants})
    long = long[long["n"] > 0]  # a judge skipped on every run has no column (`skipped_judges` says why)
    if long.empty:
        return frame
    with_std = long["n"].max() > 1
    wanted = set(METRICS if metrics is None else metrics)
    for metric in (m for m in METRICS if m in wanted):
        for judge in sorted(long.loc[long["metric"] == metric, "judge"].unique()):
            part = long[(long["metric"] == metric) & (long["judge"] == judge)].set_index("variant")
            col = metric_column(metric, judge)
            frame[col] = frame["variant"].map(part["mean"]).astype(float)
            if with_std:
                frame[f"{col} std"] = frame["variant"].map(part["std"]).astype(float)
    return frame


def skipped_judges(db: Any, study_id: int) -> dict[str, str]:
    """{judge: why} for judges that were skipped on at least one of the study's finished
    cells (the first reason stored), so a report can say which judges are missing."""
    with connect(db) as con:
        rows = con.execute(
            f"""SELECT m.judge, min(m.detail) FROM ({CELL_RUNS_SQL}) r JOIN run_metrics m ON m.run_id = r.id
                WHERE m.value IS NULL AND m.judge <> '' AND m.detail LIKE 'skipped:%' GROUP BY m.judge ORDER BY 1""",
            [study_id],
        ).fetchall()
    return dict(rows)


def paired_values(
    db: Any, study_id: int | None = None, run_ids: list[int] | None = None, by_variant: bool = False
) -> pd.DataFrame:
    """Metric values per (producer, content, style, seed, metric, judge), averaged over any
    other settings (e.g. learning rates): the units that producers are paired on. With
    `by_variant` a study's variants are the producers (two variants of one backbone, as in
    the resnet-fix preset, are then told apart)."""
    # A producer is a backbone plus its feature transform, if any ('resnet50+softmax-std'):
    # the key the study tables and Compare's grouping use too.
    producer = "r.study_variant" if by_variant else VARIANT_SQL
    source, params = (f"({CELL_RUNS_SQL})", [study_id]) if study_id is not None else ("runs", [])
    where = "" if run_ids is None else "WHERE list_contains(?, r.id)"
    params += [] if run_ids is None else [list(run_ids)]
    with connect(db) as con:
        return con.execute(
            f"""SELECT {producer} AS producer, r.content_image, r.style_image, r.seed,
                    m.metric, m.judge, avg(m.value) AS value
                FROM {source} r JOIN run_metrics m ON m.run_id = r.id {where}
                GROUP BY ALL HAVING count(m.value) > 0""",
            params,
        ).df()


COMPARISON_COLUMNS = ["metric", "judge", "a", "b", "n", "estimate", "low", "high", "clear", "better"]


def _effects(a: np.ndarray, b: np.ndarray, info: MetricInfo) -> np.ndarray:
    """Paired effects of A vs B: log(A/B) for ratio metrics (both positive), else A - B."""
    if info.compare == "ratio":
        ok = (a > 0) & (b > 0)
        return np.log(a[ok] / b[ok])
    return a - b


def _winner(iv: Interval, info: MetricInfo, a: str, b: str) -> str:
    """The better producer when the interval excludes no difference, else ''."""
    if not iv.clear:
        return ""
    a_better = iv.mean < 0 if info.better == "lower" else iv.mean > 0
    return a if a_better else b


def _usable(metric: str, judge: str, a: str, b: str) -> bool:
    """Verdict metrics only, and never under a judge that produced either output."""
    info = METRICS.get(metric)
    producers = {a.partition("+")[0], b.partition("+")[0]}
    return info is not None and info.verdict and judge not in producers


def compare_producers(values: pd.DataFrame, order: list[str] | None = None) -> pd.DataFrame:
    """Every pair of producers, for every verdict metric and judge: the number of pairs,
    the mean paired effect (A - B, or log A/B for ratio metrics), its 95 % interval,
    whether that excludes no difference, and the better producer if so."""
    if values.empty:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    producers = order or sorted(values["producer"].unique())
    rows = []
    for (metric, judge), part in values.groupby(["metric", "judge"]):
        wide = part.pivot_table(index=["content_image", "style_image", "seed"], columns="producer", values="value")
        for a, b in combinations([p for p in producers if p in wide.columns], 2):
            if not _usable(metric, judge, a, b):
                continue
            both = wide[[a, b]].dropna()
            iv = paired_interval(_effects(both[a].to_numpy(float), both[b].to_numpy(float), METRICS[metric]))
            if iv is None:
                continue
            winner = _winner(iv, METRICS[metric], a, b)
            rows.append([metric, judge, a, b, iv.n, iv.mean, iv.low, iv.high, iv.clear, winner])
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def compares_variants(spec: dict[str, Any]) -> bool:
    """Whether a study's verdicts pair its variants rather than its backbones (`compare_by`
    in the spec, set by presets whose variants share a backbone)."""
    return spec.get("compare_by") == "variant"

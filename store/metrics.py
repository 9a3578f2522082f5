"""Fair metrics in the store (`run_metrics`, long format) and what a report says about them.

`engine.metrics` computes the values; this module stores them, reads them back per run or
per study, and turns paired comparisons between producers (backbone, plus "+ softmax"
when the feature transform was on) into one computed sentence per metric: who is better,
by how much, and with what spread. Nothing here is hard-coded about which backbone wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from store.db import connect
from store.runs import utcnow
from store.studies import CELL_RUNS_SQL


@dataclass(frozen=True)
class MetricInfo:
    """How to read a metric: its label, which direction is better, and whether producers
    are compared by ratio (positive values on a judge's own scale) or by difference."""

    label: str
    better: str  # "lower" | "higher"
    compare: str  # "ratio" | "diff"
    phrase: str  # "<producer> outputs <phrase>"


METRICS: dict[str, MetricInfo] = {
    "judge_style_loss": MetricInfo("style loss", "lower", "ratio", "match the style better"),
    "judge_content_loss": MetricInfo("content loss", "lower", "ratio", "keep the content better"),
    "judge_total_loss": MetricInfo("total loss", "lower", "ratio", "score better overall"),
    "ssim": MetricInfo("SSIM to the content", "higher", "diff", "keep the content's structure (SSIM) better"),
    "edge_corr": MetricInfo("edge correlation", "higher", "diff", "keep the content's edges better"),
    "color_w2": MetricInfo("colour distance to the style (Lab)", "lower", "diff", "match the style's colours better"),
    "loss_ratio_final": MetricInfo("final / first loss", "lower", "ratio", "reduce their own loss further"),
    "iters_to_90": MetricInfo(
        "iterations to 90 % of the drop", "lower", "diff", "reach 90 % of their loss drop sooner"
    ),
    "iters_to_99": MetricInfo(
        "iterations to 99 % of the drop", "lower", "diff", "reach 99 % of their loss drop sooner"
    ),
}
# Report names of backbones; the store does not import the engine, unknown names show as-is.
DISPLAY = {"vgg16": "VGG16", "resnet50": "ResNet50"}
PRODUCER_SQL = "CASE WHEN r.feature_transform = 'softmax' THEN r.backbone || '+softmax' ELSE r.backbone END"


def display(producer: str) -> str:
    """'resnet50+softmax' -> 'ResNet50 + softmax'."""
    name, _, extra = producer.partition("+")
    return DISPLAY.get(name, name) + (f" + {extra}" if extra else "")


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


def fair_table(db: Any, study_id: int, variants: list[str]) -> pd.DataFrame:
    """A row per variant, a column per metric (mean over its cells, plus std columns when
    a variant has more than one run): the study's fair-metrics table."""
    with connect(db) as con:
        long = con.execute(
            f"""SELECT r.study_variant AS variant, m.metric, m.judge, avg(m.value) AS mean,
                    stddev_samp(m.value) AS std, count(m.value) AS n
                FROM ({CELL_RUNS_SQL}) r JOIN run_metrics m ON m.run_id = r.id GROUP BY ALL""",
            [study_id],
        ).df()
    frame = pd.DataFrame({"variant": variants})
    if long.empty:
        return frame
    with_std = long["n"].max() > 1
    for metric in METRICS:
        for judge in sorted(long.loc[long["metric"] == metric, "judge"].unique()):
            part = long[(long["metric"] == metric) & (long["judge"] == judge)].set_index("variant")
            col = metric_column(metric, judge)
            frame[col] = frame["variant"].map(part["mean"]).astype(float)
            if with_std:
                frame[f"{col} std"] = frame["variant"].map(part["std"]).astype(float)
    return frame


def paired_values(db: Any, study_id: int | None = None, run_ids: list[int] | None = None) -> pd.DataFrame:
    """Metric values per (producer, content, style, seed, metric, judge), averaged over any
    other settings (e.g. learning rates): the units that producers are paired on."""
    source, params = (f"({CELL_RUNS_SQL})", [study_id]) if study_id is not None else ("runs", [])
    where = "" if run_ids is None else "WHERE list_contains(?, r.id)"
    params += [] if run_ids is None else [list(run_ids)]
    with connect(db) as con:
        return con.execute(
            f"""SELECT {PRODUCER_SQL} AS producer, r.content_image, r.style_image, r.seed,
                    m.metric, m.judge, avg(m.value) AS value
                FROM {source} r JOIN run_metrics m ON m.run_id = r.id {where}
                GROUP BY ALL HAVING count(m.value) > 0""",
            params,
        ).df()


def _compare(a: np.ndarray, b: np.ndarray, info: MetricInfo) -> dict[str, float] | None:
    """Paired comparison of A's and B's values: effect (log ratio A/B or difference A-B),
    its mean, sample std and count; None when no pair is usable."""
    if info.compare == "ratio":
        ok = (a > 0) & (b > 0)
        d = np.log(a[ok] / b[ok])
    else:
        d = a - b
    d = d[np.isfinite(d)]
    if d.size == 0:
        return None
    return {"mean": float(d.mean()), "std": float(d.std(ddof=1)) if d.size > 1 else math.nan, "n": int(d.size)}


def compare_producers(values: pd.DataFrame, order: list[str] | None = None) -> pd.DataFrame:
    """Every pair of producers, for every metric and judge: the paired effect of A vs B
    (log ratio or difference), its spread and which one is better."""
    if values.empty:
        return pd.DataFrame(columns=["metric", "judge", "a", "b", "mean", "std", "n", "better"])
    producers = order or sorted(values["producer"].unique())
    rows = []
    for (metric, judge), part in values.groupby(["metric", "judge"]):
        info = METRICS.get(metric)
        if info is None:
            continue
        wide = part.pivot_table(index=["content_image", "style_image", "seed"], columns="producer", values="value")
        for a, b in combinations([p for p in producers if p in wide.columns], 2):
            both = wide[[a, b]].dropna()
            stats = _compare(both[a].to_numpy(float), both[b].to_numpy(float), info)
            if stats is None:
                continue
            a_better = stats["mean"] < 0 if info.better == "lower" else stats["mean"] > 0
            winner = a if a_better else b
            rows.append({"metric": metric, "judge": judge, "a": a, "b": b, **stats, "better": winner})
    return pd.DataFrame(rows, columns=["metric", "judge", "a", "b", "mean", "std", "n", "better"])


def _amount(mean: float, std: float, info: MetricInfo) -> str:
    """'by 0.052 ± 0.013' for differences; 'by a factor of 2.10 ± 0.30' for ratios (the
    spread of a ratio is the delta-method std of exp(log ratio))."""
    m = abs(mean)
    if info.compare == "ratio":
        factor = math.exp(m)
        spread = f" ± {factor * std:.3g}" if math.isfinite(std) else ""
        return f"by a factor of {factor:.3g}{spread}"
    return f"by {m:.3g}{f' ± {std:.3g}' if math.isfinite(std) else ''}"


def _caveat(rows: pd.DataFrame) -> str:
    if (rows["n"] <= 1).all():
        return " (one pair: no spread)"
    if (rows["mean"].abs() <= rows["std"]).any():
        return " (within the spread: not a clear difference)"
    return ""


def _judges_phrase(rows: pd.DataFrame) -> str:
    if not rows["judge"].iloc[0]:
        return ""
    if len(rows) == 1:
        return f" under the {display(rows.iloc[0]['judge'])} judge"
    return " under both judges" if len(rows) == 2 else f" under all {len(rows)} judges"


def _sentence(metric: str, rows: pd.DataFrame) -> str:
    """The verdict on one metric for one producer pair, over its judges (if any)."""
    info = METRICS[metric]
    winners = set(rows["better"])
    n = int(rows["n"].max())
    if (rows["mean"] == 0).all():
        return f"{display(rows.iloc[0]['a'])} and {display(rows.iloc[0]['b'])}: no difference in {info.label}"
    parts = [
        f"{_amount(r.mean, r.std, info)}{f' ({display(r.judge)} judge)' if r.judge else ''}" for r in rows.itertuples()
    ]
    if len(winners) > 1:
        each = "; ".join(f"{display(r.better)} better {p}" for r, p in zip(rows.itertuples(), parts, strict=True))
        pair = f"{display(rows.iloc[0]['a'])} vs {display(rows.iloc[0]['b'])}"
        return f"The judges disagree on {info.label} ({pair}): {each}, {n} pair(s){_caveat(rows)}"
    winner = winners.pop()
    loser = rows.iloc[0]["b"] if winner == rows.iloc[0]["a"] else rows.iloc[0]["a"]
    head = f"{display(winner)} outputs {info.phrase} than {display(loser)} outputs{_judges_phrase(rows)}"
    return f"{head}: {', '.join(parts)}, {n} pair(s){_caveat(rows)}"


def verdict_sentences(comparisons: pd.DataFrame) -> pd.DataFrame:
    """One sentence per (metric, producer pair), combining the judges of judged metrics."""
    out = []
    for metric in METRICS:
        part = comparisons[comparisons["metric"] == metric]
        for (a, b), rows in part.groupby(["a", "b"], sort=False):
            out.append({"metric": metric, "a": a, "b": b, "sentence": _sentence(metric, rows)})
    return pd.DataFrame(out, columns=["metric", "a", "b", "sentence"])


def verdicts(db: Any, study_id: int | None = None, run_ids: list[int] | None = None) -> pd.DataFrame:
    """The computed verdicts of a study (or of some runs): metric, producers, sentence."""
    return verdict_sentences(compare_producers(paired_values(db, study_id, run_ids)))


def metric_label(column: str, std_suffix: str = " std") -> str:
    """A wide-table column as words: 'judge_style_loss [vgg16]' -> 'style loss (VGG16
    judge)'; a trailing ' std' becomes `std_suffix`."""
    std = column.endswith(" std")
    base = column[:-4] if std else column
    name, _, judge = base.partition(" [")
    label = METRICS[name].label if name in METRICS else name
    label += f" ({display(judge.rstrip(']'))} judge)" if judge else ""
    return label + (std_suffix if std else "")

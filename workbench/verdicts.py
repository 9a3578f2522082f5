"""Verdicts and metric names in words: what reports and the dashboard say about the fair
metrics that `store.metrics` stores and compares.

The store computes the paired statistics (who is better, by how much, with a 95 %
interval and the number of pairs); this module turns each comparison into one sentence,
and names backbones and judges the way the engine's registries do
(`engine.backbones.Backbone.label`, `engine.judges.NeutralJudge.label`), so a name is
written once. Both registries are plain data: importing this module loads no TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from engine.backbones import BACKBONES
from engine.judges import NEUTRAL_JUDGES
from store import metrics as store_metrics
from store.metrics import METRICS, MetricInfo
from store.stats import sig3

# Report names of producing backbones and neutral judges; other names (a study variant's
# label, a judge the registries no longer have) show as they are.
DISPLAY_NAMES: Mapping[str, str] = {
    **{name: b.label for name, b in BACKBONES.items()},
    **{name: j.label for name, j in NEUTRAL_JUDGES.items()},
}
VERDICT_COLUMNS = ["metric", "judge", "a", "b", "sentence", "n", "estimate", "low", "high", "clear"]


def display(producer: str) -> str:
    """'resnet50+softmax' -> 'ResNet50 + softmax'; a study variant's label as it is."""
    name, _, extra = producer.partition("+")
    if name not in DISPLAY_NAMES:
        return producer
    return DISPLAY_NAMES[name] + (f" + {extra}" if extra else "")


def metric_label(column: str, std_suffix: str = " std") -> str:
    """A wide-table column as words: 'judge_style_loss [vgg16]' -> 'style loss (VGG16
    judge)'; a trailing ' std' becomes `std_suffix`."""
    std = column.endswith(" std")
    base = column[:-4] if std else column
    name, _, judge = base.partition(" [")
    label = METRICS[name].label if name in METRICS else name
    label += f" ({display(judge.rstrip(']'))} judge)" if judge else ""
    return label + (std_suffix if std else "")


def _scale(x: float, info: MetricInfo) -> float:
    """An effect back on the metric's scale: the ratio A/B, or the difference itself."""
    return math.exp(x) if info.compare == "ratio" else x


def _judge_words(judge: str) -> str:
    """' under the VGG19 judge', or nothing for a metric no network judged."""
    return f" under the {display(judge)} judge" if judge else ""


def _clear_sentence(row: Any, info: MetricInfo) -> str:
    """'X outputs <phrase> than Y outputs: by <amount> (95 % CI lo to hi, n = k)', the
    amount as the winner's advantage (a factor >= 1 for ratios, a positive difference)."""
    a_wins = row.better == row.a
    loser = row.b if a_wins else row.a
    # Advantage > 0 means the winner is better: flip the A-B effect to the winner's side.
    sign = (1 if info.better == "higher" else -1) * (1 if a_wins else -1)
    lo, hi = sorted((sign * row.low, sign * row.high))
    mean = sign * row.estimate
    if info.compare == "ratio":
        amount = f"a factor of {sig3(math.exp(mean))} (95 % CI {sig3(math.exp(lo))} to {sig3(math.exp(hi))}"
    else:
        amount = f"{sig3(mean)} (95 % CI {sig3(lo)} to {sig3(hi)}"
    head = f"{display(row.better)} outputs {info.phrase} than {display(loser)} outputs{_judge_words(row.judge)}"
    return f"{head}: by {amount}, n = {row.n})"


def _effect_name(row: Any, info: MetricInfo) -> str:
    """'VGG16 / ResNet50' for ratio metrics, 'VGG16 − ResNet50' for differences."""
    op = "/" if info.compare == "ratio" else "−"
    return f"{display(row.a)} {op} {display(row.b)}"


def _sentence(row: Any) -> str:
    """The verdict on one metric, judge and producer pair."""
    info = METRICS[row.metric]
    effect = _effect_name(row, info)
    if row.n < 2:
        value = sig3(_scale(row.estimate, info))
        return (
            f"{info.label}{_judge_words(row.judge)}, {display(row.a)} vs {display(row.b)}: one pair: no interval "
            f"({effect} = {value}, n = 1)"
        )
    if row.clear:
        return _clear_sentence(row, info)
    lo, hi = sig3(_scale(row.low, info)), sig3(_scale(row.high, info))
    return (
        f"no clear difference in {info.label} between {display(row.a)} and {display(row.b)}"
        f"{_judge_words(row.judge)} (n = {row.n}; 95 % CI of {effect}: {lo} to {hi})"
    )


def verdict_sentences(comparisons: pd.DataFrame) -> pd.DataFrame:
    """One sentence per (metric, judge, producer pair), in `METRICS` order, with the
    numbers behind it (n, effect estimate and interval on the effect scale, clear)."""
    if comparisons.empty:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    order = {m: i for i, m in enumerate(METRICS)}
    ranked = comparisons.assign(_o=comparisons["metric"].map(order)).sort_values(["_o", "judge"], kind="stable")
    out = ranked.drop(columns=["_o", "better"]).reset_index(drop=True)
    out.insert(4, "sentence", [_sentence(r) for r in ranked.itertuples()])
    return out[VERDICT_COLUMNS]


def verdicts(
    db: Any, study_id: int | None = None, run_ids: list[int] | None = None, by_variant: bool = False
) -> pd.DataFrame:
    """The computed verdicts of a study (or of some runs): metric, judge, producers, sentence."""
    values = store_metrics.paired_values(db, study_id, run_ids, by_variant)
    return verdict_sentences(store_metrics.compare_producers(values))

"""Text rendering of a study report for the command line: Markdown or CSV.

The tables come from `store.studies` / `store.metrics` already in the study's shape;
this module only formats them ("mean ± std" in Markdown, separate std columns in CSV).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from store.metrics import metric_label
from store.studies import StudyTable


def format_value(value: Any) -> str:
    """Numbers with 6 significant digits (like the study's tables), blanks for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _merge_std_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns "X" and "X std" -> one text column "X" with "mean ± std"."""
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        if str(col).endswith(" std") and str(col)[:-4] in frame.columns:
            continue
        std_col = f"{col} std"
        if std_col in frame.columns:
            out[col] = [_pm(m, s) for m, s in zip(frame[col], frame[std_col], strict=True)]
        else:
            out[col] = frame[col].map(format_value)
    return out


def _merge_std_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows labelled "X std" (first column) merged into the row "X" as "mean ± std"."""
    first = frame.columns[0]
    labels = list(frame[first])
    keep = []
    for i, label in enumerate(labels):
        if str(label).endswith(" std") and str(label)[:-4] in labels:
            continue
        row = frame.iloc[i].map(format_value)
        std_label = f"{label} std"
        if std_label in labels:
            std_row = frame.iloc[labels.index(std_label)]
            row = pd.Series(
                [label] + [_pm(m, s) for m, s in zip(frame.iloc[i][1:], std_row[1:], strict=True)], frame.columns
            )
        keep.append(row)
    return pd.DataFrame(keep, columns=frame.columns)


def _pm(mean: Any, std: Any) -> str:
    text = format_value(mean)
    return f"{text} ± {format_value(std)}" if text and format_value(std) else text


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-style Markdown table (no extra dependency)."""
    text = _merge_std_rows(_merge_std_columns(frame))
    lines = ["| " + " | ".join(map(str, text.columns)) + " |", "|" + "---|" * len(text.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in text.astype(str).itertuples(index=False)]
    return "\n".join(lines)


def fair_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The fair-metrics table turned to a row per metric (and judge), a column per variant,
    with readable metric names."""
    if frame.shape[1] <= 1:
        return pd.DataFrame({"metric": []})
    t = frame.set_index("variant").T.reset_index().rename(columns={"index": "metric"})
    t.columns.name = None
    t["metric"] = [metric_label(str(m)) for m in t["metric"]]
    return t


def render_markdown(
    study: dict[str, Any], progress: dict[str, Any], tables: list[StudyTable], verdicts: pd.DataFrame
) -> str:
    """The whole report as Markdown: header, each table with its note, fair metrics, verdicts."""
    spec = study["spec"]
    done = f"{int(progress.get('finished', 0))}/{study['cells']} cells finished"
    out = [
        f"# Study {study['id']}: {study['name']} ({study['preset']})",
        "",
        f"{spec['description']}. {done}; seeds {', '.join(map(str, spec['seeds']))}; "
        f"{len(spec['content_images'])} content x {len(spec['style_images'])} style image(s); "
        f"shared settings: {_settings(spec['shared'])}.",
    ]
    for t in tables:
        out += ["", f"## {t.title}", "", markdown_table(t.frame) if len(t.frame.columns) > 1 else "(no data)"]
        out += ["", f"_{t.note}_"] if t.note else []
    out += ["", "## Verdicts", ""]
    out += [f"- {s}" for s in verdicts["sentence"]] if not verdicts.empty else ["(no fair metrics yet)"]
    return "\n".join(out) + "\n"


def _settings(shared: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(shared.items())) or "preset defaults"


def render_csv(tables: list[StudyTable], verdicts: pd.DataFrame, only: str | None = None) -> str:
    """Every table as CSV, each after a `# id: title` line (or just table `only`, bare)."""
    if only is not None:
        match = [t for t in tables if t.id == only]
        if not match:
            raise KeyError(f"no table {only!r}; this study has: {', '.join(t.id for t in tables)}")
        return match[0].frame.to_csv(index=False)
    parts = [f"# {t.id}: {t.title}\n{t.frame.to_csv(index=False)}" for t in tables]
    if not verdicts.empty:
        parts.append("# verdicts\n" + verdicts.to_csv(index=False))
    return "\n".join(parts)

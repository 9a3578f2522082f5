"""Text rendering of a study report for the command line: Markdown or CSV.

The tables come from `store.studies` / `store.metrics` already in the study's shape and
the verdicts in words from `workbench.verdicts`; this module assembles them
(`build_report`, shared with the dashboard) and only formats them ("mean ± std" in
Markdown, to three significant figures; separate std columns and full precision in CSV).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from store import metrics as store_metrics
from store import provenance
from store import studies as store_studies
from store.stats import sig3
from store.studies import StudyTable
from workbench import verdicts as wording
from workbench.verdicts import display, metric_label

RAW_LOSS_WARNING = (
    "Raw losses are on each backbone's own feature scale and loss convention: not comparable across backbones."
)
FAIR_NOTE = (
    "network-free measures and neutral judge networks (ones that produced neither output); ratios are "
    "output→style ÷ photo→style distances, so 1 = unchanged from the photo"
)
CROSS_EVAL_NOTE = (
    "each judge network favours outputs made with its own objective; not used for verdicts. Every output is "
    "scored by each producing backbone's own losses at its default layers"
)
VERDICT_NOTE = (
    "Paired over the same (content, style, seed) cells; 95 % Student t intervals of the mean difference (of the "
    "log ratio for ratio metrics); a winner only when the interval excludes no difference. Only network-free "
    "measures and neutral judges are used."
)


@dataclass(frozen=True)
class StudyReport:
    """Everything a study report shows, read from the store."""

    study: dict[str, Any]
    progress: dict[str, Any]
    tables: list[StudyTable]  # the preset's tables, then "fair" and "cross_eval"
    verdicts: pd.DataFrame
    ran: str  # what actually ran, from the runs' configs


def build_report(db: Any, study_id: int) -> StudyReport | None:
    """The study's report (None when there is no such study)."""
    study = store_studies.get_study(db, study_id)
    if study is None:
        return None
    variants = [v["label"] for v in study["spec"]["variants"]]
    fair = fair_rows(store_metrics.fair_table(db, study_id, variants, store_metrics.FAIR_METRICS))
    skipped = store_metrics.skipped_judges(db, study_id)
    fair_note = FAIR_NOTE + "".join(f". {display(j)} judge {why}" for j, why in skipped.items())
    cross = fair_rows(store_metrics.fair_table(db, study_id, variants, store_metrics.CROSS_EVAL_METRICS))
    tables = [
        *store_studies.study_tables(db, study_id),
        StudyTable("fair", "Fair metrics (mean per variant)", fair, fair_note),
        StudyTable("cross_eval", "Cross-evaluation by the producing backbones (not used for verdicts)", cross,
                   CROSS_EVAL_NOTE),
    ]  # fmt: skip
    return StudyReport(
        study,
        store_studies.study_progress(db, study_id),
        tables,
        wording.verdicts(db, study_id=study_id, by_variant=store_metrics.compares_variants(study["spec"])),
        provenance.ran_line(provenance.study_configs(db, study_id)),
    )


def format_value(value: Any) -> str:
    """Numbers to three significant figures, integers as they are, blanks for missing."""
    if value is None or (isinstance(value, float | np.floating) and value != value):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float | np.floating):
        return sig3(float(value))
    return str(value)


def _always(spec: dict[str, Any]) -> bool:
    return True


# Measures of a by-iteration table that are not losses (`store.studies.ITERATION_MEASURES`).
NOT_LOSS_MEASURES = frozenset({"elapsed_seconds"})
# Per table kind (`store.studies.TABLE_BUILDERS`): whether a table of that kind shows raw
# losses. Other tables (fair metrics, cross-evaluation) do not.
RAW_LOSS_KINDS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "by_iteration": lambda spec: spec.get("measure", "total_loss") not in NOT_LOSS_MEASURES,
    "by_learning_rate": _always,
    "layer_sets": _always,
    "final": _always,
}


def is_raw_loss_table(spec: dict[str, Any]) -> bool:
    """True for the tables of raw losses (Tables 3, 5-7, final losses), not seconds."""
    rule = RAW_LOSS_KINDS.get(spec.get("kind", ""))
    return rule is not None and rule(spec)


def design(description: str) -> str:
    """The preset's description without its iteration count: the header states what ran
    instead, read from the runs (a launch may override the preset's iterations)."""
    return re.sub(r",?\s*\b\d[\d,]*\s+iterations\b", "", description)


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


def _images_phrase(spec: dict[str, Any]) -> str:
    if spec.get("pairs"):
        return f"{len(spec['pairs'])} photo:painting pair(s)"
    return f"{len(spec['content_images'])} content x {len(spec['style_images'])} style image(s)"


def header_lines(study: dict[str, Any], progress: dict[str, Any], ran: str) -> list[str]:
    """The report's title and what the study is, as Markdown lines."""
    spec = study["spec"]
    done = f"{int(progress.get('finished', 0) or 0)}/{study['cells']} cells finished"
    return [
        f"# Study {study['id']}: {study['name']} ({study['preset']})",
        "",
        f"{design(spec['description'])}. {ran}",
        "",
        f"{done}; seeds {', '.join(map(str, spec['seeds']))}; {_images_phrase(spec)}; "
        f"shared settings: {_settings(spec['shared'])}.",
    ]


def render_markdown(
    study: dict[str, Any], progress: dict[str, Any], tables: list[StudyTable], verdicts: pd.DataFrame, ran: str = ""
) -> str:
    """The whole report as Markdown: header (with what ran), each table with its note
    (raw-loss tables headed by a warning), fair metrics, cross-evaluation, verdicts."""
    specs = {t["id"]: t for t in study["spec"]["tables"]}
    out = header_lines(study, progress, ran or "What ran: not read from the runs.")
    for t in tables:
        out += ["", f"## {t.title}", ""]
        out += [f"_{RAW_LOSS_WARNING}_", ""] if is_raw_loss_table(specs.get(t.id, {})) else []
        out += [markdown_table(t.frame) if len(t.frame.columns) > 1 else "(no data)"]
        out += ["", f"_{t.note}_"] if t.note else []
    out += ["", "## Verdicts", "", f"_{VERDICT_NOTE}_", ""]
    out += [f"- {s}" for s in verdicts["sentence"]] if not verdicts.empty else ["(no fair metrics yet)"]
    return "\n".join(out) + "\n"


def report_markdown(report: StudyReport) -> str:
    """`render_markdown` of a built report."""
    return render_markdown(report.study, report.progress, report.tables, report.verdicts, report.ran)


def _settings(shared: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(shared.items())) or "preset defaults"


def csv_files(tables: list[StudyTable], verdicts: pd.DataFrame) -> dict[str, str]:
    """One CSV per table (and `verdicts.csv` when there are verdicts), by file name: a
    CSV file holds one table, which is what every CSV reader expects."""
    files = {f"{t.id}.csv": t.frame.to_csv(index=False) for t in tables}
    if not verdicts.empty:
        files["verdicts.csv"] = verdicts.to_csv(index=False)
    return files


def render_csv(tables: list[StudyTable], verdicts: pd.DataFrame, only: str) -> str:
    """Table `only` (a table id, or "verdicts") as CSV; `KeyError` names the choices."""
    files = csv_files(tables, verdicts)
    if f"{only}.csv" not in files:
        raise KeyError(f"no table {only!r}; this study has: {', '.join(name[:-4] for name in files)}")
    return files[f"{only}.csv"]


def zip_csv(tables: list[StudyTable], verdicts: pd.DataFrame) -> bytes:
    """Every table's CSV in one ZIP archive (the dashboard's "all tables" download)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in csv_files(tables, verdicts).items():
            archive.writestr(name, text)
    return buffer.getvalue()

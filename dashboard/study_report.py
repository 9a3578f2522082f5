"""The study report on the Studies page: each of the study's tables in the study's shape
(`store.studies.study_tables`, as `python -m workbench report` prints them) with its chart
and CSV, then the fair metrics per variant, the producer x judge view and the verdicts
in words, and the whole report as Markdown or CSV.

Widget keys: `study_log`, tables `study_table_<table id>` (and `study_table_fair`),
charts `study_chart_<table id>`, downloads `study_dl_<table id>`, `study_dl_fair`,
`study_dl_cross_eval`, `study_dl_verdicts`, `study_dl_report_md`, `study_dl_report_csv`.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import charts, fair
from dashboard import studies as study_rules
from dashboard.common import store_read
from dashboard.text import md_escape
from store import metrics as store_metrics
from store.studies import StudyTable
from workbench.report import (
    FAIR_NOTE,
    RAW_LOSS_WARNING,
    StudyReport,
    build_report,
    design,
    fair_rows,
    format_value,
    is_raw_loss_table,
    report_markdown,
    zip_csv,
)
from workbench.verdicts import display

log = logging.getLogger(__name__)


def table_chart(table: StudyTable, spec: dict[str, Any], log_scale: bool) -> alt.TopLevelMixin | None:
    """The chart matching a study table (None when it has no values yet)."""
    view = study_rules.table_view(spec["kind"])
    long = study_rules.table_long(table.frame, spec["kind"])
    if long.empty:
        return None
    log_scale = log_scale and spec.get("measure") != "elapsed_seconds"
    return view.chart(long, view.x_title, view.y_title(spec), log_scale)


def _column_config(frame: pd.DataFrame, spec: dict[str, Any]) -> dict[str, Any]:
    """Number formats for a numeric study table; std columns explained."""
    fmt = "%.3g"  # three significant figures, as in the Markdown report
    first = study_rules.table_view(spec["kind"]).first_format
    config: dict[str, Any] = {}
    for i, col in enumerate(map(str, frame.columns)):
        if i == 0 and first:
            config[col] = st.column_config.NumberColumn(col, format=first)
        elif col.endswith(" std"):
            config[col] = st.column_config.NumberColumn(col, format=fmt, help="sample std over image pairs x seeds")
        elif col == "runs":
            config[col] = st.column_config.NumberColumn(col, format="%d")
        elif pd.api.types.is_numeric_dtype(frame[col]):
            config[col] = st.column_config.NumberColumn(col, format=fmt)
    return config


def _display(frame: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    """Tables whose columns mix text and numbers (Tables 6-7) are shown as text."""
    if study_rules.table_view(spec["kind"]).as_text:
        return frame.map(format_value)
    return frame


def table_block(study_id: int, table: StudyTable, spec: dict[str, Any], log_scale: bool) -> None:
    """One study table: title, the table in the study's shape, note, chart, CSV."""
    st.markdown(f"#### {table.title}")
    if is_raw_loss_table(spec):
        st.warning(RAW_LOSS_WARNING, icon=":material/balance:")
    if len(table.frame.columns) <= 1 or table.frame.empty:
        st.caption(table.note or "no data yet")
        return
    st.dataframe(
        _display(table.frame, spec),
        key=f"study_table_{table.id}",
        hide_index=True,
        column_config=_column_config(table.frame, spec),
    )
    if table.note:
        st.caption(table.note)
    chart = table_chart(table, spec, log_scale)
    if chart is not None:
        st.altair_chart(chart, key=f"study_chart_{table.id}")
    fair.download(table.frame, f"study{study_id}_{table.id}", table.id, f"study_dl_{table.id}")


def _weights(spec: dict[str, Any]) -> set[str]:
    return {spec["shared"].get("weights", "imagenet"), *(spec.get("weights_by_backbone") or {}).values()}


def fair_block(db: Any, study: dict[str, Any], verdicts: pd.DataFrame) -> None:
    """Fair metrics per variant (mean ± std), the producer x judge view and `verdicts`."""
    spec, study_id = study["spec"], int(study["id"])
    st.markdown("#### Fair metrics (mean per variant)")
    variants = [v["label"] for v in spec["variants"]]
    table = store_read(store_metrics.fair_table, db, study_id, variants, store_metrics.FAIR_METRICS)
    if table.shape[1] <= 1:
        st.info(f"No fair metrics for this study's finished cells yet. {fair.HINT}", icon=":material/straighten:")
    else:
        shown = fair.by_metric(table, "variant")
        config = {c: st.column_config.NumberColumn(c, format="%.3g") for c in shown.columns[2:]}
        st.dataframe(shown, key="study_table_fair", hide_index=True, column_config=config)
        st.caption(f"Mean over each variant's cells (± std where a variant has several); {FAIR_NOTE}.")
        long = fair.fair_long(table, "variant")
        if not long.empty:
            st.altair_chart(charts.metric_bars(long), key="study_chart_fair")
        fair.download(fair_rows(table), f"study{study_id}_fair", "fair metrics", "study_dl_fair")
    skipped = store_read(store_metrics.skipped_judges, db, study_id)
    for judge, why in skipped.items():
        st.caption(f"{display(judge)} judge {md_escape(why)}")  # the reason can name a path or an error
    by_variant = store_metrics.compares_variants(spec)
    paired = store_read(_paired_values, db, study_id, by_variant)
    fair.cross_eval_section(paired, "study", skipped)
    fair.verdicts_section(verdicts, "study", _weights(spec))
    fair.explain()


def _paired_values(db: Any, study_id: int, by_variant: bool) -> pd.DataFrame:
    """The study's paired metric values (positional arguments, for `store_read`)."""
    return store_metrics.paired_values(db, study_id=study_id, by_variant=by_variant)


def report_downloads(report: StudyReport) -> None:
    """The whole report as `python -m workbench report` writes it: Markdown and CSV."""
    study_id = int(report.study["id"])
    left, right = st.columns(2)
    left.download_button(
        "Download the report (Markdown)",
        data=functools.partial(report_markdown, report),  # built on click, not on every rerun
        file_name=f"study{study_id}_report.md",
        mime="text/markdown",
        key="study_dl_report_md",
        on_click="ignore",
    )
    right.download_button(
        "Download every table (CSV files, zipped)",
        data=functools.partial(zip_csv, report.tables, report.verdicts),
        file_name=f"study{study_id}_tables.zip",
        mime="application/zip",
        key="study_dl_report_csv",
        on_click="ignore",
    )


def report_header(report: StudyReport) -> None:
    """What the study is for (its preset) and what actually ran, read from its runs."""
    st.caption(f"{design(report.study['spec']['description'])}. {report.ran}")
    st.caption(
        f"{RAW_LOSS_WARNING} Compare raw losses within a backbone; the fair metrics below compare across backbones."
    )


def render(db: Any, study: dict[str, Any]) -> None:
    """The study's report: its tables with charts, fair metrics, verdicts, downloads."""
    # Built once per render: the blocks below and the downloads share its tables and verdicts.
    report = store_read(build_report, db, int(study["id"]))
    if report is None:
        return
    st.markdown("### Report")
    report_header(report)
    specs = {t["id"]: t for t in study["spec"]["tables"]}
    log_scale = st.toggle("Log scale for losses", value=True, key="study_log")
    for table in report.tables:
        if table.id in specs:  # the preset's own tables; fair metrics have their block below
            table_block(int(study["id"]), table, specs[table.id], log_scale)
    fair_block(db, study, report.verdicts)
    report_downloads(report)

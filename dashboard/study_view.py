"""Studies page sections: the list of studies, the study picker (`?study=ID`), the
selected study's header, and its live progress (a fragment polling every 2 s while cells
are queued or running: cells done / total, ETA, a row per cell) with Resume.

Widget keys: `study_pick`, `study_list`, `study_resume`, `study_cells`.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import studies as study_rules
from dashboard.common import (
    OUTPUT_LOSS,
    OUTPUT_LOSS_HELP,
    chosen_executor,
    db_path,
    present,
    random_weights_warning,
    set_url_run,
    status_label,
    store_read,
    sync_run_from_url,
)
from dashboard.study_form import NOTICE, PICKER
from dashboard.text import md_escape
from store import images as store_images
from store import runs as store_runs
from store import studies as store_studies
from workbench.errors import one_line
from workbench.queue import start_worker
from workbench.report import design
from workbench.slots import running_workers
from workbench.text import format_eta, format_progress

log = logging.getLogger(__name__)

POLL_SECONDS = 2
COUNTS = ("finished", "failed", "stopped", "queued", "running")


def study_title(name: str, preset: str) -> str:
    """ "name · preset", or the preset once when it is also the name ("lr-sweep", not
    "lr-sweep · lr-sweep")."""
    return str(name) if str(name) == str(preset) else f"{name} · {preset}"


def pick_study(studies: pd.DataFrame) -> int:
    """The study picker, kept in step with `?study=ID`; returns the chosen study id."""
    labels = {int(r.id): f"#{r.id} {study_title(r.name, r.preset)} ({r.cells} cells)" for r in studies.itertuples()}
    sync_run_from_url(PICKER, labels, param="study")
    if st.session_state.get(PICKER) not in labels:
        st.session_state[PICKER] = next(iter(labels))
    study_id = st.selectbox("Study", list(labels), format_func=labels.get, key=PICKER)
    set_url_run(PICKER, study_id, param="study")
    return study_id


def list_section(studies: pd.DataFrame) -> None:
    """Every study with its progress and ETA, newest first."""
    table = studies.assign(
        done=studies["finished"] / studies["cells"].clip(lower=1),
        eta=[format_eta(e) for e in studies["eta_seconds"]],
    )
    cols = ["id", "name", "preset", "cells", "done", *COUNTS, "eta", "created_at"]
    st.dataframe(
        table[cols],
        key="study_list",
        hide_index=True,
        column_config={
            "id": st.column_config.NumberColumn("study", format="%d"),
            "done": st.column_config.ProgressColumn("done", format="percent", min_value=0.0, max_value=1.0),
            "stopped": st.column_config.NumberColumn("stopped", help="cancelled or interrupted"),
            "eta": st.column_config.TextColumn("ETA", help="from the mean time of the finished cells"),
            "created_at": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm"),
        },
    )


def header(db: Any, study: dict[str, Any]) -> None:
    """The study's name, description, shared settings and input images.

    The name, the settings' values and the weights files' paths are the user's text:
    escaped, since a subheader and a caption render Markdown."""
    spec = study["spec"]
    st.subheader(f"Study #{study['id']} · {md_escape(study_title(study['name'], study['preset']))}")
    shared = ", ".join(f"{k} = {md_escape(v)}" for k, v in sorted(spec["shared"].items())) or "the preset's defaults"
    weights = spec.get("weights_by_backbone") or {}
    files = f"; weights files: {', '.join(f'{b}: {md_escape(p)}' for b, p in weights.items())}" if weights else ""
    images = (
        f"{len(spec['pairs'])} photo × painting pair(s)"
        if spec.get("pairs") is not None
        else f"{len(spec['content_images'])} content × {len(spec['style_images'])} style image(s)"
    )
    seeds = ", ".join(map(str, spec["seeds"]))
    st.caption(f"{design(spec['description'])}. Seeds {seeds}; {images}; settings: {shared}{files}.")
    random_weights_warning(spec["shared"].get("weights", "imagenet"), subject="This study's runs")
    thumbs = store_read(store_images.get_thumbs, db, [*spec["content_images"], *spec["style_images"]])
    content = [thumbs[i] for i in spec["content_images"] if i in thumbs]
    style = [thumbs[i] for i in spec["style_images"] if i in thumbs]
    if content or style:
        st.image(
            content + style, caption=["content"] * len(content) + ["style"] * len(style), width=72, output_format="PNG"
        )


def _resume(db: Any, study_id: int) -> None:
    """Resume callback: re-launch the study (finished cells skipped, failed and
    interrupted ones re-queued) and start a worker where the sidebar's "Run on" says; the
    outcome goes to the notice."""
    try:
        result = study_rules.start(db, study_rules.resume_request(db, study_id))
        worker = start_worker(db_path(), *chosen_executor("study")) if study_rules.has_work(result) else None
        st.session_state[NOTICE] = ("success", study_rules.launch_message(result, worker is not None))
    except Exception as exc:  # a callback's error would otherwise be a traceback
        log.exception("resume of study %s failed", study_id)
        # The error can name the user's files or weights paths: shown as text, not Markdown.
        st.session_state[NOTICE] = ("error", f"Could not resume study #{study_id}: {md_escape(one_line(exc))}")


def _cancel(db: Any, study_id: int) -> None:
    """Cancel callback: every queued cell now, every running one after its step (its
    worker, local or a Ray driver, stops it); the outcome goes to the notice."""
    counts = store_studies.cancel_study(db, study_id)
    st.session_state[NOTICE] = (
        "success",
        f"Study #{study_id}: {counts['cancelled']} queued cell(s) cancelled, "
        f"{counts['stopping']} running cell(s) stopping after their current step. Resume queues them again.",
    )


def show_notice() -> None:
    """The outcome of the last launch or resume, shown once (Markdown: user text in it
    is escaped where the notice is made)."""
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        kind, text = notice
        (st.success if kind == "success" else st.error)(text)


def _cells_table(db: Any, study_id: int) -> pd.DataFrame:
    """The latest run of every cell, ready to show: a link, status, progress, images."""
    cells = store_read(store_studies.study_runs, db, study_id)
    names = {**dict(store_read(store_images.list_input_images, db, "content"))}
    names |= dict(store_read(store_images.list_input_images, db, "style"))
    return pd.DataFrame(
        {
            "run": [f"run?run={i}" for i in cells["id"]],
            "variant": cells["variant"],
            "status": [status_label(s) for s in cells["status"]],
            "progress": cells["steps_done"] / cells["iterations"].clip(lower=1),
            "seed": cells["seed"],
            "content": [names.get(i) or i[:8] for i in cells["content_image"]],
            "style": [names.get(i) or i[:8] for i in cells["style_image"]],
            "total_loss": cells["total_loss"],
            "wall_seconds": cells["wall_seconds"],
            "error": cells["error"],
        }
    )


CELL_COLUMNS = {
    "run": st.column_config.LinkColumn("run", display_text=r"run=(\d+)$", help="open in Run detail"),
    "progress": st.column_config.ProgressColumn("steps", format="percent", min_value=0.0, max_value=1.0),
    "total_loss": st.column_config.NumberColumn(
        OUTPUT_LOSS, format="%.4g", help=f"{OUTPUT_LOSS_HELP} On its backbone's scale."
    ),
    "wall_seconds": st.column_config.NumberColumn("seconds", format="%.1f"),
}


def _progress(db: Any, study_id: int, polling: bool) -> None:
    """One refresh of the study's progress: bar, counts, ETA and a row per cell."""
    if polling:
        store_runs.mark_stale_runs(db)  # a worker that died must not keep its cell "running"
    progress = store_read(store_studies.study_progress, db, study_id)
    if polling and int(progress["queued"]) + int(progress["running"]) == 0:
        st.rerun(scope="app")  # every cell ended: one full rerun refreshes the report and stops polling
    cells = max(1, int(progress["cells"]))
    st.progress(min(1.0, int(progress["finished"]) / cells), text=format_progress(study_id, progress))
    cols = st.columns(len(COUNTS) + 1)
    for col, name in zip(cols, COUNTS, strict=False):
        col.metric(name, int(progress[name]))
    eta = progress["eta_seconds"]
    cols[-1].metric("ETA", format_eta(eta))
    if polling and not present(eta):
        st.caption("ETA appears when the first cell has finished.")
    if int(progress["queued"]) and not int(progress["running"]) and not running_workers(db_path()):
        st.caption("Cells are queued and no worker is running: press **Resume** to start one.")
    cells_table = _cells_table(db, study_id)
    if cells_table["error"].isna().all():
        cells_table = cells_table.drop(columns="error")
    st.dataframe(cells_table, key="study_cells", hide_index=True, column_config=CELL_COLUMNS)


def progress_section(db: Any, study_id: int) -> None:
    """The study's progress, polled while any cell is queued or running, and Resume."""
    progress = store_read(store_studies.study_progress, db, study_id)  # run_page reclaimed dead runs
    polling = int(progress["queued"]) + int(progress["running"]) > 0
    st.markdown("#### Progress")
    resume, cancel = st.columns(2, gap="small", width=320)
    resume.button(
        "Resume",
        key="study_resume",
        on_click=_resume,
        args=(db, study_id),
        disabled=not study_rules.resumable(progress),
        help="Re-launch: skip finished cells, re-queue failed, cancelled or interrupted ones, and start a worker "
        "where the sidebar's Run on says.",
    )
    cancel.button(
        "Cancel study",
        key="study_cancel",
        on_click=_cancel,
        args=(db, study_id),
        disabled=not polling,
        help="Cancel every queued cell now and stop every running one after its current step "
        "(on this machine or on a Ray cluster). Finished cells are kept; Resume queues the rest again.",
    )
    if polling:
        st.caption(f"Refreshes every {POLL_SECONDS} s while cells are queued or running.")
    fragment = st.fragment(run_every=POLL_SECONDS if polling else None)(_progress)
    fragment(db, study_id, polling)

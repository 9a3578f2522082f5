"""Helpers every page uses: the database path, readable errors, formatting, run
selection from the URL, empty states and thumbnails."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import nav
from dashboard.text import md_escape
from engine.weights import is_random
from store import runs as store_runs
from store.db import resolve_db_path
from workbench.errors import one_line
from workbench.text import format_duration

log = logging.getLogger(__name__)

CLI_HINT = (
    "python -m workbench run --content photo.jpg --style painting.jpg --backbone vgg16 --iterations 300 --size 256"
)

STATUS_ICONS = {
    "queued": "⏳",
    "running": "▶️",
    "finished": "✅",
    "failed": "❌",
    "cancelled": "⏹️",
    "interrupted": "⚠️",
}


def db_path() -> Path:
    """The database this dashboard shows: $NST_DB or data/nst.duckdb."""
    return resolve_db_path()


def run_page(body: Callable[[], None]) -> None:
    """Run a page body and show any error as one readable line instead of a traceback.

    Streamlit's own control flow (st.rerun, st.stop) derives from BaseException and
    passes through untouched."""
    try:
        store_runs.reclaim_before_reading(db_path())  # a dead run shows as interrupted
        body()
    except Exception as exc:  # every error a user can cause ends here, readable
        log.exception("page failed")
        st.error(f"**Something went wrong:** {md_escape(one_line(exc))}", icon="🚫")  # messages name files


def empty_state(what: str = "No runs yet.") -> None:
    """Say the store is empty and how to start the first run."""
    st.info(
        f"{what} Launch your first style transfer from the **Launch** page, or from a terminal:\n\n`{CLI_HINT}`",
        icon="🎨",
    )
    nav.link("launch", label="Start here: launch a run", icon=":material/rocket_launch:")
    st.caption(f"Database: `{db_path()}`")


def present(value: Any) -> bool:
    """False for None, NaN, NaT and pd.NA (what a NULL becomes in a DataFrame)."""
    try:
        return not bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and arrays are present
        return value is not None


def fmt_loss(value: Any) -> str:
    """A loss for display (4 significant digits), or an en dash when there is none."""
    if not present(value):
        return "–"
    return f"{float(value):.4g}"


def progress_text(row: Any) -> tuple[float, str]:
    """(fraction done, "step 40 / 300 · 12.0s · ETA 1m30s") for a live-runs row."""
    done, total = int(row["steps_done"]), max(1, int(row["iterations"]))
    elapsed = row["elapsed"]
    text = f"step {done} / {total}"
    if done and present(elapsed):
        text += f" · {format_duration(elapsed)} elapsed"
        if row["status"] == "running":
            text += f" · ETA {format_duration(elapsed / done * (total - done))}"
    return min(1.0, done / total), text


def status_label(status: str) -> str:
    """A status with its icon."""
    return f"{STATUS_ICONS.get(status, '')} {status}".strip()


def run_label(row: Any) -> str:
    """`#12 vgg16 lr=15 (finished)` from a row with id, backbone, learning_rate, status."""
    return f"#{row['id']} {row['backbone']} lr={row['learning_rate']:g} ({row['status']})"


def query_run_id(param: str = "run") -> int | None:
    """The id in the URL (`?run=ID`, or `?<param>=ID`), or None if absent or not a number."""
    raw = st.query_params.get(param)
    if raw is None or not str(raw).strip().isdigit():
        return None
    return int(str(raw).strip())


def sync_run_from_url(widget_key: str, options: Iterable[int], param: str = "run") -> None:
    """Point the picker `widget_key` at `?run=ID` (or `?<param>=ID`) when the URL names a
    new id.

    Only a URL value different from the one last seen wins, so picking another run in
    the widget is not undone by the (now stale) URL."""
    raw = st.query_params.get(param)
    seen_key = f"_{widget_key}_seen_url"
    if raw is None or raw == st.session_state.get(seen_key):
        return
    st.session_state[seen_key] = raw
    wanted = query_run_id(param)
    if wanted is not None and wanted in set(options):
        st.session_state[widget_key] = wanted


def set_url_run(widget_key: str, run_id: int | None, param: str = "run") -> None:
    """Write the picked id into the URL (`?run=ID`, or `?<param>=ID`) so the page can be
    shared."""
    seen_key = f"_{widget_key}_seen_url"
    if run_id is None:
        st.query_params.pop(param, None)
        st.session_state.pop(seen_key, None)
        return
    st.query_params[param] = str(run_id)
    st.session_state[seen_key] = str(run_id)


def random_weights_warning(weights: str) -> None:
    """Warn that a run with random weights says nothing about quality."""
    if is_random(weights):
        st.warning(
            "This run used **random weights** (`weights = none`): its losses and image only show that "
            "the pipeline works; the quality is not meaningful.",
            icon="⚠️",
        )


def thumb(data: bytes | None, caption: str | None = None) -> None:
    """A stored thumbnail, or a placeholder when there is none yet."""
    if data:
        st.image(data, caption=caption, width="stretch")
    else:
        st.caption(f"{caption + ': ' if caption else ''}no image yet")

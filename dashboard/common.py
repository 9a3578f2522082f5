"""Helpers every page uses: the database path, readable errors, formatting, run
selection from the URL, empty states and thumbnails."""

from __future__ import annotations

import importlib
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
from store.db import change_token, resolve_db_path
from workbench.errors import one_line
from workbench.text import format_duration

log = logging.getLogger(__name__)

CLI_HINT = (
    "python -m workbench run --content photo.jpg --style painting.jpg --backbone vgg16 --iterations 300 --size 256"
)

# A status is shown as its word in a colour (never an emoji alone: without an emoji
# font those render as empty boxes). Colours are Streamlit's Markdown/badge palette.
STATUS_COLORS = {
    "queued": "gray",
    "running": "blue",
    "finished": "green",
    "failed": "red",
    "cancelled": "orange",
    "interrupted": "orange",
}


# One name per number (issue 11 #1): "output loss" is runs.total_loss, the loss of the
# image the run returns, evaluated once after its last step; a curve's point at step k is
# the loss of the image *before* step k's update, so its last point is not the output's.
OUTPUT_LOSS = "output loss"
OUTPUT_LOSS_HELP = (
    "The total loss of the output image, evaluated once after the last step (with keep_best: of "
    "the lowest-loss image). A curve's last point is the loss before the last update, so it can "
    "differ. Raw losses compare only runs of one backbone and loss convention."
)


def db_path() -> Path:
    """The database this dashboard shows: $NST_DB or data/nst.duckdb."""
    return resolve_db_path()


def store_token() -> tuple:
    """Changes whenever the store commits: the key for `st.cache_data` of store reads."""
    return change_token(db_path())


@st.cache_data(max_entries=256, show_spinner=False)
def _cached_read(module: str, name: str, db: str, token: tuple, args: tuple, kwargs: tuple) -> Any:
    """One store read, cached per (function, store state, arguments)."""
    return getattr(importlib.import_module(module), name)(db, *args, **dict(kwargs))


def store_read(fn: Callable[..., Any], db: Any, *args: Any, **kwargs: Any) -> Any:
    """`fn(db, *args, **kwargs)` for a store read function, cached until the store next
    commits (`change_token`): a rerun that changes nothing in the store does not query it.
    The result is a copy (cache_data pickles it), so callers may modify it."""
    return _cached_read(fn.__module__, fn.__name__, str(db), change_token(db), args, tuple(sorted(kwargs.items())))


def run_page(body: Callable[[], None]) -> None:
    """Run a page body and show any error as one readable line instead of a traceback.

    Streamlit's own control flow (st.rerun, st.stop) derives from BaseException and
    passes through untouched."""
    try:
        store_runs.reclaim_before_reading(db_path())  # a dead run shows as interrupted
        body()
    except Exception as exc:  # every error a user can cause ends here, readable
        log.exception("page failed")
        st.error(
            f"**Something went wrong:** {md_escape(one_line(exc))}", icon=":material/block:"
        )  # messages name files


def empty_state(what: str = "No runs yet.") -> None:
    """Say the store is empty and how to start the first run."""
    st.info(
        f"{what} Launch your first style transfer from the **Launch** page, or from a terminal:\n\n`{CLI_HINT}`",
        icon=":material/palette:",
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
    """A status as plain text (for tables, progress texts and widget labels)."""
    return str(status)


def status_badge(status: str) -> str:
    """A status as a coloured Markdown badge, e.g. `:green-badge[finished]`, for
    st.markdown/st.caption/st.subheader. The word is the project's own (no escaping
    needed)."""
    return f":{STATUS_COLORS.get(status, 'gray')}-badge[{status}]"


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


def random_weights_warning(weights: str, subject: str = "This run") -> None:
    """Warn that a run (or `subject`, e.g. "This study's runs") with random weights says
    nothing about quality."""
    if is_random(weights):
        st.warning(
            f"{subject} used **random weights** (`weights = none`): the losses and images only show that "
            "the pipeline works; the quality is not meaningful.",
            icon=":material/warning:",
        )


NO_IMAGE = {  # why a run has no output image, by status
    "queued": "no image yet (queued)",
    "running": "no image yet (running)",
    "failed": "no output: the run failed",
    "cancelled": "no output: cancelled before a snapshot",
    "interrupted": "no output: interrupted before a snapshot",
}


def thumb(data: bytes | None, caption: str | None = None, status: str | None = None) -> None:
    """A stored thumbnail, or a line saying why there is none (by the run's status)."""
    if data:
        st.image(data, caption=caption, width="stretch", output_format="PNG")  # "auto" re-encodes as JPEG
    else:
        why = NO_IMAGE.get(status or "", "no image yet")
        st.caption(f"{md_escape(caption) + ': ' if caption else ''}{why}")


def chosen_executor(prefix: str) -> tuple[str, str | None]:
    """What `executor_widget(prefix)` holds now, without drawing it (the local executor
    before it was drawn): a button elsewhere on the page starts its worker there."""
    name = st.session_state.get(f"{prefix}_executor") or "local"
    address = (st.session_state.get(f"{prefix}_ray_address") or "").strip() if name != "local" else ""
    return name, address or None


def executor_widget(prefix: str) -> tuple[str, str | None]:
    """Where queued runs execute (`workbench.executors.EXECUTORS`): (executor, Ray
    address or None). Only executors whose package is installed are offered; with just
    `local` nothing is drawn. Keys: `<prefix>_executor`, `<prefix>_ray_address`."""
    from workbench.executors import DEFAULT_EXECUTOR, EXECUTORS  # TF- and Ray-free

    names = [name for name, e in EXECUTORS.items() if e.available()]
    if names == [DEFAULT_EXECUTOR]:
        return DEFAULT_EXECUTOR, None
    name = st.selectbox(
        "Run on",
        names,
        key=f"{prefix}_executor",
        format_func=lambda n: EXECUTORS[n].label,
        help="; ".join(f"{e.label}: {e.help}" for n, e in EXECUTORS.items() if n in names),
    )
    if name == DEFAULT_EXECUTOR:
        return name, None
    address = st.text_input(
        "Ray address",
        key=f"{prefix}_ray_address",
        placeholder="empty: a Ray instance on this machine; auto: its cluster; ray://HOST:PORT",
    )
    return name, address.strip() or None

"""The live view of queued and running runs: a fragment that polls the store every
2 seconds while anything is active, with progress, loss curves, the newest snapshot
and a Cancel button per run (key `live_cancel_<run id>`)."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, nav
from dashboard.common import db_path, fmt_loss, present, progress_text, status_label
from dashboard.text import md_escape
from store import queries
from store import runs as store_runs
from workbench.queue import NO_WORKER_ENV, start_worker
from workbench.slots import running_workers

log = logging.getLogger(__name__)

POLL_SECONDS = 2
MAX_CARDS = 10
NOTICE_KEY = "live_notice"


def _cancel(db: Any, run_id: int) -> None:
    status = store_runs.request_cancel(db, run_id)
    if status == "cancelled":
        st.session_state[NOTICE_KEY] = f"Run #{run_id} cancelled."
    else:
        st.session_state[NOTICE_KEY] = f"Run #{run_id}: cancel requested; it stops after its current step."


def _start_worker() -> None:
    proc = start_worker(db_path())
    st.session_state[NOTICE_KEY] = (
        f"Started a worker (pid {proc.pid})." if proc else f"Not started: ${NO_WORKER_ENV} is set."
    )


def worker_state() -> str:
    """What a queued run waits for, from the workers' slot locks (a real liveness
    signal: the kernel drops a lock the moment its process dies)."""
    pids = running_workers(db_path())
    if pids:
        return f"Queued: the worker (pid {', '.join(map(str, pids))}) takes it after the runs before it."
    return "Queued, and no worker is running: press Start worker."


def _card(db: Any, row: Any, curve: pd.DataFrame) -> None:
    run_id = int(row["id"])
    with st.container(border=True):
        st.markdown(
            f"**Run #{run_id}** · {row['backbone']} · lr {row['learning_rate']:g} · {row['size']} px · "
            f"{status_label(row['status'])}"
        )
        fraction, text = progress_text(row)
        st.progress(fraction, text=text)
        if row["status"] == "queued":
            st.caption(worker_state())
        if present(row["error"]):
            st.error(md_escape(row["error"]))  # errors name the user's files
        left, right = st.columns([3, 2])
        with left:
            if not curve.empty:
                st.altair_chart(charts.loss_parts_chart(curve, log=True, height=220), key=f"live_chart_{run_id}")
                st.caption(f"last total loss {fmt_loss(row['last_loss'])}")
        with right:
            if row["snapshot_png"]:
                st.image(row["snapshot_png"], caption=f"snapshot at step {int(row['snapshot_step'])}", width="stretch")
        if row["status"] in store_runs.ACTIVE and not row["cancel_requested"]:
            st.button("Cancel", key=f"live_cancel_{run_id}", on_click=_cancel, args=(db, run_id))
        elif row["cancel_requested"] and row["status"] == "running":
            st.caption("Cancel requested; the run stops after its current step.")
        if row["status"] not in store_runs.ACTIVE:
            nav.link("run", label=f"Open run #{run_id} in Run detail", run_id=run_id, icon=":material/description:")


def _render(db: Any, watch: list[int], polling: bool) -> None:
    rows, curves = queries.live_view(db, watch, limit=MAX_CARDS, max_points=150)
    active = rows[rows["status"].isin(store_runs.ACTIVE)]
    if polling and active.empty:
        st.rerun(scope="app")  # everything ended: one full rerun switches polling off
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(notice)
    if rows.empty:
        st.info("Nothing queued or running. Fill in the form in the sidebar and press **Run**.", icon="👈")
        return
    if (rows["status"] == "queued").any() and not running_workers(db_path()):
        st.button("Start worker", key="live_start_worker", on_click=_start_worker, help="No worker is running.")
    for _, row in rows.iterrows():
        _card(db, row, curves[curves["run_id"] == row["id"]])


def render(db: Any, watch: list[int]) -> None:
    """The live view of active runs and of the runs in `watch`; polls while any is active."""
    store_runs.mark_stale_runs(db)
    active = queries.live_runs(db, (), limit=1)
    polling = not active.empty
    st.subheader("Live view")
    if polling:
        st.caption(f"Refreshes every {POLL_SECONDS} s while runs are queued or running.")
    fragment = st.fragment(run_every=POLL_SECONDS if polling else None)(_render)
    fragment(db, watch, polling)

"""The live view of queued and running runs: a fragment that polls the store every
2 seconds while anything is active, with progress, loss curves, the newest snapshot
and a Cancel button per run (key `live_cancel_<run id>`).

A queued run says its place in the queue and, when past runs allow it, an honest
estimate of when it ends and what the estimate rests on (`store.estimates`); without
such a history it says so instead of guessing. Numbers are named as everywhere: "loss at
step k" while a run goes, "output loss" (`common.OUTPUT_LOSS`) once it has finished."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, nav
from dashboard.common import OUTPUT_LOSS, OUTPUT_LOSS_HELP, db_path, fmt_loss, present, status_badge
from dashboard.text import md_escape
from engine.backbones import BACKBONES
from store import estimates as store_estimates
from store import queries
from store import runs as store_runs
from workbench.queue import NO_WORKER_ENV, start_worker
from workbench.slots import running_workers
from workbench.text import format_duration

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


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, ..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _label(backbone: str) -> str:
    bb = BACKBONES.get(backbone)
    return bb.label if bb else str(backbone)


def queue_text(est: store_estimates.Estimate) -> str:
    """ "2nd in the queue, after run #12" (the run just ahead; a running one is named so)."""
    text = f"{ordinal(est.position)} in the queue"
    if est.ahead:
        last = est.ahead[-1]
        text += f", after run #{last}" + (" (running)" if last in est.running_ahead else "")
    return text


def eta_text(est: store_estimates.Estimate | None) -> str | None:
    """ "≈ 1m20s, from 5 earlier ResNet50 runs at 256 px", or why there is no estimate;
    None when there is nothing to say (no estimate object)."""
    if est is None:
        return None
    if est.seconds_left is None:
        gaps = ", ".join(f"{_label(b)} at {size} px" for b, size in est.missing)
        if est.status == "running" and not est.missing:
            return None
        return f"no time estimate yet: no finished {gaps} run to go by"
    if est.own_pace:
        basis = "from this run's pace so far"
    else:
        rate = est.basis
        runs = f"{rate.runs} earlier {_label(rate.backbone)} run{'s' if rate.runs != 1 else ''}"
        basis = f"from {runs} at {rate.size} px"
    if est.status == "queued" and est.ahead:
        basis += f", including the {len(est.ahead)} run{'s' if len(est.ahead) != 1 else ''} ahead"
    return f"ends in ≈ {format_duration(est.seconds_left)}, {basis}"


def progress_line(row: Any) -> tuple[float, str]:
    """(fraction done, "step 40 / 300 · 12.0s elapsed") for a live-view row; the time
    left is `eta_text`'s (never the first steps' pace, which includes compiling)."""
    done, total = int(row["steps_done"] or 0), max(1, int(row["iterations"]))
    text = f"step {done} / {total}"
    if done and present(row["elapsed"]):
        text += f" · {format_duration(row['elapsed'])} elapsed"
    return min(1.0, done / total), text


def _loss_caption(row: Any, curve: pd.DataFrame) -> None:
    """The number under the chart, named: the loss at the last logged step while the run
    goes, the output loss once it has finished (the curve's last point is not that)."""
    last_step = int(curve["step"].max()) if not curve.empty else None
    if row["status"] == "finished" and present(row["total_loss"]):
        at = f" (the curve's last point, loss at step {last_step}, is {fmt_loss(row['last_loss'])})"
        st.caption(f"{OUTPUT_LOSS}: **{fmt_loss(row['total_loss'])}**{at if last_step else ''}", help=OUTPUT_LOSS_HELP)
    elif last_step is not None and present(row["last_loss"]):
        st.caption(f"loss at step {last_step}: {fmt_loss(row['last_loss'])}")


def _card(db: Any, row: Any, curve: pd.DataFrame, est: store_estimates.Estimate | None) -> None:
    run_id = int(row["id"])
    with st.container(border=True):
        st.markdown(
            f"**Run #{run_id}** · {row['backbone']} · lr {row['learning_rate']:g} · {row['size']} px · "
            f"{status_badge(row['status'])}"
        )
        fraction, text = progress_line(row)
        st.progress(fraction, text=text)
        if row["status"] == "queued":
            st.caption(" · ".join(t for t in (queue_text(est) if est else None, eta_text(est)) if t))
            st.caption(worker_state())
        elif row["status"] == "running" and (eta := eta_text(est)):
            st.caption(eta)
        if present(row["error"]):
            st.error(md_escape(row["error"]))  # errors name the user's files
        left, right = st.columns([3, 2])
        with left:
            if not curve.empty:
                st.altair_chart(charts.loss_parts_chart(curve, log=True, height=220), key=f"live_chart_{run_id}")
            _loss_caption(row, curve)
        with right:
            if row["snapshot_png"]:
                st.image(
                    row["snapshot_png"],
                    caption=f"snapshot at step {int(row['snapshot_step'])}",
                    width="stretch",
                    output_format="PNG",
                )
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
        st.info(
            "Nothing queued or running. Fill in the form in the sidebar and press **Run**.",
            icon=":material/arrow_back:",
        )
        return
    if (rows["status"] == "queued").any() and not running_workers(db_path()):
        st.button("Start worker", key="live_start_worker", on_click=_start_worker, help="No worker is running.")
    estimates = store_estimates.queue_estimates(db) if not active.empty else {}
    for _, row in rows.iterrows():
        _card(db, row, curves[curves["run_id"] == row["id"]], estimates.get(int(row["id"])))


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

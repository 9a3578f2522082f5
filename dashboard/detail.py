"""Run detail sections: run picker (`?run=ID`), outputs and downloads, snapshots,
curves, config, notes/tags, re-run and delete.

Widget keys: `detail_run` (picker), `detail_snapshot_step`, `detail_log`,
`detail_notes_<id>`, `detail_tags_<id>`, `detail_save`, `detail_rerun`, `detail_cancel`,
`detail_delete`, `detail_delete_confirm`, `detail_delete_keep`, and the download
buttons `detail_dl_png`, `detail_dl_csv`, `detail_dl_config`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, launch, nav
from dashboard.common import (
    db_path,
    fmt_loss,
    present,
    random_weights_warning,
    run_label,
    set_url_run,
    status_label,
    sync_run_from_url,
)
from dashboard.text import md_escape
from store import images as store_images
from store import queries
from store import runs as store_runs
from workbench.errors import one_line
from workbench.queue import start_worker
from workbench.text import format_duration

log = logging.getLogger(__name__)

PICKER = "detail_run"
CONFIRM = "detail_confirm_delete"
NOTICE = "detail_notice"


def pick_run(db: Any) -> int | None:
    """The run picker, kept in step with `?run=ID`; returns the chosen run id."""
    choices = queries.run_choices(db, limit=500)
    labels = {int(r["id"]): f"{run_label(r)} · {r['created_at']:%Y-%m-%d %H:%M}" for _, r in choices.iterrows()}
    wanted = st.query_params.get("run")
    if wanted and str(wanted).isdigit() and int(wanted) not in labels:
        extra = queries.run_choices_by_id(db, [int(wanted)])
        labels.update({int(r["id"]): run_label(r) for _, r in extra.iterrows()})
    if not labels:
        return None
    sync_run_from_url(PICKER, labels)
    if st.session_state.get(PICKER) not in labels:
        st.session_state[PICKER] = next(iter(labels))
    run_id = st.selectbox("Run", list(labels), format_func=labels.get, key=PICKER)
    set_url_run(PICKER, run_id)
    return run_id


def header(run: dict[str, Any]) -> None:
    """Title line, key numbers and warnings."""
    st.subheader(f"Run #{run['id']} · {run['backbone']} · {status_label(run['status'])}")
    cols = st.columns(6)
    convention = run.get("loss_convention") or "gatys"
    which = "best" if run.get("keep_best") else "last"
    cols[0].metric(
        "Output's total loss",
        fmt_loss(run["total_loss"]),
        help=f"The output image ({which} of the run) evaluated once more, {convention} convention: comparable only "
        "with runs of the same backbone and convention.",
    )
    best = run.get("best_loss")
    after = f", after {run['best_step']} steps" if present(run.get("best_step")) else ""
    cols[1].metric(
        "Best loss",
        fmt_loss(best) if present(best) else "–",
        help=f"The lowest total loss of any image of the run's last scale{after} (`--keep-best` outputs it).",
    )
    cols[2].metric("Steps", f"{run['steps_done']} / {run['iterations']}")
    cols[3].metric("Learning rate", f"{run['learning_rate']:g}")
    cols[4].metric("Wall time", format_duration(run["wall_seconds"]))
    cols[5].metric("Size", f"{run['size']} px")
    st.caption(f"Losses: {convention} convention (`{run['gram_convention']}`)")
    random_weights_warning(run["weights"])
    if present(run["error"]):
        st.error(f"Error: {md_escape(run['error'])}")  # errors name the user's files


def images_section(db: Any, run: dict[str, Any]) -> None:
    """Inputs, the output at full size, and the three downloads."""
    thumbs = store_images.get_thumbs(db, [run["content_image"], run["style_image"]])
    left, right = st.columns([1, 3])
    with left:
        st.image(thumbs.get(run["content_image"]), caption="content", width="stretch")
        st.image(thumbs.get(run["style_image"]), caption="style", width="stretch")
    with right:
        if present(run["output_image"]):
            st.image(store_images.get_png(db, run["output_image"]), caption="output (full size)", width="content")
        else:
            st.info("No output image yet.")
    cols = st.columns(3)
    run_id = run["id"]
    if present(run["output_image"]):
        cols[0].download_button(
            "Download output PNG",
            data=lambda: store_images.get_png(db, run["output_image"]),
            file_name=f"run_{run_id}_output.png",
            mime="image/png",
            key="detail_dl_png",
            on_click="ignore",
        )
    cols[1].download_button(
        "Download iterations CSV",
        data=lambda: store_runs.get_iterations(db, run_id).to_csv(index=False),
        file_name=f"run_{run_id}_iterations.csv",
        mime="text/csv",
        key="detail_dl_csv",
        on_click="ignore",
    )
    cols[2].download_button(
        "Download config JSON",
        data=json.dumps(run["config"], indent=2, sort_keys=True),
        file_name=f"run_{run_id}_config.json",
        mime="application/json",
        key="detail_dl_config",
        on_click="ignore",
    )


def snapshots_section(db: Any, run_id: int) -> None:
    """A slider over the stored snapshots and the image at the chosen step."""
    snaps = store_runs.get_snapshots(db, run_id)
    st.subheader("Snapshots")
    if snaps.empty:
        st.caption("No snapshots stored (snapshot every = 0, or the run has not reached one yet).")
        return
    steps = [int(s) for s in snaps["step"]]
    if len(steps) > 1:
        if st.session_state.get("detail_snapshot_step") not in steps:
            st.session_state["detail_snapshot_step"] = steps[-1]
        step = st.select_slider("Step", steps, key="detail_snapshot_step")
    else:
        step = steps[0]
    image_id = snaps.loc[snaps["step"] == step, "image_id"].iloc[0]
    st.image(store_images.get_png(db, image_id), caption=f"step {step}", width="content")


def curves_section(db: Any, run_id: int) -> None:
    """Loss curves (log toggle) and step time, downsampled in SQL."""
    st.subheader("Curves")
    curve = queries.curves(db, [run_id], max_points=500)
    if curve.empty:
        st.caption("No iterations logged yet.")
        return
    log_scale = st.toggle("Log scale", value=True, key="detail_log")
    st.altair_chart(charts.loss_parts_chart(curve, log=log_scale), key="detail_loss_chart")
    spans = queries.scale_spans(db, run_id)
    if len(spans) > 1:
        parts = ", ".join(f"steps {r.first_step}–{r.last_step} at {r.size} px" for r in spans.itertuples())
        st.caption(f"Coarse to fine: {parts}. Each scale's losses are of a different image size, so the curve jumps.")
    st.caption("Step time (seconds per iteration; each point averages a bucket of steps)")
    st.altair_chart(charts.step_time_chart(curve), key="detail_time_chart")


def config_section(run: dict[str, Any]) -> None:
    """The full stored config and where/how the run executed."""
    st.subheader("Configuration")
    left, right = st.columns(2)
    left.json(run["config"])
    facts = {k: run.get(k) for k in ("created_at", "started_at", "finished_at", "device", "tf_version", "host")}
    facts["gram_convention"] = run["gram_convention"]
    table = pd.DataFrame({"value": [str(v) if present(v) else "–" for v in facts.values()]}, index=list(facts))
    right.dataframe(table, key="detail_facts", column_config={"value": st.column_config.TextColumn("value")})


def notes_section(db: Any, run: dict[str, Any]) -> None:
    """Edit the run's notes and tags (comma-separated)."""
    st.subheader("Notes and tags")
    with st.form(key="detail_notes_form"):
        notes = st.text_area("Notes", value=run["notes"], key=f"detail_notes_{run['id']}")
        tags = st.text_input("Tags (comma-separated)", value=", ".join(run["tags"]), key=f"detail_tags_{run['id']}")
        if st.form_submit_button("Save notes and tags", key="detail_save"):
            store_runs.set_notes_tags(db, run["id"], notes, tags.split(","))
            st.session_state[NOTICE] = ("success", f"Saved notes and tags of run #{run['id']}.")
            st.rerun()


def _rerun(db: Any, run_id: int) -> None:
    try:
        new_id = launch.rerun(db, run_id)
    except Exception as exc:  # validation errors of an old config, missing images
        # The error can name a missing image or weights file: shown as text, not Markdown.
        st.session_state[NOTICE] = ("error", f"Could not re-run: {md_escape(one_line(exc))}")
        return
    worker = start_worker(db_path())
    started = "" if worker else " (no worker started)"
    st.session_state[NOTICE] = ("success", f"Queued run #{new_id} with the same settings{started}.")
    st.session_state["detail_new_run"] = new_id


def actions_section(db: Any, run: dict[str, Any]) -> None:
    """Re-run, cancel (active runs) and delete with confirmation."""
    st.subheader("Actions")
    run_id = run["id"]
    cols = st.columns(3)
    cols[0].button("Re-run with these settings", key="detail_rerun", on_click=_rerun, args=(db, run_id))
    new_id = st.session_state.pop("detail_new_run", None)
    if new_id:
        nav.link("launch", label=f"Watch run #{new_id} on the Launch page", run_id=new_id)
    if run["status"] in store_runs.ACTIVE:
        if cols[1].button("Cancel run", key="detail_cancel"):
            st.session_state[NOTICE] = ("success", f"Run #{run_id} is now {store_runs.request_cancel(db, run_id)}.")
            st.rerun()
        st.caption("A queued or running run must be cancelled before it can be deleted.")
        return
    if cols[2].button("Delete run…", key="detail_delete"):
        st.session_state[CONFIRM] = run_id
    if st.session_state.get(CONFIRM) == run_id:
        confirm_delete(db, run_id)


def confirm_delete(db: Any, run_id: int) -> None:
    """The confirmation step of deleting a run."""
    st.warning(f"Delete run #{run_id} with its iterations and snapshots? This cannot be undone.")
    yes, no = st.columns(2)
    if yes.button(f"Yes, delete run #{run_id}", key="detail_delete_confirm", type="primary"):
        store_runs.delete_run(db, run_id)
        st.session_state.pop(CONFIRM, None)
        st.session_state.pop(PICKER, None)
        set_url_run(PICKER, None)
        st.session_state[NOTICE] = ("success", f"Deleted run #{run_id}.")
        st.rerun()
    if no.button("Keep it", key="detail_delete_keep"):
        st.session_state.pop(CONFIRM, None)
        st.rerun()


def show_notice() -> None:
    """The message left by the last action, once (Markdown: user text in it is escaped
    where the message is made)."""
    kind, text = st.session_state.pop(NOTICE, (None, None))
    if kind == "error":
        st.error(text)
    elif kind:
        st.success(text)

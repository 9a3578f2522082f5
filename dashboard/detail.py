"""Run detail sections: run picker (`?run=ID`), header, images (the inputs; a run with
several style images or masks lists each style in order with its blend weight, mask and
the size it went to the network at; the output at its own size, larger on click, and
image comparison sliders), snapshots, curves, fair metrics (with a
"Compute metrics" button that starts the work in the background), config, notes/tags,
re-run, edit and re-run, compare with other runs, and delete.

Store reads are cached on `common.store_token()` (images by their id, which is the hash
of their bytes), and the parts that change often (snapshot slider, image comparison, the
"computing metrics…" poll) are fragments, so a widget there reruns only its fragment.

Widget keys: `detail_run` (picker), `detail_snapshot_step`, `detail_image_vs`,
`detail_output_large`, `detail_log`, `detail_compute_metrics`, `detail_weights_<judge>`,
`detail_notes_<id>`, `detail_tags_<id>`, `detail_save`, `detail_rerun`, `detail_edit_rerun`,
`detail_compare_with_<id>`, `detail_compare`, `detail_cancel`, `detail_delete`,
`detail_delete_confirm`, `detail_delete_keep`, and the download buttons `detail_dl_png`,
`detail_dl_csv`, `detail_dl_config`.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from PIL import Image

from dashboard import charts, fair, launch, nav
from dashboard.common import (
    OUTPUT_LOSS,
    OUTPUT_LOSS_HELP,
    db_path,
    fmt_loss,
    present,
    random_weights_warning,
    run_label,
    set_url_run,
    status_badge,
    store_token,
    sync_run_from_url,
)
from dashboard.image_compare import compare_html
from dashboard.text import md_escape
from engine.errors import WeightsError
from engine.weights import KINDS, check_weights_path
from store import gallery as store_gallery
from store import images as store_images
from store import metrics as store_metrics
from store import queries
from store import runs as store_runs
from workbench import queue
from workbench.errors import one_line
from workbench.text import format_duration

log = logging.getLogger(__name__)

PICKER = "detail_run"
CONFIRM = "detail_confirm_delete"
NOTICE = "detail_notice"
SNAPSHOT = "detail_snapshot_step"
POLL_S = 2  # seconds between looks at a metrics process while it runs
STYLE_THUMB_PX = 120  # style thumbnails of a run with several styles or masks
MASK_THUMB_PX = 64


# --- cached store reads (keyed on the store's change token; images on their id) --------


@st.cache_data(max_entries=8, show_spinner=False)
def _choices(db: str, token: tuple) -> pd.DataFrame:
    return queries.run_choices(db, limit=500)


@st.cache_data(max_entries=64, show_spinner=False)
def _run(db: str, token: tuple, run_id: int) -> dict[str, Any] | None:
    return store_runs.get_run(db, run_id)


@st.cache_data(max_entries=64, show_spinner=False)
def _styles(db: str, token: tuple, run_id: int) -> list[dict[str, Any]]:
    return store_runs.get_styles(db, run_id)


@st.cache_data(max_entries=64, show_spinner=False)
def _snapshots(db: str, token: tuple, run_id: int) -> list[tuple[int, str]]:
    snaps = store_runs.get_snapshots(db, run_id)
    return [(int(s), str(i)) for s, i in zip(snaps["step"], snaps["image_id"], strict=True)]


@st.cache_data(max_entries=64, show_spinner=False)
def _curves(db: str, token: tuple, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return queries.curves(db, [run_id], max_points=500), queries.scale_spans(db, run_id)


@st.cache_data(max_entries=64, show_spinner=False)
def _metrics(db: str, token: tuple, run_id: int) -> pd.DataFrame:
    return store_metrics.get_metrics(db, [run_id])


@st.cache_data(max_entries=64, show_spinner=False)
def _partners(db: str, token: tuple, run_id: int, backbone: str, content: str, style: str) -> list[int]:
    """The newest finished run of each other backbone on the same image pair."""
    found = []
    for other in (b for b in fair.BACKBONE_NAMES if b != backbone):
        filters = store_gallery.GalleryFilter(
            backbones=(other,), statuses=("finished",), content_image=content, style_image=style
        )
        page = store_gallery.gallery_page(db, filters, store_gallery.NEWEST, limit=1)
        found += [int(i) for i in page.rows["id"] if int(i) != run_id]
    return found


@st.cache_data(max_entries=128, show_spinner=False)
def _png(db: str, image_id: str, thumb: bool = False) -> bytes | None:
    """An image's PNG bytes (by id: the hash of the bytes, so never stale)."""
    return store_images.get_png(db, image_id, thumb=thumb)


@st.cache_data(max_entries=128, show_spinner=False)
def _png_size(db: str, image_id: str) -> tuple[int, int] | None:
    data = _png(db, image_id)
    if data is None:
        return None
    with Image.open(io.BytesIO(data)) as img:
        return img.size


@st.cache_data(max_entries=32, show_spinner=False)
def _compare_page(db: str, left: str, right: str, left_label: str, right_label: str) -> tuple[str, int] | None:
    """The comparison slider's HTML (`dashboard.image_compare.compare_html`), made once
    per pair of image ids: the right image is resized to the left one's size."""
    a, b = _png(db, left), _png(db, right)
    if a is None or b is None:
        return None
    return compare_html(a, b, left_label, right_label)


def load_run(db: Any, run_id: int) -> dict[str, Any] | None:
    """The run's row (cached until the store changes)."""
    return _run(str(db), store_token(), run_id)


# --- picker and header ------------------------------------------------------------------


def choice_labels(db: Any) -> dict[int, str]:
    """{run id: label} of the newest 500 runs, for the picker and "Compare with…"."""
    choices = _choices(str(db), store_token())
    return {int(r["id"]): f"{run_label(r)} · {r['created_at']:%Y-%m-%d %H:%M}" for r in choices.to_dict("records")}


def pick_run(db: Any) -> int | None:
    """The run picker, kept in step with `?run=ID`; returns the chosen run id."""
    labels = choice_labels(db)
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
    """Title line with the status in words and colour, the output loss and the best loss
    named separately with their steps, and warnings."""
    st.subheader(f"Run #{run['id']} · {run['backbone']} · {status_badge(run['status'])}")
    cols = st.columns(6)
    convention = run.get("loss_convention") or "gatys"
    which = "the lowest-loss image (keep best)" if run.get("keep_best") else "the last image"
    cols[0].metric(
        OUTPUT_LOSS,
        fmt_loss(run["total_loss"]),
        help=f"{OUTPUT_LOSS_HELP} This run returned {which}; {convention} convention.",
    )
    if present(run["total_loss"]):
        cols[0].caption(f"after step {run['steps_done']}")
    best = run.get("best_loss")
    cols[1].metric(
        "best loss",
        fmt_loss(best) if present(best) else "–",
        help="The lowest total loss of any image of the run's last scale (`--keep-best` outputs that image). "
        "Raw losses compare only runs of one backbone and loss convention.",
    )
    if present(run.get("best_step")):
        cols[1].caption(f"at step {int(run['best_step'])}")
    cols[2].metric("Steps", f"{run['steps_done']} / {run['iterations']}")
    cols[3].metric("Learning rate", f"{run['learning_rate']:g}")
    cols[4].metric("Wall time", format_duration(run["wall_seconds"]))
    cols[5].metric("Size", f"{run['size']} px")
    st.caption(f"Losses: {convention} convention (`{run['gram_convention']}`)")
    random_weights_warning(run["weights"])
    if present(run["error"]):
        st.error(f"Error: {md_escape(run['error'])}")  # errors name the user's files


# --- images ---------------------------------------------------------------------------------


def images_section(db: Any, run: dict[str, Any]) -> None:
    """Inputs as thumbnails, the output at its own pixel size (capped at the page width;
    Streamlit's fullscreen button or "View larger" show it bigger), and the downloads."""
    db = str(db)
    styles = _styles(db, store_token(), int(run["id"]))
    single = len(styles) <= 1 and not any(present(s["mask_image"]) for s in styles)
    left, right, _ = st.columns([1, 1, 2])
    with left:
        data = _png(db, run["content_image"], thumb=True)
        if data:
            st.image(data, caption="content", width="content", output_format="PNG")
    if single:  # one style image, no mask: as runs always looked
        with right:
            data = _png(db, run["style_image"], thumb=True)
            if data:
                size = _network_size(styles[0]) if styles else ""
                caption = f"style · {size}" if size else "style"
                st.image(data, caption=caption, width="content", output_format="PNG")
    else:
        styles_section(db, run, styles)
    output = run["output_image"] if present(run["output_image"]) else None
    if output:
        width, height = _png_size(db, output) or (run["size"], run["size"])
        # Its own size: an int width is capped at the container's width by Streamlit.
        caption = f"output · {width} × {height} px (full size)"
        st.image(_png(db, output), caption=caption, width=width, output_format="PNG")
        if st.button("View larger", key="detail_output_large", icon=":material/open_in_full:"):
            _larger(db, output, f"Run #{run['id']} output · {width} × {height} px")
    else:
        st.info("No output image yet.")
    _downloads(db, run, output)


def _network_size(style: dict[str, Any]) -> str:
    """'256 × 192 px to the network' ('' for runs from before sizes were stored)."""
    if not (present(style.get("width")) and present(style.get("height"))):
        return ""
    return f"{int(style['width'])} × {int(style['height'])} px to the network"


def style_caption(style: dict[str, Any], count: int) -> str:
    """'style 2 of 3 · weight 0.3 · 256 × 192 px to the network' (the name escaped)."""
    parts = [f"style {int(style['position']) + 1} of {count}", f"weight {float(style['weight']):g}"]
    if present(style.get("name")):
        parts.insert(1, md_escape(str(style["name"])))
    size = _network_size(style)
    return " · ".join([*parts, size] if size else parts)


def styles_section(db: str, run: dict[str, Any], styles: list[dict[str, Any]]) -> None:
    """The run's style images in blend-weight order: thumbnail, blend weight, the size
    it went to the network at, and its region mask, if any, as a small thumbnail."""
    total = sum(float(s["weight"]) for s in styles) or 1.0
    masked = any(present(s["mask_image"]) for s in styles)
    how = "each where its mask is white" if masked else "blended into one style target"
    st.markdown(f"**{len(styles)} style image{'s' if len(styles) > 1 else ''}**, {how}:")
    cols = st.columns(max(len(styles), 4))
    for col, style in zip(cols, styles, strict=False):
        with col:
            data = _png(db, style["image_id"], thumb=True)
            if data:
                # A fixed width: with "content" a long caption would stretch a small thumbnail.
                st.image(data, caption=style_caption(style, len(styles)), width=STYLE_THUMB_PX, output_format="PNG")
            else:
                st.caption(f"{style_caption(style, len(styles))} (image no longer stored)")
            if len(styles) > 1 and not masked:
                st.caption(f"{float(style['weight']) / total:.0%} of the blend")
            if present(style["mask_image"]):
                mask = _png(db, style["mask_image"], thumb=True)
                name = f": {md_escape(str(style['mask_name']))}" if present(style.get("mask_name")) else ""
                if mask:
                    st.image(mask, caption=f"mask{name}", width=MASK_THUMB_PX, output_format="PNG")


@st.dialog("Output", width="large")
def _larger(db: str, image_id: str, caption: str) -> None:
    st.image(_png(db, image_id), caption=caption, width="stretch", output_format="PNG")


def _downloads(db: str, run: dict[str, Any], output: str | None) -> None:
    cols = st.columns(3)
    run_id = run["id"]
    if output:
        cols[0].download_button(
            "Download output PNG",
            data=lambda: _png(db, output),
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


def step_label(step: int) -> str:
    """A snapshot's step as the slider shows it: 0 is the initial image."""
    return "0 (initial image)" if step == 0 else str(step)


def compare_images_section(db: Any, run: dict[str, Any]) -> None:
    """Image comparison sliders: the output against the photo (resized to the output's
    size), or against a chosen snapshot."""
    if not present(run["output_image"]):
        return
    st.subheader("Compare images")
    _compare_fragment(str(db), int(run["id"]), str(run["output_image"]), str(run["content_image"]))


@st.fragment
def _compare_fragment(db: str, run_id: int, output: str, content: str) -> None:
    snaps = _snapshots(db, store_token(), run_id)
    options = ["photo", *(f"step {s}" for s, _ in snaps)]
    names = {"photo": "the photo (content image, resized to the output)"}
    names.update({f"step {s}": f"the snapshot at step {step_label(s)}" for s, _ in snaps})
    if st.session_state.get("detail_image_vs") not in options:  # another run's step
        st.session_state["detail_image_vs"] = "photo"
    choice = st.selectbox("Output against", options, format_func=names.get, key="detail_image_vs")
    other = content if choice == "photo" else dict((f"step {s}", i) for s, i in snaps)[choice]
    label = "photo" if choice == "photo" else choice
    made = _compare_page(db, output, other, "output", label)
    if made is None:
        st.caption("That image is no longer in the store.")
        return
    page, height = made
    st.iframe(page, height=height)  # our own HTML: two stored images and escaped labels
    st.caption("Drag the handle: the output on the left of it, the other image on the right.")


def snapshots_section(db: Any, run_id: int) -> None:
    """A slider over the stored snapshots (step 0, the initial image, when the run stored
    it; else from the first snapshot) and the image at the chosen step, in a fragment."""
    st.subheader("Snapshots")
    snaps = _snapshots(str(db), store_token(), run_id)
    if not snaps:
        st.caption("No snapshots stored (snapshot every = 0, or the run has not reached one yet).")
        return
    _snapshot_fragment(str(db), run_id)


@st.fragment
def _snapshot_fragment(db: str, run_id: int) -> None:
    snaps = dict(_snapshots(db, store_token(), run_id))
    steps = list(snaps)
    if not steps:
        return
    if len(steps) > 1:
        if st.session_state.get(SNAPSHOT) not in steps:
            st.session_state[SNAPSHOT] = steps[-1]
        step = st.select_slider("Step", steps, format_func=step_label, key=SNAPSHOT)
    else:
        step = steps[0]
    data = _png(db, snaps[step])
    if data is None:
        st.caption(f"The snapshot at step {step} is no longer in the store.")
        return
    size = _png_size(db, snaps[step])
    st.image(data, caption=f"step {step_label(step)}", width=size[0] if size else "content", output_format="PNG")


# --- curves and config ------------------------------------------------------------------------


def curves_section(db: Any, run_id: int) -> None:
    """Loss curves (log toggle) and step time, downsampled in SQL."""
    st.subheader("Curves")
    curve, spans = _curves(str(db), store_token(), run_id)
    if curve.empty:
        st.caption("No iterations logged yet.")
        return
    log_scale = st.toggle("Log scale", value=True, key="detail_log")
    st.altair_chart(charts.loss_parts_chart(curve, log=log_scale), key="detail_loss_chart")
    st.caption(
        "Loss at step k: the loss of the image before step k's update, so the curve's last point is not the "
        f"{OUTPUT_LOSS} above (that one is evaluated once more, after the last step)."
    )
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


# --- fair metrics and the background job that computes them --------------------------------------


@dataclass
class MetricsJob:
    """A `python -m workbench metrics RUN` process this dashboard started, and where its
    lines start in the shared log."""

    proc: subprocess.Popen
    log_path: Path
    offset: int
    started: float


# One job per (store, run) for the whole dashboard process (every session and tab), so a
# double click, or a second tab, never starts a second computation of the same run.
_JOBS: dict[tuple[str, int], MetricsJob] = {}
_JOBS_LOCK = threading.Lock()


def metrics_job(db: Any, run_id: int) -> MetricsJob | None:
    """The metrics process started for this run, if one was (running or just ended)."""
    with _JOBS_LOCK:
        return _JOBS.get((str(db), int(run_id)))


def computing(db: Any, run_id: int) -> bool:
    """Whether a metrics process for this run is still running."""
    job = metrics_job(db, run_id)
    return job is not None and job.proc.poll() is None


def metrics_command(db: Any, run_id: int, weights: dict[str, str]) -> str:
    """The command line that computes the run's metrics (what the button starts)."""
    flags = "".join(f" --weights-{name} {path}" for name, path in sorted(weights.items()) if path)
    return f"python -m workbench metrics {run_id} --db {db}{flags}"


def start_metrics_job(db: Any, run_id: int, weights: dict[str, str]) -> tuple[str, str]:
    """Start computing the run's metrics in the background, unless that is already under
    way; returns a notice (kind, Markdown text)."""
    key = (str(db), int(run_id))
    with _JOBS_LOCK:
        job = _JOBS.get(key)
        if job is not None and job.proc.poll() is None:
            return "info", f"Already computing the metrics of run #{run_id}."
        log_path = Path(f"{db}.metrics.log")
        offset = log_path.stat().st_size if log_path.exists() else 0
        proc = queue.start_metrics(Path(db), run_id, weights)
        if proc is None:
            return "error", (
                f"Not started: `{queue.NO_WORKER_ENV}` is set, so the dashboard starts no background process. "
                "Run the command below in a terminal."
            )
        _JOBS[key] = MetricsJob(proc, log_path, offset, time.monotonic())
    return "info", f"Computing the metrics of run #{run_id} in the background…"


def _job_output(job: MetricsJob) -> str:
    """The last line this job wrote to the metrics log ('' if none)."""
    try:
        with open(job.log_path, "rb") as f:
            f.seek(job.offset)
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _finish_job(db: str, run_id: int) -> None:
    """A job that ended: forget it and leave a notice saying how it went."""
    with _JOBS_LOCK:
        job = _JOBS.pop((db, run_id), None)
    if job is None:
        return
    rc = job.proc.returncode
    if rc == 0:
        st.session_state[NOTICE] = ("success", f"Computed the fair metrics of run #{run_id}.")
    else:
        why = _job_output(job) or "no output"
        st.session_state[NOTICE] = ("error", f"Computing the metrics of run #{run_id} failed: {md_escape(why)}")


def _weights_inputs(run: dict[str, Any]) -> list[str]:
    """Judges that need a weights file for this run: the other backbones when the run was
    made with a weights file (theirs cannot be reused)."""
    if run["weights"] in KINDS:
        return []
    return [b for b in fair.BACKBONE_NAMES if b != run["backbone"]]


def _compute(db: str, run_id: int, judges: list[str]) -> None:
    """The "Compute metrics" button: check the weights files given, then start the job."""
    weights = {}
    for judge in judges:
        path = str(st.session_state.get(f"detail_weights_{judge}", "") or "").strip()
        if not path:
            continue
        try:
            weights[judge] = str(check_weights_path(path))
        except WeightsError as exc:
            st.session_state[NOTICE] = ("error", f"{judge} weights: {md_escape(one_line(exc))}")
            return
    st.session_state[NOTICE] = start_metrics_job(db, run_id, weights)


def fair_section(db: Any, run: dict[str, Any]) -> None:
    """The run's fair metrics with labels and units; a missing value says why it is
    missing; a button computes them (again) in the background."""
    db, run_id = str(db), int(run["id"])
    st.subheader("Fair metrics")
    if run["status"] != "finished" or not present(run["output_image"]):
        st.caption("Fair metrics are computed for a finished run with an output image.")
        return
    long = _metrics(db, store_token(), run_id)
    if long.empty:
        st.info(
            f"No fair metrics for run #{run_id} yet: compute them with the button below.", icon=":material/straighten:"
        )
    else:
        table = fair.run_table(long)
        st.dataframe(
            table,
            key="detail_metrics",
            hide_index=True,
            column_config={
                "note": st.column_config.TextColumn("note (why a value is missing)", width="large"),
                "value": st.column_config.TextColumn("value"),
            },
        )
        skipped = fair.skipped_reasons(long)
        if skipped:
            lines = "\n".join(f"- **{j}**: {md_escape(why)}" for j, why in sorted(skipped.items()))
            st.markdown(f"Judges skipped for this run (their values are empty):\n{lines}")
    judges = _weights_inputs(run)
    weights = {}
    if judges:
        st.caption(
            "This run used a weights file, which belongs to its own backbone: to let another backbone judge it, "
            "give that backbone's weights file (optional; without one, Keras's cached ImageNet file is used if "
            "there is one, else that judge is skipped)."
        )
        for judge in judges:
            weights[judge] = st.text_input(
                f"{judge} weights file (.h5, optional)", key=f"detail_weights_{judge}", placeholder="/path/to/file.h5"
            ).strip()
    busy = computing(db, run_id)
    st.button(
        "Compute metrics" if long.empty else "Compute metrics again",
        key="detail_compute_metrics",
        on_click=_compute,
        args=(db, run_id, judges),
        disabled=busy,
        help="Starts `python -m workbench metrics` in the background (this page does not wait for it).",
    )
    if metrics_job(db, run_id) is not None:
        st.fragment(_poll_job, run_every=POLL_S)(db, run_id)
    st.caption("From a terminal:")
    st.code(metrics_command(db, run_id, weights), language="bash")
    fair.explain()


def _poll_job(db: str, run_id: int) -> None:
    """While the job runs: "computing metrics…"; when it ends, the whole page again."""
    job = metrics_job(db, run_id)
    if job is None:
        return
    if job.proc.poll() is None:
        st.info(
            f"computing metrics… ({format_duration(time.monotonic() - job.started)} so far)",
            icon=":material/hourglass_empty:",
        )
        return
    _finish_job(db, run_id)
    st.rerun()


# --- notes, actions, compare -----------------------------------------------------------------------


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
    worker = queue.start_worker(db_path())
    started = "" if worker else " (no worker started)"
    st.session_state[NOTICE] = ("success", f"Queued run #{new_id} with the same settings{started}.")
    st.session_state["detail_new_run"] = new_id


def compare_section(db: Any, run: dict[str, Any]) -> None:
    """Pick other runs (default: the newest finished run of the other backbone on the same
    image pair) and open Compare with this run and those."""
    st.subheader("Compare with…")
    run_id = int(run["id"])
    labels = {i: label for i, label in choice_labels(db).items() if i != run_id}
    partners = _partners(
        str(db), store_token(), run_id, str(run["backbone"]), str(run["content_image"]), str(run["style_image"])
    )
    default = [i for i in partners if i in labels]
    others = st.multiselect(
        "Other runs",
        list(labels),
        default=default,
        format_func=labels.get,
        key=f"detail_compare_with_{run_id}",
        help="Preselected: the newest finished run of the other backbone on the same photo and painting.",
    )
    if st.button("Compare", key="detail_compare", disabled=not others, icon=":material/compare:"):
        nav.go("compare", runs=[run_id, *others])


def actions_section(db: Any, run: dict[str, Any]) -> None:
    """Re-run, edit and re-run, cancel (active runs) and delete with confirmation."""
    st.subheader("Actions")
    run_id = run["id"]
    cols = st.columns(4)
    cols[0].button("Re-run with these settings", key="detail_rerun", on_click=_rerun, args=(db, run_id))
    if cols[1].button("Edit and re-run…", key="detail_edit_rerun", help="Open Launch filled with this run's settings"):
        nav.go("launch", from_run=run_id)
    new_id = st.session_state.pop("detail_new_run", None)
    if new_id:
        nav.link("launch", label=f"Watch run #{new_id} on the Launch page", run_id=new_id)
    if run["status"] in store_runs.ACTIVE:
        if cols[2].button("Cancel run", key="detail_cancel"):
            st.session_state[NOTICE] = ("success", f"Run #{run_id} is now {store_runs.request_cancel(db, run_id)}.")
            st.rerun()
        st.caption("A queued or running run must be cancelled before it can be deleted.")
        return
    if cols[3].button("Delete run…", key="detail_delete"):
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
    elif kind == "info":
        st.info(text)
    elif kind:
        st.success(text)

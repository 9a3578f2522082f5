"""The study form in the sidebar: a preset, content and style images (stored picks and/or
uploads; every content image meets every style image), seeds, overrides and weights.

Widget keys: `study_preset`, `study_name`, `study_content_pick`, `study_content_upload`,
`study_style_pick`, `study_style_upload`, `study_seeds`, `study_iterations`,
`study_size`, `study_snapshot_every`, `study_weights` (imagenet / none / local file),
`study_weights_<backbone>` (a weights file per backbone) and the button `study_launch`.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from dashboard import launch, launch_form
from dashboard import studies as study_rules
from dashboard.common import db_path, executor_widget, store_read
from dashboard.text import md_escape
from engine.config import FIELDS, label
from engine.errors import ConfigError, ImageError
from store import images as store_images
from workbench.cli import parse_seeds
from workbench.errors import USER_ERRORS, one_line
from workbench.queue import start_worker
from workbench.studies import PRESETS, StudyPreset

log = logging.getLogger(__name__)

PICKER = "study_pick"  # the study picker of the main area (set to a newly launched study)
NOTICE = "study_notice"  # (kind, text) shown once by the main area
STUDY_FIELDS = ("iterations", "size", "snapshot_every")  # the config fields the study form sets itself


def _image_inputs(db: Any, role: str) -> list[launch.ImageInput]:
    """Stored images (multiselect, newest preselected) and uploads for one role."""
    st.markdown(f"**{role.capitalize()} images**")
    names = dict(store_read(store_images.list_input_images, db, role))
    picks: list[str] = []
    if names:
        key = f"study_{role}_pick"
        if key not in st.session_state:
            st.session_state[key] = [next(iter(names))]
        st.session_state[key] = [i for i in st.session_state[key] if i in names]
        picks = st.multiselect(
            f"Stored {role} images",
            list(names),
            format_func=lambda i: f"{names[i] or 'image'} · {i[:8]}",
            key=key,
        )
        thumbs = store_read(store_images.get_thumbs, db, picks)
        if picks:
            st.image([thumbs[i] for i in picks if i in thumbs], width=56, output_format="PNG")
    uploads = st.file_uploader(
        f"…and/or upload {role} images",
        type=launch_form.IMAGE_TYPES,
        accept_multiple_files=True,
        key=f"study_{role}_upload",
    )
    return [launch.ImageInput(image_id=i) for i in picks] + [_upload(u) for u in uploads or [] if _readable(u)]


def _upload(upload: Any) -> launch.ImageInput:
    return launch.ImageInput(data=upload.getvalue(), name=upload.name)


def _readable(upload: Any) -> bool:
    """Show an upload's preview; False (with an error) when it is not an image."""
    try:
        st.image(launch_form.upload_preview(upload.getvalue(), upload.name), width=56)
    except ImageError as exc:
        st.error(md_escape(one_line(exc)))  # names the uploaded file: text, not Markdown
        return False
    return True


def _preset_widget() -> StudyPreset:
    name = st.selectbox("Preset", list(PRESETS), key="study_preset")
    preset = PRESETS[name]
    st.caption(f"{preset.description}. Variants: {', '.join(v.label for v in preset.variants)}.")
    return preset


def _override_widgets(preset: StudyPreset) -> dict[str, Any]:
    """Iterations, size and snapshot spacing, starting at the preset's own values."""
    values = {}
    for name in STUDY_FIELDS:
        key, meta = f"study_{name}", FIELDS[name].metadata
        st.session_state.setdefault(key, study_rules.preset_default(preset, name))
        low, high = int(meta["limits"].low), int(meta["limits"].high)
        values[name] = int(
            st.number_input(label(name), min_value=low, max_value=high, step=1, key=key, help=meta["help"])
        )
    return values


def _weights_widgets(preset: StudyPreset) -> tuple[str, dict[str, str]]:
    """The weights mode and, for local files, one path per backbone of the preset."""
    mode = st.radio("Weights", launch.WEIGHT_MODES, key="study_weights", horizontal=True)
    paths = {}
    if mode == "local file":
        for backbone in study_rules.preset_backbones(preset):
            paths[backbone] = st.text_input(
                f"{backbone} weights file (.h5)", key=f"study_weights_{backbone}", placeholder="/path/to/weights.h5"
            )
    return mode, paths


def _seeds(text: str) -> list[int]:
    try:
        return parse_seeds(text)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("--seeds", "seeds")) from None


def _request(preset: StudyPreset, raw: dict[str, Any]) -> study_rules.StudyRequest:
    """Form values -> a study request (raises ConfigError on a bad value)."""
    overrides, weights = study_rules.study_weights(preset, raw["weights_mode"], raw["weight_paths"])
    overrides |= study_rules.build_overrides(preset, raw["overrides"])
    return study_rules.StudyRequest(
        preset.name, raw["contents"], raw["styles"], _seeds(raw["seeds"]), overrides, weights, raw["name"].strip()
    )


def _widgets(db: Any) -> tuple[StudyPreset, dict[str, Any]]:
    """Every widget of the form, in the sidebar; returns the preset and raw values."""
    preset = _preset_widget()
    raw = {"name": st.text_input("Study name", key="study_name", placeholder=f"{preset.name} (the preset's name)")}
    raw["contents"] = _image_inputs(db, "content")
    raw["styles"] = _image_inputs(db, "style")
    st.divider()
    st.session_state.setdefault("study_seeds", "0")
    raw["seeds"] = st.text_input("Seeds", key="study_seeds", help="comma-separated; every seed is a cell")
    raw["overrides"] = _override_widgets(preset)
    raw["weights_mode"], raw["weight_paths"] = _weights_widgets(preset)
    return preset, raw


def _launch(db: Any, request: study_rules.StudyRequest, where: tuple) -> str:
    """Queue the study, start a worker if it has work (on the executor `where` = (name,
    Ray address)), select it; returns a message."""
    result = study_rules.start(db, request)
    worker = start_worker(db_path(), *where) if study_rules.has_work(result) else None
    st.session_state[PICKER] = result.study_id
    return study_rules.launch_message(result, worker is not None)


def render(db: Any) -> None:
    """The study form in the sidebar, its validation and its Launch button."""
    with st.sidebar:
        st.header("New study")
        preset, raw = _widgets(db)
        where = executor_widget("study")
        go = st.button("Launch study", key="study_launch", type="primary", width="stretch")
        feedback = st.container()
    try:
        request = _request(preset, raw)
        for note in study_rules.weights_warnings(preset, request.overrides, request.weights):
            feedback.warning(md_escape(note))
    except USER_ERRORS as exc:  # errors and notes name the user's files: shown as text
        feedback.error(md_escape(one_line(exc)), icon=":material/block:")
        return
    cells = study_rules.cell_count(preset, len(request.contents), len(request.styles), len(request.seeds))
    feedback.caption(
        f"{len(preset.variants)} variants × {len(request.contents)} content × {len(request.styles)} style "
        f"image(s) × {len(request.seeds)} seed(s) = {cells} runs"
    )
    if not go:
        return
    try:
        feedback.success(_launch(db, request, where), icon=":material/check_circle:")
    except USER_ERRORS as exc:
        feedback.error(md_escape(one_line(exc)), icon=":material/block:")

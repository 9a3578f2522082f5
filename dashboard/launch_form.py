"""The launch form in the sidebar, generated from `TransferConfig`'s fields.

Widget keys are `launch_<field name>` (e.g. `launch_backbone`, `launch_content_layer`,
`launch_style_layers`, `launch_learning_rate`, `launch_iterations`), plus
`launch_content_upload` / `launch_content_pick`, `launch_style_upload` /
`launch_style_pick`, `launch_weights` (imagenet / none / local file),
`launch_weights_path`, and the buttons `launch_run` ("Run") and `launch_run_both`
("Run on both backbones").
"""

from __future__ import annotations

import dataclasses
import io
import logging
from typing import Any

import streamlit as st

from dashboard import launch
from dashboard.common import db_path
from dashboard.text import md_escape
from engine.backbones import layer_names
from engine.config import (
    FIELDS,
    TransferConfig,
    backbone_defaults,
    field_type,
    item_type,
    label,
    parse_field,
    per_backbone_fields,
)
from engine.errors import ImageError
from engine.images import open_thumbnail
from store import images as store_images
from workbench.errors import USER_ERRORS, one_line
from workbench.queue import NO_WORKER_ENV, start_worker

log = logging.getLogger(__name__)

IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"]
GROUPS = {"speed": "Optimiser and speed"}  # field metadata "group" -> the expander holding its widgets
WATCH_KEY = "launch_watch"  # session list of run ids the live view follows
PREVIEW_SIDE = 160  # px, the longest side of an upload's preview


def key(name: str) -> str:
    """The widget key of config field `name`."""
    return f"launch_{name}"


@st.cache_resource(show_spinner="Reading the network's layer names…")
def cached_layer_names(backbone: str) -> tuple[str, ...]:
    """Every selectable layer of `backbone` (builds the graph once per process)."""
    return layer_names(backbone)


@st.cache_data(max_entries=8, show_spinner=False)
def upload_preview(data: bytes, name: str) -> bytes:
    """A small PNG preview of uploaded bytes; raises ImageError if unreadable or over the
    pixel limit. Never decodes a large image at full size in the server (a JPEG is
    decoded at 1/2 to 1/8 scale), and refuses a huge one from its header alone."""
    img = open_thumbnail(data, name, PREVIEW_SIDE)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def form_value(name: str, value: Any) -> Any:
    """A config value as its widget holds it: "" for an unset number list, [] for an
    unset layer list."""
    if field_type(name) is tuple:
        if item_type(name) is str:
            return list(value or [])
        return ", ".join(f"{v:g}" for v in value) if value else ""
    return value


def _field_default(f: dataclasses.Field, backbone: str) -> Any:
    if f.name in per_backbone_fields():
        return form_value(f.name, _defaults_now(backbone)[f.name])
    return form_value(f.name, f.default)


def init_state() -> None:
    """Give every form widget its default value unless it already has one."""
    backbone = st.session_state.get(key("backbone"), TransferConfig.backbone)
    for f in FIELDS.values():
        if key(f.name) not in st.session_state:
            st.session_state[key(f.name)] = _field_default(f, backbone)
    st.session_state.setdefault(key("weights_path"), "")


def _defaults_now(backbone: str) -> dict[str, Any]:
    """The backbone's defaults for the optimiser and loss convention chosen in the form."""
    optimizer = st.session_state.get(key("optimizer"), TransferConfig.optimizer)
    convention = st.session_state.get(key("loss_convention"), TransferConfig.loss_convention)
    return backbone_defaults(backbone, optimizer, convention)


def _on_backbone_change() -> None:
    """A new backbone (or loss convention) resets its layers, learning rate and loss
    weights to its defaults."""
    defaults = _defaults_now(st.session_state[key("backbone")])
    for name, value in defaults.items():
        st.session_state[key(name)] = form_value(name, value)


def _on_optimizer_change() -> None:
    """Adam's rate is per backbone, L-BFGS's is 1: a new optimiser resets the rate."""
    st.session_state[key("learning_rate")] = _defaults_now(st.session_state[key("backbone")])["learning_rate"]


def _layer_widget(f: dataclasses.Field, label: str, backbone: str) -> Any:
    """A selectbox (one layer) or multiselect (a layer list) over the backbone's layers."""
    names = cached_layer_names(backbone)
    default = form_value(f.name, _defaults_now(backbone)[f.name])
    if f.name == "content_layer":
        if st.session_state.get(key(f.name)) not in names:
            st.session_state[key(f.name)] = default
        return st.selectbox(label, names, key=key(f.name), help=f.metadata["help"])
    chosen = st.session_state.get(key(f.name)) or []
    if any(layer not in names for layer in chosen):
        st.session_state[key(f.name)] = default
    placeholder = "backbone default" if not default else None
    return st.multiselect(label, names, key=key(f.name), help=f.metadata["help"], placeholder=placeholder)


def _weights_widget(f: dataclasses.Field) -> str:
    if st.session_state.get(key("weights")) not in launch.WEIGHT_MODES:
        st.session_state[key("weights")] = f.default
    mode = st.radio("Weights", launch.WEIGHT_MODES, key=key("weights"), help=f.metadata["help"], horizontal=True)
    if mode != "local file":
        return mode
    return st.text_input("Weights file (.h5)", key=key("weights_path"), placeholder="/path/to/weights.h5")


def field_widget(f: dataclasses.Field, backbone: str) -> Any:
    """The widget of one config field; returns its raw value."""
    text, help_text = label(f.name), f.metadata["help"]
    kind, limits = field_type(f.name), f.metadata["limits"]
    if f.name == "content_layer" or (kind is tuple and item_type(f.name) is str):
        return _layer_widget(f, text, backbone)
    if f.name == "weights":
        return _weights_widget(f)
    if f.name in ("backbone", "loss_convention"):
        return st.selectbox(text, f.metadata["choices"], key=key(f.name), help=help_text, on_change=_on_backbone_change)
    if f.name == "optimizer":
        return st.selectbox(
            text, f.metadata["choices"], key=key(f.name), help=help_text, on_change=_on_optimizer_change
        )
    if f.metadata["choices"]:
        return st.selectbox(text, f.metadata["choices"], key=key(f.name), help=help_text)
    if kind is bool:
        return st.checkbox(text, key=key(f.name), help=help_text)
    if kind is tuple:
        return st.text_input(text, key=key(f.name), help=help_text, placeholder="default")
    if kind is int:
        low, high = int(limits.low), int(limits.high)
        return st.number_input(text, min_value=low, max_value=high, step=1, key=key(f.name), help=help_text)
    step = (limits.step if limits else None) or 0.001
    return st.number_input(text, min_value=0.0, step=step, format="%g", key=key(f.name), help=help_text)


def collect(raw: dict[str, Any]) -> dict[str, Any]:
    """Form values -> config values: number lists are parsed from their text (raises
    ConfigError on a bad number), an empty optional list means "default". Style layers
    stay an (empty) tuple so that choosing none is an error, not a silent default."""
    values = dict(raw)
    for f in FIELDS.values():
        if field_type(f.name) is not tuple:
            continue
        if item_type(f.name) is str:
            chosen = tuple(values.get(f.name) or ())
            values[f.name] = chosen if chosen or f.name == "style_layers" else None
        else:
            text = str(values.get(f.name) or "").strip()
            values[f.name] = parse_field(f.name, text) if text else None
    return values


def image_picker(db: Any, role: str) -> launch.ImageInput | None:
    """Upload an image or pick one the store already has; an upload wins."""
    st.markdown(f"**{role.capitalize()} image**")
    upload = st.file_uploader(f"Upload a {role} image", type=IMAGE_TYPES, key=f"launch_{role}_upload")
    stored = store_images.list_input_images(db, role)
    pick = None
    if stored:
        names = dict(stored)
        pick = st.selectbox(
            f"…or a stored {role} image",
            list(names),
            format_func=lambda i: f"{names[i] or 'image'} · {i[:8]}",
            key=f"launch_{role}_pick",
            help="An uploaded file takes precedence over the stored pick.",
        )
    if upload is not None:
        data = upload.getvalue()
        shown = launch.display_name(upload.name)
        try:
            # File names are the user's: a caption and an error box render Markdown.
            st.image(upload_preview(data, upload.name), caption=md_escape(shown) if shown else None, width=120)
        except ImageError as exc:
            st.error(md_escape(one_line(exc)))
            return None
        return launch.ImageInput(data=data, name=upload.name)
    if pick is None:
        st.caption(f"No stored {role} images yet: upload one.")
        return None
    st.image(store_images.get_thumbs(db, [pick]).get(pick), width=120)
    return launch.ImageInput(image_id=pick)


def _queue(db: Any, configs: list, content: launch.ImageInput, style: launch.ImageInput) -> str:
    """Queue the runs, follow them in the live view, start a worker; returns a message."""
    ids = launch.queue_runs(db, configs, content, style)
    watch = st.session_state.get(WATCH_KEY, [])
    st.session_state[WATCH_KEY] = [*ids, *(i for i in watch if i not in ids)][:10]
    worker = start_worker(db_path())
    started = "a background worker was started" if worker else f"no worker started (${NO_WORKER_ENV} is set)"
    return f"Queued run {', '.join(f'#{i}' for i in ids)}; {started}."


def render(db: Any) -> None:
    """The whole launch form in the sidebar, its validation and its two buttons."""
    init_state()
    with st.sidebar:
        st.header("New run")
        content = image_picker(db, "content")
        style = image_picker(db, "style")
        st.divider()
        backbone = st.session_state[key("backbone")]
        raw = {f.name: field_widget(f, backbone) for f in FIELDS.values() if f.metadata["group"] is None}
        for group, title in GROUPS.items():
            with st.expander(title):
                fields = [f for f in FIELDS.values() if f.metadata["group"] == group]
                raw.update({f.name: field_widget(f, backbone) for f in fields})
        run = st.button("Run", key="launch_run", type="primary", width="stretch")
        both = st.button("Run on both backbones", key="launch_run_both", width="stretch")
        feedback = st.container()
    try:
        values = collect(raw)
        configs = launch.both_backbone_configs(values) if both else [launch.build_config(values)]
    except USER_ERRORS as exc:  # errors and notes name the user's files: shown as text
        feedback.error(md_escape(one_line(exc)), icon="🚫")
        return
    for note in dict.fromkeys(launch.check_weights(c.weights, c.backbone) for c in configs):
        if note:
            feedback.warning(md_escape(note))
    if not (run or both):
        return
    if content is None or style is None:
        feedback.error("Choose or upload both a content and a style image first.", icon="🚫")
        return
    try:
        feedback.success(_queue(db, configs, content, style), icon="✅")
    except USER_ERRORS as exc:
        feedback.error(md_escape(one_line(exc)), icon="🚫")

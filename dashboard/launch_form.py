"""The launch form in the sidebar, generated from `TransferConfig`'s fields.

Widget keys are `launch_<field name>` (e.g. `launch_backbone`, `launch_content_layer`,
`launch_style_layers`, `launch_learning_rate`, `launch_iterations`), plus
`launch_content_upload` / `launch_content_pick`, `launch_style_upload` /
`launch_style_pick`, `launch_weights` (imagenet / none / local file),
`launch_weights_<backbone>` (a weights file per backbone), and the buttons `launch_run`
("Run") and `launch_run_both` ("Run on both backbones").

Several style images: `launch_style_count` (how many), and per style image the picker
of role `style` (the first), `style2`, `style3`, ... (`launch_style2_upload`,
`launch_style2_pick`), its blend weight `launch_<role>_blend` (shown with two or more;
equal weights store as equal, `None` resolved to 1/n) and its optional region mask
`launch_<role>_mask_upload`. The config's `style_blend_weights` has no widget of its
own: it is set from the per-style weights. Under the form: the memory estimate of the
run (`engine.memory`), or the line saying it would not fit, with Run off.

The form survives moving between pages: Streamlit drops a widget's state when a page
without it runs, so every value is also kept in a plain session key (`SAVED`) and put
back before the widgets are drawn; an uploaded image is kept (`launch_<role>_kept`) until
it is removed or replaced. `/launch?from_run=ID` fills the form from run ID once.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import logging
from typing import Any

import streamlit as st

from dashboard import launch
from dashboard.common import db_path, executor_widget, store_read
from dashboard.text import md_escape
from engine.backbones import BACKBONES, get_backbone, layer_names
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
from engine.errors import ConfigError, ImageError
from engine.images import open_thumbnail
from engine.weights import KINDS
from store import images as store_images
from store import runs as store_runs
from workbench.errors import USER_ERRORS, one_line
from workbench.queue import NO_WORKER_ENV, start_worker

log = logging.getLogger(__name__)

IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"]
GROUPS = {"speed": "Optimiser and speed"}  # field metadata "group" -> the expander holding its widgets
WATCH_KEY = "launch_watch"  # session list of run ids the live view follows
PREVIEW_SIDE = 160  # px, the longest side of an upload's preview
SAVED = "launch_saved"  # {widget key: value}: the form's values, kept across pages
FILLED = "launch_filled_from"  # the run id the form was filled from (its note)
MAX_STYLES = 4  # style images one run blends
STYLE_COUNT = "launch_style_count"
KNOWN = "launch_known_styles"  # {image id: name}: style images of the run the form was filled from
HIDDEN = ("style_blend_weights",)  # fields set from other widgets (the per-style weights)
MASK_PREVIEW_PX = 60


def key(name: str) -> str:
    """The widget key of config field `name`."""
    return f"launch_{name}"


def style_role(i: int) -> str:
    """The picker role of style image `i` (0-based): style, style2, style3, ..."""
    return "style" if i == 0 else f"style{i + 1}"


def style_weight_key(i: int) -> str:
    """The widget key of style image `i`'s blend weight."""
    return f"launch_{style_role(i)}_blend"


def mask_role(i: int) -> str:
    """The upload role of style image `i`'s mask."""
    return f"{style_role(i)}_mask"


def roles() -> list[str]:
    """Every image picker role: the content image and each possible style image."""
    return ["content", *(style_role(i) for i in range(MAX_STYLES))]


@st.cache_resource(show_spinner="Reading the network's layer names…")
def cached_layer_names(backbone: str) -> tuple[str, ...]:
    """Every selectable layer of `backbone` (builds the graph once per process)."""
    return layer_names(backbone)


@st.cache_data(max_entries=8, show_spinner=False)
def upload_preview(data: bytes, name: str) -> str:
    """A small PNG preview of uploaded bytes as a `data:` URL; raises ImageError if
    unreadable or over the pixel limit. Never decodes a large image at full size in the
    server (a JPEG is decoded at 1/2 to 1/8 scale), and refuses a huge one from its
    header alone.

    A data URL, not bytes: Streamlit serves bytes as a media file that a polling
    fragment's rerun (the live view, `run_every`) can drop while the browser still asks
    for it (a 404 and a broken image; cf. streamlit/streamlit#9079); a data URL travels
    inside the page."""
    img = open_thumbnail(data, name, PREVIEW_SIDE)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


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


def weights_key(backbone: str) -> str:
    """The widget key of `backbone`'s weights file."""
    return f"launch_weights_{backbone}"


def kept_key(role: str) -> str:
    """The session key of the image uploaded for `role`, kept until removed."""
    return f"launch_{role}_kept"


def form_keys() -> list[str]:
    """Every widget key whose value the form keeps across pages (not the uploads: a
    file uploader cannot be set; those are kept as `kept_key`)."""
    keys = [key(name) for name in FIELDS]
    keys += [weights_key(b) for b in BACKBONES]
    keys += [STYLE_COUNT, *(style_weight_key(i) for i in range(MAX_STYLES))]
    return keys + [f"launch_{role}_pick" for role in roles()]


def restore_state() -> None:
    """Put back the values of widgets Streamlit dropped while another page ran."""
    for name, value in st.session_state.get(SAVED, {}).items():
        if name not in st.session_state:
            st.session_state[name] = value


def save_state() -> None:
    """Keep the widgets' values in a plain session key (which no page drops)."""
    st.session_state[SAVED] = {k: st.session_state[k] for k in form_keys() if k in st.session_state}


def init_state() -> None:
    """Give every form widget its kept or default value unless it already has one."""
    restore_state()
    backbone = st.session_state.get(key("backbone"), TransferConfig.backbone)
    for f in FIELDS.values():
        if key(f.name) not in st.session_state:
            st.session_state[key(f.name)] = _field_default(f, backbone)
    for name in BACKBONES:
        st.session_state.setdefault(weights_key(name), "")
    st.session_state.setdefault(STYLE_COUNT, 1)
    for i in range(MAX_STYLES):
        st.session_state.setdefault(style_weight_key(i), 1.0)


def fill_from_run(db: Any) -> None:
    """`?from_run=ID`: fill every field, the weights, the content image and every style
    image with its blend weight and mask from run ID, once (the parameter is consumed,
    so later edits stick)."""
    raw = st.query_params.get("from_run")
    if raw is None:
        return
    st.query_params.pop("from_run", None)
    run = store_runs.get_run(db, int(raw)) if str(raw).strip().isdigit() else None
    if run is None:
        st.session_state[FILLED] = None
        st.sidebar.error(f"No run {md_escape(str(raw))} to fill the form from.", icon=":material/block:")
        return
    config = TransferConfig.from_dict(run["config"])
    for name in FIELDS:
        st.session_state[key(name)] = form_value(name, getattr(config, name))
    if config.weights not in KINDS:
        st.session_state[key("weights")] = "local file"
        st.session_state[weights_key(config.backbone)] = config.weights
    st.session_state.pop(kept_key("content"), None)
    st.session_state["launch_content_pick"] = run["content_image"]
    fill_styles(db, run, config)
    st.session_state[FILLED] = int(run["id"])


def fill_styles(db: Any, run: dict[str, Any], config: TransferConfig) -> None:
    """The style images of `run` in the style pickers, their blend weights and masks
    (a stored mask is kept like an upload until removed)."""
    styles = store_runs.get_styles(db, int(run["id"]))[:MAX_STYLES] or [
        {"image_id": run["style_image"], "weight": 1.0, "mask_image": None, "name": None}
    ]
    weights = list(config.style_blend_weights or [s["weight"] for s in styles])
    st.session_state[STYLE_COUNT] = len(styles)
    st.session_state[KNOWN] = {s["image_id"]: s.get("name") for s in styles}
    for i in range(MAX_STYLES):
        st.session_state.pop(kept_key(style_role(i)), None)
        st.session_state.pop(kept_key(mask_role(i)), None)
        st.session_state[style_weight_key(i)] = 1.0
    for i, s in enumerate(styles):
        st.session_state[f"launch_{style_role(i)}_pick"] = s["image_id"]
        st.session_state[style_weight_key(i)] = float(weights[i]) if i < len(weights) else 1.0
        if s.get("mask_image"):
            name = s.get("mask_name")
            st.session_state[kept_key(mask_role(i))] = launch.ImageInput(image_id=s["mask_image"], name=name)


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


def _weights_widget(f: dataclasses.Field, backbone: str) -> str:
    """The weights kind and, for local files, one file per backbone (a file fits one
    network: switching the backbone switches to its own file). Returns what a run of
    `backbone` loads: imagenet, none or its file."""
    if st.session_state.get(key("weights")) not in launch.WEIGHT_MODES:
        st.session_state[key("weights")] = f.default
    mode = st.radio("Weights", launch.WEIGHT_MODES, key=key("weights"), help=f.metadata["help"], horizontal=True)
    if mode != "local file":
        return mode
    order = [backbone, *(b for b in BACKBONES if b != backbone)]  # this run's file first
    paths = {}
    for name in order:
        paths[name] = st.text_input(
            f"{get_backbone(name).label} weights file (.h5)",
            key=weights_key(name),
            placeholder="/path/to/weights.h5",
            help=f"Used by Run when the backbone is {name}, and by Run on both backbones. "
            "A weights file fits one backbone only.",
        )
    return paths[backbone]


def show_weights_problems(backbone: str) -> None:
    """Next to the weights widgets: what stops a run of `backbone` (an error: Run is off),
    what stops Run on both backbones, and notes."""
    problems = weights_problems(backbone)
    error, note = problems[backbone]
    if error:
        st.error(md_escape(error), icon=":material/block:")  # names the user's file
    others = [(n, p) for n, p in problems.items() if n != backbone]
    blocked = [f"{get_backbone(n).label}: {e}" for n, (e, _) in others if e]
    if blocked and not error:
        st.caption("Run on both backbones is off: " + md_escape("; ".join(blocked)))
    for text in dict.fromkeys(n for _, (_, n) in problems.items() if n):
        st.warning(md_escape(text))  # names a path


def weights_files() -> dict[str, str]:
    """{backbone: weights file} given in the form (local-file mode only)."""
    if st.session_state.get(key("weights")) != "local file":
        return {}
    return {name: str(st.session_state.get(weights_key(name)) or "") for name in BACKBONES}


def weights_problems(backbone: str) -> dict[str, tuple[str | None, str | None]]:
    """{backbone: (error, note)} for the weights each backbone would load now."""
    mode, files = st.session_state.get(key("weights")), weights_files()
    return {name: launch.weights_problem(files.get(name, mode) if files else mode, name) for name in BACKBONES}


def field_widget(f: dataclasses.Field, backbone: str) -> Any:
    """The widget of one config field; returns its raw value."""
    text, help_text = label(f.name), f.metadata["help"]
    kind, limits = field_type(f.name), f.metadata["limits"]
    if f.name == "content_layer" or (kind is tuple and item_type(f.name) is str):
        return _layer_widget(f, text, backbone)
    if f.name == "weights":
        value = _weights_widget(f, backbone)
        show_weights_problems(backbone)
        return value
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
    low = float(limits.low) if limits and not limits.strict else 0.0
    high = float(limits.high) if limits and limits.high is not None else None
    return st.number_input(text, min_value=low, max_value=high, step=step, format="%g", key=key(f.name), help=help_text)


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


def _kept_upload(role: str, upload: Any) -> launch.ImageInput | None:
    """The image uploaded for `role`: this run's upload, else the one kept from before
    (the uploader is empty again after a visit to another page). Removing the file from
    the uploader forgets it."""
    seen = f"launch_{role}_upload_seen"
    if upload is not None:
        st.session_state[kept_key(role)] = launch.ImageInput(data=upload.getvalue(), name=upload.name)
        st.session_state[seen] = True
    elif st.session_state.pop(seen, False):  # it held a file last run: the user removed it
        st.session_state.pop(kept_key(role), None)
    return st.session_state.get(kept_key(role))


def _forget(role: str) -> None:
    st.session_state.pop(kept_key(role), None)


def _uploader(role: str, text: str, help_text: str | None = None) -> Any:
    """A file uploader for `role` (a new one, after another page, removed nothing)."""
    upload_key = f"launch_{role}_upload"
    if upload_key not in st.session_state:
        st.session_state.pop(f"launch_{role}_upload_seen", None)
    return st.file_uploader(text, type=IMAGE_TYPES, key=upload_key, help=help_text)


def stored_inputs(db: Any, kind: str) -> list[tuple[str, str | None]]:
    """(id, name) of the stored images offered as `kind` (content or style) inputs:
    those runs used, plus for styles the ones of the run the form was filled from."""
    stored = list(store_read(store_images.list_input_images, db, kind))
    if kind == "style":
        seen = {i for i, _ in stored}
        stored += [(i, n) for i, n in st.session_state.get(KNOWN, {}).items() if i not in seen]
    return stored


def image_picker(db: Any, role: str, title: str | None = None, kind: str | None = None) -> launch.ImageInput | None:
    """Upload an image or pick one the store already has; an upload (this one or the
    one kept from earlier in the session) wins. `kind`: content or style (default: the
    role)."""
    kind = kind or role
    st.markdown(f"**{title or role.capitalize() + ' image'}**")
    upload = _uploader(role, f"Upload a {kind} image")
    kept = _kept_upload(role, upload)
    stored = stored_inputs(db, kind)
    pick = None
    if stored:
        names = dict(stored)
        pick_key = f"launch_{role}_pick"
        if st.session_state.get(pick_key) not in names:
            st.session_state.pop(pick_key, None)
        pick = st.selectbox(
            f"…or a stored {kind} image",
            list(names),
            format_func=lambda i: f"{names[i] or 'image'} · {i[:8]}",
            key=pick_key,
            help="An uploaded file takes precedence over the stored pick.",
        )
    if kept is not None:
        shown = launch.display_name(kept.name)
        if upload is None:  # kept from earlier in this session
            shown = f"{shown or 'upload'} (uploaded earlier)"
        try:
            # File names are the user's: a caption and an error box render Markdown.
            st.image(upload_preview(kept.data, kept.name), caption=md_escape(shown) if shown else None, width=120)
        except ImageError as exc:
            st.error(md_escape(one_line(exc)))
            return None
        if upload is None:
            label = "Use the stored pick instead" if stored else "Remove this upload"
            st.button(label, key=f"launch_{role}_forget", on_click=_forget, args=(role,))
        return kept
    if pick is None:
        st.caption(f"No stored {kind} images yet: upload one.")
        return None
    st.image(store_images.get_thumbs(db, [pick]).get(pick), width=120, output_format="PNG")
    return launch.ImageInput(image_id=pick)


def mask_picker(db: Any, i: int) -> launch.ImageInput | None:
    """The optional region mask of style image `i`: an upload (or the stored mask of the
    run the form was filled from), previewed small, kept until removed."""
    role = mask_role(i)
    upload = _uploader(
        role,
        f"Mask of style {i + 1} (optional)",
        "A greyscale image at any size: this style applies where it is white. Give a mask for every style "
        "image or for none.",
    )
    kept = _kept_upload(role, upload)
    if kept is None:
        return None
    shown = launch.display_name(kept.name) or "mask"
    try:
        if kept.data is not None:
            preview = upload_preview(kept.data, kept.name or "mask")
        else:
            preview = store_images.get_thumbs(db, [kept.image_id]).get(kept.image_id)
    except ImageError as exc:
        st.error(md_escape(one_line(exc)))
        return kept  # queueing refuses it with the same line: nothing is queued
    if preview is not None:
        st.image(preview, caption=md_escape(f"mask: {shown}"), width=MASK_PREVIEW_PX)
    if upload is None:
        st.button("Remove this mask", key=f"launch_{role}_forget", on_click=_forget, args=(role,))
    return kept


def style_pickers(db: Any) -> list[tuple[launch.ImageInput | None, float, launch.ImageInput | None]]:
    """The style images: how many, then for each its picker, its blend weight (two or
    more) and its optional mask. Returns (image, weight, mask) per style image."""
    count = int(
        st.number_input(
            "Style images",
            min_value=1,
            max_value=MAX_STYLES,
            step=1,
            key=STYLE_COUNT,
            help="Two or more are blended: the style target is the weighted mean of each painting's "
            "normalised Gram matrices (each painting at its own size).",
        )
    )
    chosen = []
    for i in range(count):
        title = "Style image" if count == 1 else f"Style image {i + 1}"
        image = image_picker(db, style_role(i), title=title, kind="style")
        weight = 1.0
        if count > 1:
            weight = st.number_input(
                f"Blend weight of style {i + 1}",
                min_value=0.0,
                step=0.1,
                format="%g",
                key=style_weight_key(i),
                help="Relative: 1 and 1 blend evenly, as do 0.5 and 0.5; 0.7 and 0.3 favour the first.",
            )
        chosen.append((image, float(weight), mask_picker(db, i)))
    return chosen


def form_check(
    raw: dict[str, Any], styles: list, content: launch.ImageInput | None
) -> tuple[dict[str, Any] | None, str | None, str | None, str | None]:
    """The form's values checked before any button: (values, error, memory estimate,
    memory error). The error is a bad value, a weights file, or the styles' weights and
    masks not matching; the memory lines need a content image."""
    try:
        values = collect(raw)
        values["style_blend_weights"] = launch.equal_or_given([w for _, w, _ in styles])
        cfg = launch.check_styles(launch.build_config(values), len(styles), sum(m is not None for *_, m in styles))
    except USER_ERRORS as exc:
        return None, one_line(exc), None, None
    if content is None:
        return values, None, None, None
    try:
        shape = content_shape(db_path(), content)
    except USER_ERRORS as exc:
        return values, one_line(exc), None, None
    estimate, too_big = launch.memory_check(cfg, shape)
    return values, None, estimate, too_big


@st.cache_data(max_entries=16, show_spinner=False)
def _stored_shape(db: str, image_id: str) -> tuple[int, int] | None:
    png = store_images.get_png(db, image_id)
    return None if png is None else launch.png_shape(png)


@st.cache_data(max_entries=16, show_spinner=False)
def _upload_shape(data: bytes, name: str) -> tuple[int, int]:
    return launch.png_shape(data, name)


def content_shape(db: Any, content: launch.ImageInput) -> tuple[int, int]:
    """(height, width) of the chosen content image, from its header (cached)."""
    if content.data is not None:
        return _upload_shape(content.data, content.name or "upload")
    shape = _stored_shape(str(db), str(content.image_id))
    if shape is None:
        raise ConfigError(f"image {str(content.image_id)[:12]}… is no longer in the store; pick or upload another")
    return shape


def _queue(db: Any, configs: list, content: launch.ImageInput, styles: list[launch.StyleChoice], where: tuple) -> str:
    """Queue the runs, follow them in the live view, start a worker (on the executor
    `where` = (name, Ray address)); returns a message."""
    ids = launch.queue_runs(db, configs, content, styles)
    watch = st.session_state.get(WATCH_KEY, [])
    st.session_state[WATCH_KEY] = [*ids, *(i for i in watch if i not in ids)][:10]
    st.session_state.pop(FILLED, None)
    worker = start_worker(db_path(), *where)
    started = "a background worker was started" if worker else f"no worker started (${NO_WORKER_ENV} is set)"
    return f"Queued run {', '.join(f'#{i}' for i in ids)}; {started}."


def render(db: Any) -> None:
    """The whole launch form in the sidebar, its validation, the memory estimate and its
    two buttons."""
    fill_from_run(db)
    init_state()
    with st.sidebar:
        st.header("New run")
        if st.session_state.get(FILLED):
            st.info(
                f"Form filled from run #{st.session_state[FILLED]} — change anything and press Run.",
                icon=":material/edit:",
            )
        content = image_picker(db, "content")
        styles = style_pickers(db)
        st.divider()
        backbone = st.session_state[key("backbone")]
        shown = [f for f in FIELDS.values() if f.name not in HIDDEN]
        raw = {f.name: field_widget(f, backbone) for f in shown if f.metadata["group"] is None}
        for group, title in GROUPS.items():
            with st.expander(title):
                raw.update({f.name: field_widget(f, backbone) for f in shown if f.metadata["group"] == group})
        problems = weights_problems(backbone)
        values, error, estimate, too_big = form_check(raw, styles, content)
        if estimate:
            st.caption(estimate, help="Peak memory of the run, estimated before it starts (`engine.memory`).")
        if too_big:
            st.error(too_big, icon=":material/memory:")
            st.caption("Set **Max tile** under *Optimiser and speed* (the `--max-tile-px` above) or a smaller size.")
        where = executor_widget("launch")
        run_off = problems[backbone][0] or too_big
        both_off = next((e for e, _ in problems.values() if e), None)
        run = st.button(
            "Run",
            key="launch_run",
            type="primary",
            width="stretch",
            disabled=bool(run_off),
            help="Fix the weights or the size first (see above)." if run_off else None,
        )
        both = st.button(
            "Run on both backbones",
            key="launch_run_both",
            width="stretch",
            disabled=bool(both_off),
            help="Every backbone needs weights it can load (see above)." if both_off else None,
        )
        feedback = st.container()
    save_state()
    if error or values is None:  # errors and notes name the user's files: shown as text
        feedback.error(md_escape(error or "the form is incomplete"), icon=":material/block:")
        return
    if not (run or both):
        return
    if content is None or any(image is None for image, _, _ in styles):
        feedback.error("Choose or upload a content image and every style image first.", icon=":material/block:")
        return
    choices = [launch.StyleChoice(image, mask) for image, _, mask in styles]
    try:
        configs = launch.both_backbone_configs(values, weights_files()) if both else [launch.build_config(values)]
        feedback.success(_queue(db, configs, content, choices, where), icon=":material/check_circle:")
    except USER_ERRORS as exc:
        feedback.error(md_escape(one_line(exc)), icon=":material/block:")

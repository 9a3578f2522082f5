"""Turning launch-form values into validated configs and queueing them. No Streamlit
here: the form lives in `launch_form`, the rules here; the background worker is
`workbench.queue`'s, shared with the command line.

A run has one or more style images (`StyleChoice`: the image and an optional region
mask); their blend weights are the config's `style_blend_weights`. `queue_runs` reads
every input first (uploads decoded, stored ones looked up) and resolves the blend weights
against the styles and masks given (`engine.styles.resolve_styles`); then
`workbench.queue.queue_runs`, the command line's path too, checks the run fits in memory
(`engine.memory.check_fits`) and writes the uploaded images, the run row and its
`run_styles` rows in one transaction per run. Bad input leaves nothing behind.
"""

from __future__ import annotations

import functools
import io
import logging
import socket
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
from PIL import Image

from engine.backbones import BACKBONES, get_backbone
from engine.config import FIELDS, TransferConfig, per_backbone_fields, validate
from engine.errors import ConfigError, ImageError, MemoryBudgetError, WeightsError
from engine.images import open_image
from engine.memory import check_fits
from engine.styles import mask_array, resolve_styles
from engine.weights import KINDS, check_weights_path, is_random, keras_cache_path
from store import images as store_images
from store import runs as store_runs
from workbench import queue

log = logging.getLogger(__name__)

WEIGHT_MODES = (*KINDS, "local file")


@dataclass(frozen=True)
class ImageInput:
    """An input image: an image already in the store, or uploaded bytes.

    `name` is a display name only; it is never used as a path."""

    image_id: str | None = None
    data: bytes | None = None
    name: str | None = None


@dataclass(frozen=True)
class StyleChoice:
    """One style image of a run and its optional region mask (a greyscale image: white
    = this style here). Its blend weight is the config's `style_blend_weights` entry."""

    image: ImageInput
    mask: ImageInput | None = None


@dataclass(frozen=True)
class LoadedImage:
    """An input read before anything is written: its store id, (height, width), and
    the encoded image to insert (uploads; None for an image already stored)."""

    image_id: str
    shape: tuple[int, int]
    blob: store_images.ImageBlob | None = None
    name: str | None = None


def check_weights(weights: str, backbone: str) -> str | None:
    """Raise `WeightsError` for a local weights path that cannot work; return a warning
    (or None) for ImageNet weights that are not cached yet."""
    if is_random(weights):
        return None
    if weights == "imagenet":
        cached = keras_cache_path(get_backbone(backbone))
        if cached.is_file():
            return None
        return f"ImageNet weights for {backbone} are not cached at {cached}; the worker will try to download them."
    check_weights_path(weights)
    return None


# Where Keras downloads ImageNet weights from; a connection to it says whether this
# machine can fetch a file missing from Keras's cache.
DOWNLOAD_HOST = ("storage.googleapis.com", 443)
DOWNLOAD_PROBE_S = 1.5
_PROBE_TTL_S = 60.0
_probe: tuple[float, bool] | None = None


def can_download() -> bool:
    """Whether Keras could download ImageNet weights now (a TCP connection to its host,
    remembered for a minute)."""
    global _probe
    now = time.monotonic()
    if _probe is None or now - _probe[0] > _PROBE_TTL_S:
        try:
            socket.create_connection(DOWNLOAD_HOST, timeout=DOWNLOAD_PROBE_S).close()
            ok = True
        except OSError:
            ok = False
        _probe = (now, ok)
    return _probe[1]


def imagenet_problem(backbone: str) -> tuple[str | None, str | None]:
    """(error, note) for ImageNet weights of `backbone`, in the dashboard's terms: an
    error when Keras's cache lacks the file and it cannot be downloaded (no run could
    start), a note when the worker will download it, (None, None) when it is cached."""
    bb = get_backbone(backbone)
    cached = keras_cache_path(bb)
    if cached.is_file():
        return None, None
    if can_download():
        return None, f"ImageNet weights for {bb.label} are not cached at {cached} yet: the worker downloads them first."
    return (
        f"ImageNet weights for {bb.label} are not in Keras's cache ({cached}) and this machine cannot download "
        f'them: choose "local file" and give a .h5 weights file, or place the file at {cached}',
        None,
    )


@functools.cache
def weights_signature(backbone: str) -> tuple[tuple[str, tuple[tuple[int, ...], ...]], ...]:
    """(layer name, weight shapes) of every layer of `backbone` that has weights, in
    network order: what a weights file for it must hold. Builds the graph once per
    process (Keras is imported here, only when a local weights file is checked)."""
    model = get_backbone(backbone).build(weights=None)
    return tuple(
        (layer.name, tuple(tuple(int(d) for d in w.shape) for w in layer.weights))
        for layer in model.layers
        if layer.weights
    )


def _file_signature(path: Path) -> tuple[list[tuple[str, tuple[tuple[int, ...], ...]]], bool]:
    """(layers with weights as (name, shapes), whether names mean anything) of a Keras
    weights file: a legacy .h5 lists its layers by name in network order; a Keras 3
    `.weights.h5` names them by class, so only their shapes count."""
    import h5py  # a small C extension; no TensorFlow

    def text(value: Any) -> str:
        return value.decode("utf8") if isinstance(value, bytes) else str(value)

    try:
        with h5py.File(path, "r") as f:
            if "layer_names" in f.attrs or "model_weights" in f:
                group = f.get("model_weights", f)
                layers = []
                for name in map(text, group.attrs.get("layer_names", [])):
                    weights = [text(w) for w in group[name].attrs.get("weight_names", [])]
                    if weights:
                        layers.append((name, tuple(tuple(group[name][w].shape) for w in weights)))
                return layers, True
            if "layers" in f:
                layers = []
                for name, layer in f["layers"].items():
                    shapes = layer.get("vars", {})
                    if len(shapes):
                        layers.append((name, tuple(tuple(shapes[k].shape) for k in sorted(shapes, key=int))))
                return layers, False
    except (OSError, KeyError, ValueError) as exc:
        raise WeightsError(f"{path} is not a readable Keras weights file ({_first_line(exc)})") from None
    raise WeightsError(f"{path} holds no Keras layer weights")


def _first_line(exc: Exception) -> str:
    """The first line of an exception's text, short."""
    return (str(exc).splitlines() or [exc.__class__.__name__])[0][:120]


def _looks_like(layers: list[tuple[str, Any]], by_name: bool, backbone: str) -> str:
    """', it looks like a VGG16 weights file' when another backbone's layers match."""
    for name, bb in BACKBONES.items():
        if name == backbone:
            continue
        expected = weights_signature(name)
        if (
            by_name
            and [n for n, _ in layers] == [n for n, _ in expected]
            or (not by_name and Counter(s for _, s in layers) == Counter(s for _, s in expected))
        ):
            return f": it looks like a {bb.label} weights file"
    return ""


def check_weights_file(weights: str, backbone: str) -> Path:
    """A local weights file that fits `backbone`, checked before anything is queued:
    it exists, is a Keras .h5 file, and holds exactly the backbone's layers with weights
    (what Keras matches, in order); `WeightsError` in one line otherwise."""
    path = check_weights_path(weights)
    bb = get_backbone(backbone)
    layers, by_name = _file_signature(path)
    expected = weights_signature(backbone)
    if len(layers) != len(expected):
        raise WeightsError(
            f"{path} holds {len(layers)} layers with weights, {bb.label} has {len(expected)}"
            f"{_looks_like(layers, by_name, backbone)}; give a {bb.label} weights file"
        )
    shapes, want = [s for _, s in layers], [s for _, s in expected]
    if not by_name:  # a Keras 3 file's layer order is not the network's
        shapes, want = sorted(shapes), sorted(want)
    if shapes != want:
        raise WeightsError(f"{path} does not fit {bb.label}: its weight shapes differ; give a {bb.label} weights file")
    return path


def weights_problem(weights: str, backbone: str) -> tuple[str | None, str | None]:
    """(error, note) for the weights a run of `backbone` would load: a blocking problem
    in words (a missing, unreadable or foreign file; ImageNet weights this machine cannot
    get), or a note (ImageNet weights still to download)."""
    if is_random(weights):
        return None, None
    if weights == "imagenet":
        return imagenet_problem(backbone)
    try:
        check_weights_file(weights, backbone)
    except WeightsError as exc:
        return str(exc), None
    return None, None


def build_config(values: dict[str, Any]) -> TransferConfig:
    """A validated, resolved config from form values (keys are field names; missing or
    None values take the defaults). Raises ConfigError / UnknownLayerError."""
    names = set(FIELDS)
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names and v is not None}
    cfg = validate(TransferConfig(**given))
    check_weights(cfg.weights, cfg.backbone)
    return cfg


def both_backbone_configs(
    values: dict[str, Any], weights_by_backbone: dict[str, str] | None = None
) -> list[TransferConfig]:
    """One validated config per backbone: shared size, iterations, init, seed, snapshot,
    TV weight and weights kind; each backbone's own default layers, learning rate and loss
    weights. A weights file belongs to one backbone: with local files, `weights_by_backbone`
    names one per backbone (a missing one is an error)."""
    weights = values.get("weights", TransferConfig.weights)
    files = {k: v.strip() for k, v in (weights_by_backbone or {}).items() if v and v.strip()}
    if weights not in KINDS or files:
        missing = [BACKBONES[b].label for b in BACKBONES if b not in files]
        if missing:
            raise ConfigError(
                f"a weights file fits one backbone only: give a weights file for {', '.join(missing)} too, "
                "or choose imagenet or none to run both"
            )
    shared = {k: v for k, v in values.items() if k not in (*per_backbone_fields(), "backbone", "weights")}
    return [build_config({**shared, "backbone": name, "weights": files.get(name, weights)}) for name in BACKBONES]


def display_name(name: str | None) -> str | None:
    """An uploaded file's name reduced to its last component (display only)."""
    if not name:
        return None
    return PureWindowsPath(PurePosixPath(name).name).name[:200] or None


def store_input(db: Any, image: ImageInput) -> str:
    """The store id of an input image, storing uploaded bytes first (decoded with the
    engine's pixel-limited loader; raises ImageError with a clear message)."""
    loaded = load_input(db, image)
    if loaded.blob is not None:
        store_images.put_blob(db, loaded.blob, loaded.name)
    return loaded.image_id


def png_shape(data: bytes, name: str = "image") -> tuple[int, int]:
    """(height, width) of an encoded image as the engine's loader turns it (upright:
    EXIF orientations 5-8 swap the sides), read from its header only."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            turned = img.getexif().get(0x0112) in (5, 6, 7, 8)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{name}: not a readable image ({exc.__class__.__name__})") from None
    return (width, height) if turned else (height, width)


def load_input(db: Any, image: ImageInput, what: str = "image") -> LoadedImage:
    """Read an input without writing anything: an upload is decoded (ImageError if it
    is not an image) and encoded for the store; a stored image must still be there."""
    if image.image_id is not None:
        png = store_images.get_png(db, image.image_id)
        if png is None:
            raise ConfigError(f"{what} {image.image_id[:12]}… is no longer in the store; pick or upload another")
        return LoadedImage(image.image_id, png_shape(png))
    if image.data is None:
        raise ConfigError(f"no {what} given")
    name = display_name(image.name) or "upload"
    rgb = np.asarray(open_image(image.data, name))
    blob = store_images.make_blob(rgb)
    return LoadedImage(blob.id, (int(rgb.shape[0]), int(rgb.shape[1])), blob, name)


def _load_mask(db: Any, mask: ImageInput, position: int) -> LoadedImage:
    """A style's mask, read and checked as a mask (`engine.styles.mask_array`)."""
    loaded = load_input(db, mask, f"mask of style {position}")
    if loaded.blob is not None:
        mask_array(store_images.decode_png(loaded.blob.png), loaded.name or "mask")
    return loaded


def equal_or_given(weights: Sequence[float]) -> tuple[float, ...] | None:
    """The form's per-style blend weights as a config value: None (equal, resolved to
    1/n each) when they are all the same and not zero, else as given (all zero or
    negative ones are then refused by `resolve_styles`)."""
    weights = tuple(float(w) for w in weights)
    if weights and len(set(weights)) == 1 and weights[0] > 0:
        return None
    return weights


def check_styles(cfg: TransferConfig, styles: int, masks: int) -> TransferConfig:
    """`cfg` with its blend weights resolved for `styles` style images and `masks`
    masks; `ConfigError` in one line (wrong counts, negative or all-zero weights)."""
    return validate(resolve_styles(cfg, styles, masks))


def memory_check(cfg: TransferConfig, shape: tuple[int, int]) -> tuple[str | None, str | None]:
    """(estimate line, error line) of a run of `cfg` on a content image of `shape`:
    the error (a `MemoryBudgetError`, naming a tile size that fits) when it would not
    fit in this machine's memory now."""
    try:
        est = check_fits(cfg, shape)
    except MemoryBudgetError as exc:
        return None, str(exc).splitlines()[0]
    return f"Memory: {est.describe()}", None


def _as_choices(styles: ImageInput | StyleChoice | Sequence[ImageInput | StyleChoice]) -> list[StyleChoice]:
    if isinstance(styles, ImageInput | StyleChoice):
        styles = [styles]
    return [s if isinstance(s, StyleChoice) else StyleChoice(s) for s in styles]


def queue_runs(
    db: Any,
    configs: list[TransferConfig],
    content: ImageInput,
    styles: ImageInput | StyleChoice | Sequence[ImageInput | StyleChoice],
) -> list[int]:
    """One queued run per (validated) config on the content image and the style images
    (in blend-weight order, each with its optional mask); returns the run ids. Every
    input is read and every config resolved and checked (styles, masks, memory) before
    anything is written."""
    choices = _as_choices(styles)
    if not choices:
        raise ConfigError("a run needs at least one style image")
    photo = load_input(db, content, "content image")
    paintings = [load_input(db, c.image, f"style image {i}") for i, c in enumerate(choices, 1)]
    masks = [_load_mask(db, c.mask, i) if c.mask else None for i, c in enumerate(choices, 1)]
    resolved = [check_styles(c, len(paintings), sum(m is not None for m in masks)) for c in configs]
    new = {x.image_id: (x.blob, x.name) for x in [photo, *paintings, *masks] if x is not None and x.blob}
    mask_ids = [m.image_id for m in masks] if any(masks) else None
    return queue.queue_runs(
        db, resolved, photo.image_id, [p.image_id for p in paintings], mask_ids, images=list(new.values())
    )


def run_styles(db: Any, run_id: int) -> list[StyleChoice]:
    """The style images (with masks) of a stored run, in order."""
    rows = store_runs.get_styles(db, run_id)
    masks = [ImageInput(image_id=s["mask_image"]) if s["mask_image"] else None for s in rows]
    return [StyleChoice(ImageInput(image_id=s["image_id"]), m) for s, m in zip(rows, masks, strict=True)]


def rerun(db: Any, run_id: int) -> int:
    """Queue a new run with the same config, content image, style images, blend
    weights and masks as run `run_id`."""
    row = store_runs.get_run(db, run_id)
    if row is None:
        raise ConfigError(f"run {run_id} does not exist")
    cfg = validate(TransferConfig.from_dict(row["config"]))
    styles = run_styles(db, run_id) or [StyleChoice(ImageInput(image_id=row["style_image"]))]
    return queue_runs(db, [cfg], ImageInput(image_id=row["content_image"]), styles)[0]

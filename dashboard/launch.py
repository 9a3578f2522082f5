"""Turning launch-form values into validated configs and queueing them. No Streamlit
here: the form lives in `launch_form`, the rules here; queueing and the background
worker are `workbench.queue`'s, shared with the command line.
"""

from __future__ import annotations

import functools
import logging
import socket
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from engine.backbones import BACKBONES, get_backbone
from engine.config import FIELDS, TransferConfig, per_backbone_fields, validate
from engine.errors import ConfigError, WeightsError
from engine.images import open_image
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
    if image.image_id is not None:
        if not store_images.get_thumbs(db, [image.image_id]):
            raise ConfigError(f"image {image.image_id[:12]}… is no longer in the store; pick or upload another")
        return image.image_id
    if image.data is None:
        raise ConfigError("no image given")
    name = display_name(image.name) or "upload"
    rgb = np.asarray(open_image(image.data, name))
    return store_images.put_image(db, rgb, name)


def queue_runs(db: Any, configs: list[TransferConfig], content: ImageInput, style: ImageInput) -> list[int]:
    """Store both inputs and one queued run per (validated) config; returns the run ids."""
    return queue.queue_runs(db, configs, store_input(db, content), store_input(db, style))


def rerun(db: Any, run_id: int) -> int:
    """Queue a new run with the same config and input images as run `run_id`."""
    row = store_runs.get_run(db, run_id)
    if row is None:
        raise ConfigError(f"run {run_id} does not exist")
    cfg = validate(TransferConfig.from_dict(row["config"]))
    content, style = ImageInput(image_id=row["content_image"]), ImageInput(image_id=row["style_image"])
    return queue_runs(db, [cfg], content, style)[0]

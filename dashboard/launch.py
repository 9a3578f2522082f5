"""Turning launch-form values into validated configs, queueing runs, and starting the
background worker. No Streamlit here: the form lives in `launch_form`, the rules here.

Long work never runs in the page: a launch stores the inputs and queued run rows, then
starts `python -m engine worker --db PATH` in its own session. Starting one while
another is running is harmless (it exits at once if every worker slot is taken).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import subprocess
import sys
import typing
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from engine.backbones import BACKBONES, get_backbone
from engine.config import ConfigError, TransferConfig, default_learning_rate, formulas, loss_defaults, validate
from engine.images import open_image
from engine.weights import WeightsError, check_weights_path, keras_cache_path
from store import images as store_images
from store import runs as store_runs

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
NO_WORKER_ENV = "NST_NO_WORKER"  # set to 1 to queue runs without starting a worker (tests)
# Fields whose value depends on the backbone (layer names, tuned defaults): they reset
# when the backbone changes, and "Run on both backbones" leaves them at each one's default.
PER_BACKBONE = (
    "content_layer",
    "style_layers",
    "style_layer_weights",
    "transform_layers",
    "learning_rate",
    "content_weight",
    "style_weight",
    "tv_weight",
)
WEIGHT_MODES = ("imagenet", "none", "local file")

_workers: list[subprocess.Popen] = []


@dataclass(frozen=True)
class ImageInput:
    """An input image: an image already in the store, or uploaded bytes.

    `name` is a display name only; it is never used as a path."""

    image_id: str | None = None
    data: bytes | None = None
    name: str | None = None


def config_fields() -> tuple[dataclasses.Field, ...]:
    """The `TransferConfig` fields, in declaration order (the form's source of truth)."""
    return dataclasses.fields(TransferConfig)


@functools.cache
def _unwrapped(name: str) -> Any:
    hint = typing.get_type_hints(TransferConfig)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def field_type(name: str) -> type:
    """The value type of a field, `X | None` unwrapped (`tuple` for list-valued fields)."""
    kind = _unwrapped(name)
    return tuple if typing.get_origin(kind) is tuple else kind


def item_type(name: str) -> type:
    """The item type of a tuple field (`str` for layer lists, `float` for weights)."""
    return typing.get_args(_unwrapped(name))[0]


def backbone_defaults(
    backbone: str, optimizer: str = "adam", convention: str = TransferConfig.loss_convention
) -> dict[str, Any]:
    """The per-backbone defaults of the fields in `PER_BACKBONE` (None: left to the
    config's own resolution, e.g. equal style layer weights); the learning rate is the
    one for `optimizer`, the loss weights those of the loss `convention`."""
    bb = get_backbone(backbone)
    weights = loss_defaults(bb, convention)
    return {
        "content_layer": bb.content_layer,
        "style_layers": list(bb.style_layers),
        "style_layer_weights": None,
        "transform_layers": None,
        "learning_rate": default_learning_rate(bb, optimizer, convention),
        "content_weight": weights.content_weight,
        "style_weight": weights.style_weight,
        "tv_weight": weights.tv_weight,
    }


def check_weights(weights: str, backbone: str) -> str | None:
    """Raise `ConfigError` for a local weights path that cannot work; return a warning
    (or None) for ImageNet weights that are not cached yet."""
    if weights == "none":
        return None
    if weights == "imagenet":
        cached = keras_cache_path(get_backbone(backbone))
        if cached.is_file():
            return None
        return f"ImageNet weights for {backbone} are not cached at {cached}; the worker will try to download them."
    try:
        check_weights_path(weights)
    except WeightsError as exc:
        raise ConfigError(str(exc)) from None
    return None


def build_config(values: dict[str, Any]) -> TransferConfig:
    """A validated, resolved config from form values (keys are field names; missing or
    None values take the defaults). Raises ConfigError / UnknownLayerError."""
    names = {f.name for f in config_fields()}
    if values.get("style_layers") is not None and not values["style_layers"]:
        raise ConfigError("choose at least one style layer")
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names and v is not None}
    cfg = validate(TransferConfig(**given))
    check_weights(cfg.weights, cfg.backbone)
    return cfg


def both_backbone_configs(values: dict[str, Any]) -> list[TransferConfig]:
    """One validated config per backbone: shared size, iterations, init, seed, snapshot,
    TV weight and weights; each backbone's own default layers, learning rate and loss
    weights."""
    weights = values.get("weights", "imagenet")
    if weights not in ("imagenet", "none"):
        raise ConfigError("a local weights file fits one backbone only; choose imagenet or none to run both")
    shared = {k: v for k, v in values.items() if k not in (*PER_BACKBONE, "backbone")}
    return [build_config({**shared, "backbone": name}) for name in BACKBONES]


def display_name(name: str | None) -> str | None:
    """An uploaded file's name reduced to its last component (display only)."""
    if not name:
        return None
    return PureWindowsPath(PurePosixPath(name).name).name[:200] or None


def store_input(db: Any, image: ImageInput) -> str:
    """The store id of an input image, storing uploaded bytes first (decoded with the
    engine's pixel-limited loader; raises ImageLoadError with a clear message)."""
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
    content_id = store_input(db, content)
    style_id = store_input(db, style)
    ids = [store_runs.create_run(db, cfg.to_dict(), content_id, style_id, formulas(cfg)) for cfg in configs]
    log.info("queued runs %s", ids)
    return ids


def rerun(db: Any, run_id: int) -> int:
    """Queue a new run with the same config and input images as run `run_id`."""
    row = store_runs.get_run(db, run_id)
    if row is None:
        raise ConfigError(f"run {run_id} does not exist")
    cfg = validate(TransferConfig.from_dict(row["config"]))
    content, style = ImageInput(image_id=row["content_image"]), ImageInput(image_id=row["style_image"])
    return queue_runs(db, [cfg], content, style)[0]


def worker_disabled() -> bool:
    """True when $NST_NO_WORKER asks launches not to start a worker."""
    return os.environ.get(NO_WORKER_ENV, "").strip() not in ("", "0")


def start_worker(db_path: Path) -> subprocess.Popen | None:
    """Start `python -m engine worker --db PATH` in the background (its output goes to
    PATH.worker.log). Returns the process, or None when $NST_NO_WORKER is set."""
    _workers[:] = [p for p in _workers if p.poll() is None]  # reap finished workers
    if worker_disabled():
        log.info("%s is set: not starting a worker", NO_WORKER_ENV)
        return None
    log_path = Path(f"{db_path}.worker.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "worker", "--db", str(db_path)],
            cwd=REPO_ROOT,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _workers.append(proc)
    log.info("started worker pid %s for %s", proc.pid, db_path)
    return proc

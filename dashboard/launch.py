"""Turning launch-form values into validated configs and queueing them. No Streamlit
here: the form lives in `launch_form`, the rules here; queueing and the background
worker are `workbench.queue`'s, shared with the command line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from engine.backbones import BACKBONES, get_backbone
from engine.config import FIELDS, TransferConfig, per_backbone_fields, validate
from engine.errors import ConfigError
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


def build_config(values: dict[str, Any]) -> TransferConfig:
    """A validated, resolved config from form values (keys are field names; missing or
    None values take the defaults). Raises ConfigError / UnknownLayerError."""
    names = set(FIELDS)
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names and v is not None}
    cfg = validate(TransferConfig(**given))
    check_weights(cfg.weights, cfg.backbone)
    return cfg


def both_backbone_configs(values: dict[str, Any]) -> list[TransferConfig]:
    """One validated config per backbone: shared size, iterations, init, seed, snapshot,
    TV weight and weights; each backbone's own default layers, learning rate and loss
    weights."""
    weights = values.get("weights", TransferConfig.weights)
    if weights not in KINDS:
        raise ConfigError("a local weights file fits one backbone only; choose imagenet or none to run both")
    shared = {k: v for k, v in values.items() if k not in (*per_backbone_fields(), "backbone")}
    return [build_config({**shared, "backbone": name}) for name in BACKBONES]


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

"""Loading a backbone with the weights the user asked for, or one clear error why not."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from engine.backbones import Backbone
from engine.errors import WeightsError

if TYPE_CHECKING:
    import keras

DOWNLOAD_TIMEOUT_S = 20.0


def keras_cache_path(backbone: Backbone) -> Path:
    """Where Keras keeps (or would keep) the downloaded ImageNet weights file."""
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return home / "models" / backbone.keras_cache_file


# The `weights` value of random, untrained weights (tests, smoke runs): such an output
# says nothing about a backbone's quality, and every view says so.
RANDOM = "none"
# Values that name a kind of weights rather than a file: they carry over from one
# backbone to another (a file belongs to one backbone).
KINDS = ("imagenet", RANDOM)


def is_random(weights: str) -> bool:
    """True for random weights, whose outputs are useless for judging quality."""
    return weights == RANDOM


def load_backbone(backbone: Backbone, weights: str) -> keras.Model:
    """Build `backbone` with `weights`: "imagenet", "none" or a path to a .h5 file."""
    if is_random(weights):
        return backbone.build(weights=None)
    if weights == "imagenet":
        return _load_imagenet(backbone)
    return _load_file(backbone, Path(weights).expanduser())


def _load_imagenet(backbone: Backbone) -> keras.Model:
    cached = keras_cache_path(backbone)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # offline machines must fail, not hang
    try:
        return backbone.build(weights="imagenet")
    except Exception as exc:  # Keras raises plain Exception on a failed download
        raise WeightsError(
            f"cannot load ImageNet weights for {backbone.name}: not cached at {cached} and "
            f"the download failed ({exc.__class__.__name__}). Fix: copy Keras's "
            f"'{backbone.keras_cache_file}' into $KERAS_HOME/models (now {cached.parent}), "
            f"or pass --weights /path/to/{backbone.keras_cache_file}, or --weights none "
            f"for random weights (smoke tests only)."
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def check_weights_path(weights: str) -> Path:
    """A cheap check of a local weights path (no loading): exists, is a .h5 file."""
    if not weights.strip():
        raise WeightsError("give the path of a .h5 weights file, or choose imagenet or none")
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist (use imagenet, none or a .h5 path)")
    if not path.name.endswith(".h5"):
        raise WeightsError(f"weights file {path} must be a Keras .h5 or .weights.h5 file")
    return path


def _load_file(backbone: Backbone, path: Path) -> keras.Model:
    check_weights_path(str(path))
    try:
        return backbone.build(weights=str(path))
    except Exception as exc:  # h5py/Keras raise many types for a wrong or damaged file
        raise WeightsError(
            f"{path} is not a valid {backbone.name} weights file: {str(exc).splitlines()[0][:200]}"
        ) from None

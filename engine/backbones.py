"""Backbones as data: one table entry per feature network.

Adding a third backbone means adding one `Backbone` to `BACKBONES`; nothing else in the
engine branches on the backbone's name.
"""

from __future__ import annotations

import difflib
import functools
import importlib.metadata
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import UnknownBackboneError, UnknownLayerError

if TYPE_CHECKING:
    import keras

# Both Keras backbones use "caffe" preprocessing: RGB -> BGR, then subtract the ImageNet
# channel means, no scaling. Kept here so the inverse is exact and visible.
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def caffe_preprocess(rgb: np.ndarray) -> np.ndarray:
    """uint8/float RGB (H, W, 3) -> float32 BGR minus the ImageNet means.

    Same arithmetic as `keras.applications.{vgg16,resnet50}.preprocess_input`, which
    mutates float numpy input in place; this version never touches its argument.
    """
    return np.asarray(rgb, dtype=np.float32)[..., ::-1] - CAFFE_MEAN_BGR


def caffe_deprocess(bgr: np.ndarray) -> np.ndarray:
    """Exact inverse of `caffe_preprocess`, rounded and clipped to uint8 RGB."""
    rgb = (np.asarray(bgr, dtype=np.float32) + CAFFE_MEAN_BGR)[..., ::-1]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class LossDefaults:
    """Optimisation defaults of one backbone under one loss convention (Adam's rate,
    alpha, beta, TV weight)."""

    learning_rate: float
    content_weight: float
    style_weight: float
    tv_weight: float = 0.0


@dataclass(frozen=True)
class Backbone:
    """One feature network: how to build it, feed it, and which layers to read."""

    name: str
    # Name of the `keras.applications` constructor; looked up when a model is built, so
    # this registry is plain data that imports without TensorFlow (the dashboard's forms).
    builder: str
    preprocess: Callable[[np.ndarray], np.ndarray]
    deprocess: Callable[[np.ndarray], np.ndarray]
    content_layer: str
    style_layers: tuple[str, ...]
    defaults: Mapping[str, LossDefaults]  # per loss convention (`engine.losses.CONVENTIONS`)
    keras_cache_file: str  # file name Keras caches under $KERAS_HOME/models
    min_size: int = 32  # smallest input side the network accepts
    # Layer-name prefixes the feature transform (SWAG softmax) applies to by default, when
    # a run turns it on without naming `transform_layers`; see `TransferConfig.resolve`.
    transform_stages: tuple[str, ...] = ()
    display_name: str = ""  # how reports and tables name it ("VGG16"); defaults to `name`

    @property
    def label(self) -> str:
        """The name tables and reports show."""
        return self.display_name or self.name

    def build(self, weights: str | None) -> keras.Model:
        """The convolutional base, any input size, with `weights` (None/"imagenet"/path)."""
        import keras  # deferred: see `builder`

        constructor = getattr(keras.applications, self.builder)
        return constructor(include_top=False, weights=weights, input_shape=(None, None, 3))


# Why the `gatys` loss weights (total = alpha * content + beta * style), alpha = 1 for both:
# Adam is invariant to a common scale of the loss, so only beta / alpha matters for the
# optimisation (the absolute values only set the scale of the logged numbers). With the
# Gatys normalisation E_l = sum((G - A)^2) / (4 N^2 M^2) the style term is independent of
# image size while the content sum grows with the number of positions M, so a ratio tuned
# at one size is 4x more content-heavy at twice the size: we picked ratios by eye at 256 px
# (beta / 4) and at 512 px with the real weights in ../shared/weights on tubingen x starry
# night, lr 15/20 (README "Losses and their weights" has the sweep).
# - VGG16: style at a content-initialised 512 px image is ~6e5 (sum over its 5 layers);
#   beta = 10 wiped out the content, beta = 0.1 left mostly Adam's pixel noise, beta = 1
#   gave a clearly stylised, recognisable image.
# - ResNet50: its Gram values are ~1e6 times smaller (style ~0.35 at the same image), so
#   beta = 1e6 barely stylised and beta = 1e7 gave a visibly stylised image.
# Under the portable convention every term is a relative error, so one setting serves
# both backbones (the point of that convention); chosen by the sweep in README
# "Default settings, measured".
PORTABLE_DEFAULTS = LossDefaults(learning_rate=5.0, content_weight=1.0, style_weight=3.0, tv_weight=30.0)

BACKBONES: dict[str, Backbone] = {
    "vgg16": Backbone(
        name="vgg16",
        builder="VGG16",
        preprocess=caffe_preprocess,
        deprocess=caffe_deprocess,
        content_layer="block5_conv2",
        style_layers=(
            "block1_conv1",
            "block2_conv1",
            "block3_conv1",
            "block4_conv1",
            "block5_conv1",
        ),
        defaults={"gatys": LossDefaults(15.0, 1.0, 1.0), "portable": PORTABLE_DEFAULTS},
        keras_cache_file="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        # VGG16 does not need the fix (its activations are not peaky); a user who turns it
        # on gets it on every chosen layer, as in the paper's all-layer formulation.
        transform_stages=("block",),
        display_name="VGG16",
    ),
    "resnet50": Backbone(
        name="resnet50",
        builder="ResNet50",
        preprocess=caffe_preprocess,
        deprocess=caffe_deprocess,
        content_layer="conv3_block4_out",
        style_layers=(
            "conv1_relu",
            "conv2_block1_out",
            "conv3_block1_1_conv",
            "conv4_block1_1_conv",
            "conv5_block1_1_relu",
        ),
        defaults={"gatys": LossDefaults(20.0, 1.0, 1e7), "portable": PORTABLE_DEFAULTS},
        keras_cache_file="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        # Wang, Li & Vasconcelos (CVPR 2021) find the residual stages' activations peaky
        # and low in entropy, worst in the deeper stages, and smooth them there: conv3_x and
        # conv4_x in Keras's names. (Their PyTorch code counts stages from 0, so its
        # "layer3/layer4" are Keras's conv4_x/conv5_x: pass --transform-layers to try that.)
        transform_stages=("conv3_", "conv4_"),
        display_name="ResNet50",
    ),
}


def get_backbone(name: str) -> Backbone:
    """Look up a backbone by name, with a helpful error."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise UnknownBackboneError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}") from None


# The layer names of each backbone for one Keras version (they are fixed per version):
# read instead of building the graph, which needs TensorFlow (seconds). Another Keras
# version builds the graph; a test keeps the file equal to the built names.
LAYER_TABLE = Path(__file__).with_name("layer_names.json")


@functools.cache
def _layer_table() -> dict[str, list[str]]:
    try:
        table = json.loads(LAYER_TABLE.read_text())
        return table if table.get("keras") == importlib.metadata.version("keras") else {}
    except (OSError, ValueError, importlib.metadata.PackageNotFoundError):
        return {}


@functools.cache
def layer_names(backbone: str) -> tuple[str, ...]:
    """Every selectable layer of a backbone, in network order (input layer excluded):
    from `LAYER_TABLE` for the installed Keras version, else built once per process with
    random weights (only the graph is needed, not its values)."""
    if backbone in _layer_table():
        return tuple(_layer_table()[backbone])
    return built_layer_names(backbone)


def built_layer_names(backbone: str) -> tuple[str, ...]:
    """`layer_names` from the graph itself (imports Keras)."""
    model = get_backbone(backbone).build(weights=None)
    return tuple(layer.name for layer in model.layers if type(layer).__name__ != "InputLayer")


def check_layer(backbone: str, layer: str) -> None:
    """Raise `UnknownLayerError` naming the closest valid layers if `layer` is unknown."""
    names = layer_names(backbone)
    if layer in names:
        return
    close = difflib.get_close_matches(layer, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownLayerError(
        f"{backbone} has no layer {layer!r}{hint} (`python -m workbench layers {backbone}` lists all {len(names)})"
    )

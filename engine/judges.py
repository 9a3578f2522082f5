"""Neutral judges: ImageNet networks that produced neither output, scoring style and
content with scale-free distances (`engine.metrics.neutral_distances`).

A producing backbone judging outputs favours those made with its own objective (it scores
what it optimised), so verdicts only take judges from this registry. A judge runs only
when its ImageNet weights file is on disk (Keras's cache, $KERAS_HOME/models, or a path
given for it): nothing here downloads. Otherwise its rows say why it was skipped.

The registry is plain data (the Keras constructor by name, as in `engine.backbones`), so
reports and the dashboard's non-compute pages read judges' names without TensorFlow;
Keras and TensorFlow are imported by the functions that build or run a judge.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.backbones import caffe_preprocess
from engine.errors import WeightsError

if TYPE_CHECKING:
    import keras


def inception_preprocess(rgb: np.ndarray) -> np.ndarray:
    """Keras's "tf" mode for Inception: RGB scaled to [-1, 1]."""
    return np.asarray(rgb, np.float32) / 127.5 - 1.0


@dataclass(frozen=True)
class NeutralJudge:
    """A judge network: how to build it, feed it, which layers it reads, where its
    ImageNet weights live."""

    name: str
    # Name of the `keras.applications` constructor, looked up when the judge is built.
    builder: str
    preprocess: Callable[[np.ndarray], np.ndarray]
    content_layer: str
    style_layers: tuple[str, ...]
    keras_cache_file: str
    min_size: int = 32  # smallest input side the network accepts
    label: str = ""  # how reports name it ("VGG19"); defaults to `name`

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name)

    def build(self, weights: str | None) -> keras.Model:
        """The convolutional base, any input size, with `weights` (None or a file path)."""
        import keras  # deferred: see `builder`

        constructor = getattr(keras.applications, self.builder)
        return constructor(include_top=False, weights=weights, input_shape=(None, None, 3))


NEUTRAL_JUDGES: dict[str, NeutralJudge] = {
    j.name: j
    for j in (
        # Gatys et al.'s own network (2016): the usual ruler of style transfer papers.
        NeutralJudge(
            "vgg19",
            "VGG19",
            caffe_preprocess,
            "block4_conv2",
            ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"),
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
            label="VGG19",
        ),
        # A different architecture family from both producers. Only its `mixed*` blocks
        # have fixed names (the others are numbered per process), hence these layers.
        NeutralJudge(
            "inception_v3",
            "InceptionV3",
            inception_preprocess,
            "mixed3",
            ("mixed0", "mixed1", "mixed2", "mixed4", "mixed7"),
            "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
            min_size=75,
            label="Inception v3",
        ),
    )
}


def cache_dir() -> Path:
    """Keras's model cache: $KERAS_HOME/models (default ~/.keras/models)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def weights_file(judge: NeutralJudge, files: Mapping[str, str] | None = None) -> Path | None:
    """The judge's weights file: one given for it, else Keras's cached one, else None."""
    given = (files or {}).get(judge.name)
    if given:
        return Path(given).expanduser()
    cached = cache_dir() / judge.keras_cache_file
    return cached if cached.is_file() else None


def skip_reason(judge: NeutralJudge) -> str:
    """Why a judge without weights did not run, and how to make it run."""
    where = str(cache_dir()).replace(str(Path.home()), "~", 1)
    return (
        f"skipped: no ImageNet weights for {judge.name} in {where} (copy Keras's '{judge.keras_cache_file}' "
        "there to use this judge; nothing is downloaded)"
    )


def load_judge(judge: NeutralJudge, path: Path) -> keras.Model:
    """The judge network with the weights in `path` (callers keep it: building is slow)."""
    if not path.is_file():
        raise WeightsError(f"weights file {path} for judge {judge.name} does not exist")
    try:
        return judge.build(str(path))
    except Exception as exc:  # h5py/Keras raise many types for a wrong or damaged file
        raise WeightsError(f"{path} is not a valid {judge.name} weights file: {str(exc)[:200]}") from None


Loader = Callable[[NeutralJudge, Path], "keras.Model"]


def _reader(judge: NeutralJudge, model: keras.Model) -> keras.Model:
    import keras

    layers = (judge.content_layer, *judge.style_layers)
    return keras.Model(model.inputs, [model.get_layer(name).output for name in layers])


def _features(reader: keras.Model, judge: NeutralJudge, images: list[np.ndarray]) -> list[tuple]:
    """(content features, [style features]) of same-sized images, in one batched pass."""
    import tensorflow as tf

    outs = reader(tf.constant(np.stack([judge.preprocess(x) for x in images])), training=False)
    outs = [o.numpy() for o in outs]
    return [(outs[0][i], [o[i] for o in outs[1:]]) for i in range(len(images))]


def judge_images(
    judge: NeutralJudge, model: keras.Model, output: np.ndarray, content: np.ndarray, style: np.ndarray
) -> dict[str, float]:
    """The judge's neutral distances of one output (`content` has the output's size)."""
    from engine import metrics as fair  # imports TensorFlow: only when a judge runs

    reader = _reader(judge, model)
    out_f, con_f = _features(reader, judge, [output, content])
    (sty_f,) = _features(reader, judge, [style])
    return fair.neutral_distances(out_f, con_f, sty_f)


def judge_rows(
    judge: NeutralJudge,
    images: tuple[np.ndarray, np.ndarray, np.ndarray],
    files: Mapping[str, str] | None = None,
    model: keras.Model | None = None,
    load: Loader = load_judge,
) -> list[tuple[str, str, float | None, str]]:
    """`run_metrics` rows (metric, judge, value, detail) of one neutral judge: values, or
    NULL with the reason it was skipped. `model` (tests) is used instead of loading one;
    `load` builds it from its weights file (a worker passes one that keeps it)."""
    from engine import metrics as fair  # imports TensorFlow: only when a judge runs

    smallest = min(min(x.shape[:2]) for x in images)
    path = None if model is not None else weights_file(judge, files)
    if model is None and path is None:
        reason = skip_reason(judge)
    elif smallest < judge.min_size:
        reason = f"skipped: images smaller than {judge.name}'s {judge.min_size} px minimum"
    else:
        try:
            net = model if model is not None else load(judge, path)
            detail = "given model" if model is not None else f"weights={path}"
            return [(m, judge.name, v, detail) for m, v in judge_images(judge, net, *images).items()]
        except WeightsError as exc:
            reason = f"skipped: {exc}"[:500]
    return [(m, judge.name, None, reason) for m in fair.NEUTRAL]


def neutral_rows(
    images: tuple[np.ndarray, np.ndarray, np.ndarray],
    files: Mapping[str, str] | None = None,
    models: Mapping[str, keras.Model] | None = None,
    load: Loader = load_judge,
) -> list[tuple[str, str, float | None, str]]:
    """Rows of every registered neutral judge for one output."""
    models = models or {}
    return [row for j in NEUTRAL_JUDGES.values() for row in judge_rows(j, images, files, models.get(j.name), load)]

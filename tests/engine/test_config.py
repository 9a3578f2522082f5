import math

import pytest

from engine.backbones import BACKBONES, UnknownLayerError
from engine.config import MAX_ITERATIONS, MAX_SIZE, ConfigError, TransferConfig, validate


@pytest.mark.parametrize("name", list(BACKBONES))
def test_resolve_fills_backbone_defaults(name):
    cfg = TransferConfig(backbone=name).resolve()
    bb = BACKBONES[name]
    assert cfg.content_layer == bb.content_layer
    assert cfg.style_layers == bb.style_layers
    assert cfg.style_layer_weights == (1.0,) * len(bb.style_layers)
    assert cfg.learning_rate == bb.defaults.learning_rate
    assert (cfg.content_weight, cfg.style_weight) == (bb.defaults.content_weight, bb.defaults.style_weight)


def test_study_learning_rates_are_defaults():
    assert TransferConfig(backbone="vgg16").resolve().learning_rate == 15
    assert TransferConfig(backbone="resnet50").resolve().learning_rate == 20


def test_round_trip_through_dict():
    cfg = validate(TransferConfig(backbone="resnet50", size=64))
    assert TransferConfig.from_dict(cfg.to_dict()) == cfg


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="lr"):
        TransferConfig.from_dict({"lr": 3})


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"learning_rate": 0.0}, "learning rate"),
        ({"learning_rate": -1.0}, "learning rate"),
        ({"learning_rate": math.nan}, "learning rate"),
        ({"learning_rate": math.inf}, "learning rate"),
        ({"iterations": 0}, "iterations"),
        ({"iterations": MAX_ITERATIONS + 1}, "iterations"),
        ({"size": 0}, "size"),
        ({"size": MAX_SIZE + 1}, "size"),
        ({"style_weight": -1.0}, "style weight"),
        ({"init": "zeros"}, "init"),
        ({"style_layers": ("block1_conv1", "block1_conv1")}, "repeat"),
        ({"style_layer_weights": (1.0, 2.0)}, "2 style layer weights"),
    ],
)
def test_validate_rejects_bad_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        validate(TransferConfig(**changes))


def test_validate_rejects_unknown_layer_with_suggestion():
    with pytest.raises(UnknownLayerError, match="did you mean"):
        validate(TransferConfig(style_layers=("block1_conv1", "blok2_conv1")))

import math

import pytest

from engine.backbones import BACKBONES
from engine.config import MAX_ITERATIONS, MAX_SIZE, TransferConfig, scale_plan, validate
from engine.errors import ConfigError, UnknownLayerError


@pytest.mark.parametrize("name", list(BACKBONES))
def test_resolve_fills_backbone_defaults(name):
    cfg = TransferConfig(backbone=name).resolve()
    bb = BACKBONES[name]
    assert cfg.content_layer == bb.content_layer
    assert cfg.style_layers == bb.style_layers
    assert cfg.style_layer_weights == (1.0,) * len(bb.style_layers)
    assert cfg.learning_rate == bb.defaults["portable"].learning_rate
    assert (cfg.content_weight, cfg.style_weight) == (
        bb.defaults["portable"].content_weight,
        bb.defaults["portable"].style_weight,
    )


def test_study_learning_rates_are_the_gatys_defaults():
    assert TransferConfig(backbone="vgg16", loss_convention="gatys").resolve().learning_rate == 15
    assert TransferConfig(backbone="resnet50", loss_convention="gatys").resolve().learning_rate == 20


def test_one_portable_setting_serves_both_backbones():
    vgg, resnet = (TransferConfig(backbone=b).resolve() for b in ("vgg16", "resnet50"))
    assert vgg.loss_convention == resnet.loss_convention == "portable"
    fields = ("learning_rate", "content_weight", "style_weight", "tv_weight")
    assert [getattr(vgg, f) for f in fields] == [getattr(resnet, f) for f in fields]


def test_configs_stored_before_conventions_read_as_gatys():
    old = validate(TransferConfig(size=64)).to_dict()
    del old["loss_convention"], old["keep_best"]
    assert TransferConfig.from_dict(old).loss_convention == "gatys"


def test_unknown_convention_is_refused():
    with pytest.raises(ConfigError, match="loss convention must be one of"):
        validate(TransferConfig(loss_convention="mine"))


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
        ({"optimizer": "sgd"}, "optimizer must be one of adam, lbfgs"),
        ({"steps_per_call": 0}, "steps per call"),
        ({"scales": 0}, "scales must be between"),
        ({"scales": 5, "size": 256}, "would start at 16 px, below vgg16's 32 px minimum"),
        ({"coarse_iterations": 10}, "coarse iterations apply only with scales > 1"),
        ({"scales": 2, "iterations": 10, "coarse_iterations": 10}, "leave steps for the full size"),
        ({"scales": 3, "iterations": 2}, "coarse iterations must be >= 1"),
        ({"jit_compile": "yes"}, "jit compile must be true or false"),
    ],
)
def test_validate_rejects_bad_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        validate(TransferConfig(**changes))


def test_validate_rejects_unknown_layer_with_suggestion():
    with pytest.raises(UnknownLayerError, match="did you mean"):
        validate(TransferConfig(style_layers=("block1_conv1", "blok2_conv1")))


def test_speed_options_resolve_explicitly():
    cfg = validate(TransferConfig(backbone="resnet50", optimizer="lbfgs", scales=3, iterations=100, size=256))
    assert cfg.learning_rate == 1.0  # L-BFGS takes its own step, not the backbone's Adam rate
    assert cfg.coarse_iterations == 33  # an equal share per scale, the rest at full size
    assert scale_plan(cfg) == [(64, 33), (128, 33), (256, 34)]
    adam = validate(TransferConfig(backbone="resnet50", loss_convention="gatys"))
    assert adam.learning_rate == 20.0 and adam.coarse_iterations == 0 and scale_plan(adam) == [(512, 1000)]
    assert validate(TransferConfig(optimizer="lbfgs", learning_rate=0.5)).learning_rate == 0.5

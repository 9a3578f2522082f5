"""The ResNet fix (SWAG softmax feature transform): config, the pure function, and that it
touches the chosen layers only."""

import numpy as np
import pytest
import tensorflow as tf

from engine.backbones import get_backbone
from engine.config import TransferConfig, validate
from engine.errors import ConfigError
from engine.losses import softmax_features
from engine.transfer import FeatureExtractor
from workbench.__main__ import build_parser

RESNET = get_backbone("resnet50")
SWAG_DEFAULT = ("conv3_block4_out", "conv3_block1_1_conv", "conv4_block1_1_conv")


def test_softmax_features_keep_shape_and_have_mean_1():
    x = tf.random.stateless_normal((2, 3, 4, 5), seed=(1, 2)) * 10
    y = softmax_features(x).numpy()
    assert y.shape == x.shape and (y > 0).all()
    np.testing.assert_allclose(y.reshape(2, -1).mean(axis=1), [1.0, 1.0], rtol=1e-5)  # per image
    # a high temperature flattens the peaks: every activation -> ~1
    np.testing.assert_allclose(softmax_features(x, temperature=1e6).numpy(), 1.0, atol=1e-3)


def test_softmax_std_does_not_depend_on_the_scale_of_activations():
    # Keras's caffe-scaled inputs give far larger activations than the torchvision ones
    # SWAG's T = 1 was set for; T in units of the layer's std carries across.
    from engine.transfer import temperature_for

    x = tf.random.stateless_normal((1, 4, 4, 8), seed=(3, 4))
    smooth = [softmax_features(k * x, temperature_for("softmax-std", k * x, 1.0)).numpy() for k in (1.0, 60.0)]
    np.testing.assert_allclose(smooth[0], smooth[1], rtol=1e-4)
    absolute = [softmax_features(k * x, temperature_for("softmax", k * x, 1.0)).numpy() for k in (1.0, 60.0)]
    assert absolute[1].max() > 10 * absolute[0].max()  # T fixed: the larger scale saturates


def test_resolve_makes_the_transform_layers_explicit():
    assert validate(TransferConfig(backbone="resnet50")).transform_layers == ()
    cfg = validate(TransferConfig(backbone="resnet50", feature_transform="softmax"))
    assert cfg.transform_layers == SWAG_DEFAULT  # the chosen layers in conv3_x / conv4_x
    assert TransferConfig.from_dict(cfg.to_dict()) == cfg
    mine = validate(TransferConfig(backbone="resnet50", feature_transform="softmax", transform_layers=("conv1_relu",)))
    assert mine.transform_layers == ("conv1_relu",)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"transform_layers": ("conv1_relu",)}, "feature transform is none"),
        ({"feature_transform": "softmax", "transform_layers": ("conv5_block3_out",)}, "content or style layers"),
        ({"feature_transform": "sigmoid"}, "feature transform must be one of"),
        ({"feature_transform": "softmax", "transform_temperature": 0.0}, "transform temperature"),
    ],
)
def test_bad_transform_settings_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        validate(TransferConfig(backbone="resnet50", **changes))


def test_cli_flags_come_from_the_dataclass():
    actions = {a.dest: a for a in build_parser()._subparsers._group_actions[0].choices["run"]._actions}
    assert actions["feature_transform"].choices == ("none", "softmax", "softmax-std")
    assert "transform_layers" in actions


def test_softmax_changes_the_transform_layers_and_nothing_else(random_model):
    model = random_model("resnet50")
    image = tf.constant(RESNET.preprocess(np.random.default_rng(0).uniform(0, 255, (32, 32, 3)))[None])
    layers = RESNET.style_layers
    plain = FeatureExtractor(model, RESNET.content_layer, layers)(image)
    swag = FeatureExtractor(model, RESNET.content_layer, layers, SWAG_DEFAULT)(image)
    raw = keras_outputs(model, [RESNET.content_layer, *layers], image)
    # transform "none" reads exactly what the network outputs (as before the option existed)
    for got, want in zip([plain[0], *plain[1]], raw, strict=True):
        np.testing.assert_array_equal(got.numpy(), want)
    for name, a, b in zip([RESNET.content_layer, *layers], [plain[0], *plain[1]], [swag[0], *swag[1]], strict=True):
        if name in SWAG_DEFAULT:
            assert not np.allclose(a.numpy(), b.numpy()), name
        else:
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def keras_outputs(model, names, image):
    import keras

    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    return [o.numpy() for o in probe(image, training=False)]

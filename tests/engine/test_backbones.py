import numpy as np
import pytest

from engine.backbones import (
    BACKBONES,
    UnknownBackboneError,
    UnknownLayerError,
    caffe_deprocess,
    caffe_preprocess,
    check_layer,
    get_backbone,
    layer_names,
)


def test_deprocess_inverts_preprocess_exactly():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    np.testing.assert_array_equal(caffe_deprocess(caffe_preprocess(x)), x)


def test_preprocess_matches_keras_and_does_not_mutate():
    import keras

    x = np.random.default_rng(1).uniform(0, 255, (4, 5, 3)).astype(np.float32)
    before = x.copy()
    ours = caffe_preprocess(x)
    np.testing.assert_array_equal(x, before)
    for fn in (keras.applications.vgg16.preprocess_input, keras.applications.resnet50.preprocess_input):
        np.testing.assert_allclose(ours, fn(x.copy()), rtol=1e-6)


@pytest.mark.parametrize("name", list(BACKBONES))
def test_default_layers_exist(name):
    bb = get_backbone(name)
    names = layer_names(name)
    assert bb.content_layer in names
    assert set(bb.style_layers) <= set(names)


def test_unknown_layer_names_closest():
    with pytest.raises(UnknownLayerError, match="block5_conv2"):
        check_layer("vgg16", "block5_convv2")
    with pytest.raises(UnknownLayerError, match="conv3_block4_out"):
        check_layer("resnet50", "conv3_block4_ot")


def test_unknown_backbone():
    with pytest.raises(UnknownBackboneError, match="vgg16"):
        get_backbone("vgg19")


@pytest.mark.parametrize("name", ["vgg16", "resnet50"])
def test_stored_layer_names_are_the_built_graphs(name):
    """engine/layer_names.json (read so the dashboard need not build graphs) matches the
    graph of the installed Keras version; another version builds it and this still holds."""
    from engine.backbones import built_layer_names, layer_names

    assert layer_names(name) == built_layer_names(name)

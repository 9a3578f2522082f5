import pytest

from engine.backbones import get_backbone
from engine.errors import WeightsError
from engine.weights import keras_cache_path, load_backbone


def test_imagenet_offline_without_cache_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    bb = get_backbone("vgg16")
    assert keras_cache_path(bb) == tmp_path / "models" / bb.keras_cache_file
    try:
        load_backbone(bb, "imagenet")
    except WeightsError as exc:
        message = str(exc)
    else:  # pragma: no cover - only where the network is open
        pytest.skip("this machine can download the ImageNet weights")
    assert "--weights" in message and "KERAS_HOME" in message and bb.keras_cache_file in message


@pytest.mark.parametrize("name, message", [("missing.h5", "does not exist"), ("weights.txt", "must be a Keras .h5")])
def test_bad_weights_paths(tmp_path, name, message):
    path = tmp_path / name
    if name.endswith(".txt"):
        path.write_text("x")
    with pytest.raises(WeightsError, match=message):
        load_backbone(get_backbone("resnet50"), str(path))


def test_garbage_h5_is_refused(tmp_path):
    path = tmp_path / "broken.weights.h5"
    path.write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="not a valid vgg16 weights file"):
        load_backbone(get_backbone("vgg16"), str(path))

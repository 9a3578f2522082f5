"""A short transfer with the real backbone weights, when ../shared/weights has them."""

import pytest

from engine.backbones import get_backbone
from engine.config import TransferConfig, validate
from engine.errors import WeightsError
from engine.images import load_image_file
from engine.transfer import run_transfer
from engine.weights import load_backbone
from tests.conftest import SHARED

pytestmark = pytest.mark.realweights


@pytest.mark.parametrize("backbone", ["vgg16", "resnet50"])
def test_real_weights_transfer_lowers_the_style_loss(backbone, real_weights):
    images = SHARED / "images"
    content = load_image_file(images / "content" / "tubingen.jpg")
    style = load_image_file(images / "style" / "starry_night.jpg")
    cfg = validate(TransferConfig(backbone=backbone, weights=str(real_weights[backbone]), size=64, iterations=30))
    events = []
    result = run_transfer(cfg, content, style, events.append)
    assert events[-1].total_loss < events[0].total_loss
    assert result.style_loss < 0.5 * events[0].style_loss


def test_weights_of_the_other_backbone_are_refused(real_weights):
    with pytest.raises(WeightsError, match="not a valid vgg16 weights file"):
        load_backbone(get_backbone("vgg16"), str(real_weights["resnet50"]))


def test_portable_convention_balances_vgg16_style_layers(real_weights):
    # Under the study's sums block2 takes ~80 % of the starting style loss and block4-5
    # almost nothing; relative errors spread it (README "Losses and their weights").
    from engine.transfer import style_layer_shares

    images = SHARED / "images"
    content = load_image_file(images / "content" / "tubingen.jpg")
    style = load_image_file(images / "style" / "starry_night.jpg")
    model = load_backbone(get_backbone("vgg16"), str(real_weights["vgg16"]))
    base = dict(backbone="vgg16", weights=str(real_weights["vgg16"]), size=128)
    gatys = style_layer_shares(validate(TransferConfig(**base, loss_convention="gatys")), content, style, model)
    portable = style_layer_shares(validate(TransferConfig(**base)), content, style, model)
    assert max(gatys.values()) > 0.6 and max(portable.values()) < 0.45
    assert min(portable.values()) > 0.05

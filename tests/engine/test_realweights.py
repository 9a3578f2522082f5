"""A short transfer with the real backbone weights, when ../shared/weights has them."""

import pytest

from engine.backbones import get_backbone
from engine.config import TransferConfig, validate
from engine.images import load_image_file
from engine.transfer import run_transfer
from engine.weights import WeightsError, load_backbone
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

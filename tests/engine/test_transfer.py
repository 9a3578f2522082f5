import numpy as np
import pytest

from engine.config import TransferConfig, validate
from engine.transfer import DivergedError, run_transfer


def _cfg(**kw):
    base = dict(iterations=20, size=48, weights="none", snapshot_every=10, init="noise", learning_rate=5.0)
    return validate(TransferConfig(**{**base, **kw}))


@pytest.mark.parametrize("backbone", ["vgg16", "resnet50"])
def test_loss_falls_and_every_step_is_reported(backbone, content_rgb, style_rgb, random_model):
    events = []
    result = run_transfer(_cfg(backbone=backbone), content_rgb, style_rgb, events.append, model=random_model(backbone))
    assert [e.step for e in events] == list(range(1, 21))
    assert events[-1].total_loss < 0.5 * events[0].total_loss
    assert [e.step for e in events if e.image is not None] == [10, 20]
    assert result.image.dtype == np.uint8 and result.image.shape == (36, 48, 3)
    assert result.steps_done == 20 and not result.cancelled
    assert all(e.step_seconds > 0 for e in events)
    assert all(b.elapsed_seconds >= a.elapsed_seconds for a, b in zip(events, events[1:], strict=False))


def test_seeded_run_is_repeatable(content_rgb, style_rgb):
    cfg = _cfg(iterations=5, seed=3)
    a, b = [], []
    run_transfer(cfg, content_rgb, style_rgb, a.append)
    run_transfer(cfg, content_rgb, style_rgb, b.append)
    assert [e.total_loss for e in a] == [e.total_loss for e in b]


def test_cancel_between_steps(content_rgb, style_rgb, random_model):
    events = []
    result = run_transfer(
        _cfg(), content_rgb, style_rgb, events.append, should_stop=lambda: len(events) >= 3, model=random_model("vgg16")
    )
    assert result.cancelled and result.steps_done == 3 and len(events) == 3


def test_content_init_starts_with_zero_content_loss(content_rgb, style_rgb, random_model):
    events = []
    run_transfer(_cfg(init="content", iterations=2), content_rgb, style_rgb, events.append, model=random_model("vgg16"))
    assert events[0].content_loss == 0


def test_divergence_stops_with_step(content_rgb, style_rgb, random_model):
    events = []
    with pytest.raises(DivergedError, match="diverged at step 1"):
        run_transfer(_cfg(style_weight=1e38), content_rgb, style_rgb, events.append, model=random_model("vgg16"))
    assert events == []

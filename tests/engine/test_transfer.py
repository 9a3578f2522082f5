import numpy as np
import pytest

from engine.config import TransferConfig, validate
from engine.errors import DivergedError
from engine.transfer import run_transfer


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
        cfg = _cfg(style_weight=1e38, loss_convention="gatys")
        run_transfer(cfg, content_rgb, style_rgb, events.append, model=random_model("vgg16"))
    assert events == []


def test_scales_run_coarse_to_fine_with_steps_numbered_across_them(content_rgb, style_rgb, random_model):
    events = []
    cfg = _cfg(size=64, scales=2, coarse_iterations=6, iterations=10, snapshot_every=4)
    result = run_transfer(cfg, content_rgb, style_rgb, events.append, model=random_model("vgg16"))
    assert [e.step for e in events] == list(range(1, 11))
    assert [e.size for e in events] == [32] * 6 + [64] * 4
    # Snapshots every 4 steps and at the end of each scale; the coarse one is smaller (its
    # short side held at the backbone's 32 px minimum).
    snaps = {e.step: e.image.shape for e in events if e.image is not None}
    assert snaps == {4: (32, 32, 3), 6: (32, 32, 3), 8: (48, 64, 3), 10: (48, 64, 3)}
    assert result.image.shape == (48, 64, 3) and result.steps_done == 10


def test_a_finer_scale_starts_from_the_photo_plus_the_coarse_change(content_rgb, style_rgb, random_model):
    # A content start and a coarse scale that changed nothing: the fine scale starts at the
    # photo itself (content loss 0), not at a blurred upscale of it.
    events = []
    cfg = _cfg(size=64, scales=2, coarse_iterations=1, iterations=3, init="content", learning_rate=1e-9)
    run_transfer(cfg, content_rgb, style_rgb, events.append, model=random_model("vgg16"))
    assert events[1].size == 64 and events[1].content_loss < 1e-6 * events[2].style_loss + 1e-3


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_steps_per_call_reports_every_step_and_keeps_the_path(optimizer, content_rgb, style_rgb, random_model):
    one, many = [], []
    model = random_model("resnet50")
    base = dict(backbone="resnet50", optimizer=optimizer, iterations=12, snapshot_every=5, learning_rate=None)
    run_transfer(_cfg(**base), content_rgb, style_rgb, one.append, model=model)
    run_transfer(_cfg(**base, steps_per_call=4), content_rgb, style_rgb, many.append, model=model)
    assert [e.step for e in many] == list(range(1, 13))
    assert [e.step for e in many if e.image is not None] == [5, 10, 12]  # chunks end at snapshots
    # The same steps: equal to float32 rounding at first; rounding in a differently fused
    # graph then grows along the path (L-BFGS amplifies it), so later steps only stay close.
    losses_many, losses_one = [e.total_loss for e in many], [e.total_loss for e in one]
    np.testing.assert_allclose(losses_many[:4], losses_one[:4], rtol=1e-3)
    np.testing.assert_allclose(losses_many, losses_one, rtol=0.15)
    assert all(b.elapsed_seconds >= a.elapsed_seconds for a, b in zip(many, many[1:], strict=False))


def test_lbfgs_brings_the_loss_down(content_rgb, style_rgb, random_model):
    events = []
    run_transfer(
        _cfg(optimizer="lbfgs", learning_rate=None), content_rgb, style_rgb, events.append, model=random_model("vgg16")
    )
    assert events[-1].total_loss < 0.2 * events[0].total_loss


def test_cancel_is_seen_between_chunks(content_rgb, style_rgb, random_model):
    events = []
    cfg = _cfg(steps_per_call=4, snapshot_every=0)
    result = run_transfer(cfg, content_rgb, style_rgb, events.append, lambda: len(events) >= 3, random_model("vgg16"))
    assert result.cancelled and result.steps_done == 4 and len(events) == 4


def test_xla_compiled_steps_run(content_rgb, style_rgb, random_model):
    events = []
    run_transfer(
        _cfg(iterations=3, jit_compile=True, steps_per_call=3),
        content_rgb,
        style_rgb,
        events.append,
        model=random_model("vgg16"),
    )
    assert [e.step for e in events] == [1, 2, 3] and np.isfinite(events[-1].total_loss)


def test_a_loss_that_climbs_far_above_its_start_stops_the_run_as_diverging(content_rgb, style_rgb, random_model):
    # A huge step size on a content start: the loss shoots up and stays there.
    events = []
    cfg = _cfg(init="content", learning_rate=1e4, iterations=60, content_weight=1.0, style_weight=1e-6)
    with pytest.raises(DivergedError, match="diverging"):
        run_transfer(cfg, content_rgb, style_rgb, events.append, model=random_model("vgg16"))
    assert len(events) >= 24  # never within the grace steps, and only when it stays up


def test_a_single_spike_is_not_divergence():
    from engine.transfer import _Loop

    loop = _Loop(_cfg(), None, None, None)
    for step, total in enumerate([1.0] * 25 + [50.0] + [1.0] * 10, start=1):
        loop._check(step, total, np.array([total]))  # no DivergedError


def test_best_loss_and_step_are_those_of_the_lowest_loss_image(content_rgb, style_rgb, random_model):
    events = []
    result = run_transfer(_cfg(learning_rate=30.0), content_rgb, style_rgb, events.append, model=random_model("vgg16"))
    logged = min(events, key=lambda e: e.total_loss)
    if result.total_loss <= logged.total_loss:  # the last image (after every step) is the best
        assert result.best_loss == pytest.approx(result.total_loss) and result.best_step == 20
    else:  # step k logs the image after k - 1 steps
        assert result.best_loss == pytest.approx(logged.total_loss) and result.best_step == logged.step - 1


def test_best_step_counts_the_steps_before_a_logged_best(content_rgb, style_rgb, random_model):
    # A step size so large that the loss jumps after the first step: the start is best.
    events = []
    cfg = _cfg(init="content", learning_rate=300.0, iterations=5)
    result = run_transfer(cfg, content_rgb, style_rgb, events.append, model=random_model("vgg16"))
    assert min(e.total_loss for e in events) == events[0].total_loss < result.total_loss
    assert result.best_step == 0 and result.best_loss == pytest.approx(events[0].total_loss)


def test_keep_best_outputs_the_lowest_loss_image(content_rgb, style_rgb, random_model):
    model = random_model("vgg16")
    last = run_transfer(_cfg(learning_rate=30.0), content_rgb, style_rgb, model=model)
    best = run_transfer(_cfg(learning_rate=30.0, keep_best=True), content_rgb, style_rgb, model=model)
    # the best image's loss is the logged best (re-evaluated: equal up to float rounding
    # and the uint8 rounding of nothing: the loss is evaluated before deprocessing)
    assert best.total_loss == pytest.approx(best.best_loss, rel=1e-3)
    assert best.total_loss <= last.total_loss * (1 + 1e-3)


@pytest.mark.parametrize("backbone", ["vgg16", "resnet50"])
def test_portable_losses_carry_across_sizes(backbone, content_rgb, style_rgb, random_model):
    # The same run at 64 and 128 px: under the portable convention every term is a
    # relative error, so the losses agree within a factor of 2 (features at two
    # resolutions are not identical); the study's sums differ by the pixel count.
    model = random_model(backbone)

    def losses(convention, size):
        events = []
        cfg = _cfg(backbone=backbone, loss_convention=convention, size=size, iterations=3, init="noise", seed=1)
        run_transfer(cfg, content_rgb, style_rgb, events.append, model=model)
        return events[-1]

    small, large = losses("portable", 64), losses("portable", 128)
    assert 0.5 < large.total_loss / small.total_loss < 2.0
    portable = large.content_loss / small.content_loss
    assert 1 / 3 < portable < 3  # random features of noise at two resolutions: loosely equal
    gatys = losses("gatys", 128).content_loss / losses("gatys", 64).content_loss
    assert gatys > 3 * portable  # the sum over 4x the positions


def test_layer_shares_of_the_starting_style_loss_are_reported(content_rgb, style_rgb, random_model):
    # (That they do not depend on a layer's activation scale is tested in test_losses.)
    from engine.transfer import style_layer_shares

    model = random_model("vgg16")
    base = dict(size=64, init="noise")
    gatys = style_layer_shares(_cfg(loss_convention="gatys", **base), content_rgb, style_rgb, model)
    portable = style_layer_shares(_cfg(loss_convention="portable", **base), content_rgb, style_rgb, model)
    assert sum(portable.values()) == pytest.approx(1.0) and sum(gatys.values()) == pytest.approx(1.0)
    assert list(portable) == list(_cfg().style_layers)
    assert max(portable.values()) < 0.6  # random weights: no layer takes over


def test_a_style_image_and_a_resized_copy_give_close_target_grams(random_model):
    # Each Gram matrix is normalised by its own image's positions, so the target does not
    # scale with the style image's pixel count (the study's formula scaled it by 4x here).
    import tensorflow as tf

    from engine.backbones import get_backbone
    from engine.images import resize_longest
    from engine.losses import gram_matrix
    from engine.transfer import FeatureExtractor

    yy, xx = np.mgrid[0:128, 0:128] / 128
    smooth = np.stack([255 * xx, 255 * yy, 127 + 100 * np.sin(6 * xx + 4 * yy)], -1).astype(np.uint8)
    vgg = get_backbone("vgg16")
    extractor = FeatureExtractor(random_model("vgg16"), vgg.content_layer, vgg.style_layers)
    grams = []
    for size in (64, 128):
        image = vgg.preprocess(resize_longest(smooth, size))[None]
        grams.append([gram_matrix(f).numpy() for f in extractor(tf.constant(image))[1]])
    for small, large in zip(*grams, strict=True):
        assert np.linalg.norm(small - large) < 0.5 * np.linalg.norm(large)


def test_on_start_gets_the_initial_image_once_when_snapshots_are_asked_for(content_rgb, style_rgb, random_model):
    model = random_model("vgg16")
    starts = []
    cfg = _cfg(init="content", iterations=4, scales=2, coarse_iterations=2, size=64)
    run_transfer(cfg, content_rgb, style_rgb, model=model, on_start=starts.append)
    assert len(starts) == 1 and starts[0].dtype == np.uint8
    first_scale = starts[0].shape
    assert max(first_scale[:2]) < 64  # the coarse scale's start, before any step
    # init="content": the initial image is the photo at that size (up to rounding)
    from engine.images import resize_to

    assert np.abs(starts[0].astype(int) - resize_to(content_rgb, first_scale[:2]).astype(int)).mean() < 2
    run_transfer(_cfg(iterations=2, snapshot_every=0), content_rgb, style_rgb, model=model, on_start=starts.append)
    assert len(starts) == 1  # no snapshots asked for: no step 0 either


def test_luminance_transfer_keeps_the_photos_chrominance(content_rgb, style_rgb, random_model):
    """Issue 14: `preserve_colors=luminance` leaves the output's chrominance (YIQ I, Q)
    the photo's; its snapshots are shown in colour too."""
    from engine import colors
    from engine.images import resize_to

    events = []
    cfg = _cfg(preserve_colors="luminance", init="content", iterations=6, snapshot_every=3)
    result = run_transfer(cfg, content_rgb, style_rgb, events.append, model=random_model("vgg16"))
    photo = colors.to_yiq(resize_to(content_rgb, result.image.shape[:2]))
    out = colors.to_yiq(result.image)
    assert np.abs(out[..., 1:] - photo[..., 1:]).mean() < 2.0  # uint8 rounding and clipping only
    snap = next(e.image for e in events if e.image is not None)
    assert not (snap[..., 0] == snap[..., 1]).all()  # not the grey image the network saw


def test_histogram_mode_runs_and_changes_what_the_network_sees(content_rgb, style_rgb, random_model):
    model = random_model("vgg16")
    plain = run_transfer(_cfg(iterations=3, init="content"), content_rgb, style_rgb, model=model)
    matched = run_transfer(
        _cfg(iterations=3, init="content", preserve_colors="histogram"), content_rgb, style_rgb, model=model
    )
    assert matched.image.shape == plain.image.shape and matched.style_loss != plain.style_loss

"""Several style images, blend weights, masks and style scale (engine.styles and the
masked/blended style terms of engine.transfer, engine.losses)."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from engine.config import TransferConfig, validate
from engine.errors import ConfigError, ImageError
from engine.losses import CONVENTIONS, gram_matrix, masked_gram
from engine.styles import mask_array, resolve_styles, style_shape
from engine.transfer import FeatureExtractor, StyleTargets, prepare_images, run_transfer, style_targets


def _cfg(**kw):
    base = dict(iterations=6, size=48, weights="none", snapshot_every=0, learning_rate=5.0)
    return validate(TransferConfig(**{**base, **kw}))


@pytest.fixture(scope="module")
def extractor(random_model):
    from engine.backbones import get_backbone

    vgg = get_backbone("vgg16")
    return FeatureExtractor(random_model("vgg16"), vgg.content_layer, vgg.style_layers)


def test_two_identical_styles_at_half_weight_give_the_one_style_target(extractor, style_rgb):
    one = style_targets(extractor, _cfg(), [style_rgb], 48)
    two = style_targets(extractor, _cfg(style_blend_weights=(0.5, 0.5)), [style_rgb, style_rgb], 48)
    for a, b in zip(one.blended(), two.blended(), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_blend_is_the_weighted_mean_of_the_paintings_grams(extractor, style_rgb, content_rgb):
    a = style_targets(extractor, _cfg(), [style_rgb], 48).grams[0]
    b = style_targets(extractor, _cfg(), [content_rgb], 48).grams[0]
    blend = style_targets(extractor, _cfg(style_blend_weights=(3.0, 1.0)), [style_rgb, content_rgb], 48).blended()
    for ga, gb, g in zip(a, b, blend, strict=True):
        np.testing.assert_allclose(g.numpy(), 0.75 * ga.numpy() + 0.25 * gb.numpy(), rtol=1e-5)


def test_a_run_with_two_identical_styles_matches_the_one_style_run(content_rgb, style_rgb, random_model):
    model = random_model("vgg16")
    one = run_transfer(_cfg(), content_rgb, style_rgb, model=model)
    two = run_transfer(_cfg(style_blend_weights=(0.5, 0.5)), content_rgb, [style_rgb, style_rgb], model=model)
    assert two.total_loss == pytest.approx(one.total_loss, rel=1e-4)


@pytest.mark.parametrize("convention", list(CONVENTIONS))
def test_a_mask_of_zeros_leaves_that_styles_term_at_zero(convention, extractor, content_rgb, style_rgb):
    image = tf.constant(prepare_images(_cfg(), _backbone(), content_rgb, style_rgb)[0])
    _, features = extractor(image)
    grams = [
        gram_matrix(f) for f in extractor(tf.constant(prepare_images(_cfg(), _backbone(), style_rgb, style_rgb)[1]))[1]
    ]
    zeros = tf.zeros((20, 30))
    terms = CONVENTIONS[convention].masked_layer_terms(features, [(grams, 1.0, zeros)])
    assert all(float(t) == 0.0 for t in terms)
    ones = tf.ones((7, 9))  # any resolution: resized to each feature map
    masked = CONVENTIONS[convention].masked_layer_terms(features, [(grams, 1.0, ones)])
    plain = CONVENTIONS[convention].layer_terms(features, grams)
    np.testing.assert_allclose([float(t) for t in masked], [float(t) for t in plain], rtol=1e-4)


def test_masked_gram_covers_the_region_only():
    features = tf.concat([tf.ones((1, 4, 2, 1)), 3 * tf.ones((1, 4, 2, 1))], axis=2)  # left 1, right 3
    mask = np.zeros((4, 4), np.float32)
    mask[:, 2:] = 1
    gram, coverage = masked_gram(features, tf.constant(mask))
    assert float(gram[0, 0, 0]) == pytest.approx(9.0) and float(coverage) == pytest.approx(0.5)


def test_masks_put_each_style_in_its_region(content_rgb, style_rgb, random_model):
    left = np.zeros((10, 10), np.uint8)
    left[:, :5] = 255
    cfg = _cfg(style_blend_weights=(0.5, 0.5))
    result = run_transfer(
        cfg, content_rgb, [style_rgb, content_rgb], model=random_model("vgg16"), masks=[left, 255 - left]
    )
    assert np.isfinite(result.total_loss) and result.image.shape == (36, 48, 3)


def test_style_scale_sets_the_paintings_size(content_rgb, style_rgb):
    assert style_shape(_cfg(style_scale=2.0), (40, 80)) == (48, 96)
    assert style_shape(_cfg(style_scale=0.5, size=128), (40, 80)) == (32, 64)
    assert style_shape(_cfg(), (40, 80)) == (24, 48) or style_shape(_cfg(), (40, 80)) == (32, 48)  # floor 32
    _, style = prepare_images(_cfg(style_scale=2.0, size=64), _backbone(), content_rgb, style_rgb)
    assert max(style.shape[1:3]) == 128


@pytest.mark.parametrize(
    ("kw", "count", "masks", "message"),
    [
        ({"style_blend_weights": (0.5, 0.5, 0.0)}, 2, 0, "3 style blend weights given for 2"),
        ({"style_blend_weights": (0.0, 0.0)}, 2, 0, "all zero"),
        ({}, 2, 1, "1 style mask"),
        ({}, 0, 0, "at least one style"),
    ],
)
def test_resolve_styles_refuses_what_does_not_match(kw, count, masks, message):
    with pytest.raises(ConfigError, match=message):
        resolve_styles(_cfg(**kw), count, masks)


def test_negative_blend_weights_are_refused():
    with pytest.raises(ConfigError, match="style blend weights"):
        validate(TransferConfig(weights="none", style_blend_weights=(0.5, -0.5)))
    bad = dataclasses.replace(_cfg(), style_blend_weights=(0.5, -0.5))
    with pytest.raises(ConfigError, match=">= 0"):
        resolve_styles(bad, 2)


def test_style_scale_out_of_range_is_refused():
    with pytest.raises(ConfigError, match="style scale must be between 0.5 and 2"):
        validate(TransferConfig(weights="none", style_scale=3.0))


def test_resolve_fills_equal_weights_and_leaves_one_painting_unset():
    assert resolve_styles(_cfg(), 4).style_blend_weights == (0.25,) * 4
    # As every run before blending stored it: Compare sees no difference, study keys hold.
    assert resolve_styles(_cfg(style_blend_weights=(2.0,)), 1).style_blend_weights is None


def test_mask_array_reads_grey_and_colour_and_refuses_non_images():
    assert mask_array(np.full((3, 4), 255, np.uint8)).max() == 1.0
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[..., 0] = 255
    assert mask_array(rgb)[0, 0] == pytest.approx(1 / 3)
    with pytest.raises(ImageError, match="mask"):
        mask_array(np.zeros(5))
    with pytest.raises(ImageError, match="mask"):
        mask_array(np.array([["a", "b"]]))


def test_wrong_mask_count_fails_before_any_work(content_rgb, style_rgb):
    with pytest.raises(ConfigError, match="mask"):
        run_transfer(_cfg(), content_rgb, [style_rgb, style_rgb], masks=[np.ones((4, 4))])


def test_luminance_with_two_styles_keeps_the_photos_chrominance(content_rgb, style_rgb, random_model):
    from engine.colors import to_yiq

    cfg = _cfg(preserve_colors="luminance")
    result = run_transfer(cfg, content_rgb, [style_rgb, style_rgb[::-1]], model=random_model("vgg16"))
    from engine.images import resize_to

    out, photo = to_yiq(result.image), to_yiq(resize_to(content_rgb, result.image.shape[:2]))
    assert np.abs(out[..., 1:] - photo[..., 1:]).mean() < 2.0  # up to rounding and clipping


def _backbone():
    from engine.backbones import get_backbone

    return get_backbone("vgg16")


def test_style_targets_is_frozen_data(extractor, style_rgb):
    targets = style_targets(extractor, _cfg(), [style_rgb], 48)
    assert isinstance(targets, StyleTargets) and targets.weights == (1.0,)

"""Colour modes (keeping the photo's colours): pure NumPy checks on small images."""

import numpy as np
import pytest

from engine import colors


def _rng_image(seed, shape=(24, 32), tint=(1.0, 1.0, 1.0)):
    rng = np.random.default_rng(seed)
    return np.clip(rng.uniform(0, 255, (*shape, 3)) * np.array(tint), 0, 255).astype(np.uint8)


def test_yiq_round_trip_is_exact_to_rounding():
    rgb = _rng_image(0)
    assert np.abs(colors.from_yiq(colors.to_yiq(rgb)).astype(int) - rgb).max() <= 1


def test_histogram_matching_gives_the_style_the_photos_mean_and_covariance():
    photo, painting = _rng_image(1, tint=(1.0, 0.6, 0.3)), _rng_image(2, tint=(0.2, 0.5, 1.0))
    out = colors.match_histogram(painting, photo).reshape(-1, 3).astype(float)
    ref = photo.reshape(-1, 3).astype(float)
    assert np.allclose(out.mean(0), ref.mean(0), atol=1.5)
    assert np.allclose(np.cov(out, rowvar=False), np.cov(ref, rowvar=False), rtol=0.05, atol=15)


def test_luminance_inputs_are_grey_with_the_photos_luminance_statistics():
    photo, painting = _rng_image(3, tint=(1.0, 0.8, 0.5)), _rng_image(4, (40, 20))
    grey_photo, grey_painting = colors.luminance_inputs(photo, painting)
    for img in (grey_photo, grey_painting):
        assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
    y_photo = colors.to_yiq(photo)[..., 0]
    assert grey_painting[..., 0].mean() == pytest.approx(y_photo.mean(), abs=1.0)
    assert grey_painting[..., 0].std() == pytest.approx(y_photo.std(), rel=0.03)


def test_luminance_recombination_keeps_the_photos_chrominance_and_the_outputs_luminance():
    """The issue's check: a luminance transfer leaves the output's chrominance equal to
    the photo's (up to uint8 rounding and clipping)."""
    photo = _rng_image(5, tint=(0.7, 0.6, 0.5))  # mid-range: no clipping in RGB
    output = colors.grey(np.random.default_rng(6).uniform(60, 190, photo.shape[:2]))
    combined = colors.recombine(output, photo)
    got, want = colors.to_yiq(combined), colors.to_yiq(photo)
    assert np.abs(got[..., 1:] - want[..., 1:]).mean() < 1.0
    assert np.abs(got[..., 0] - colors.to_yiq(output)[..., 0]).mean() < 1.0


def test_every_mode_keeps_shapes_and_none_changes_nothing():
    photo, painting = _rng_image(7), _rng_image(8, (16, 40))
    for name, mode in colors.COLOR_MODES.items():
        c, s = mode.prepare(photo, painting)
        assert c.shape == photo.shape and s.shape == painting.shape and c.dtype == s.dtype == np.uint8, name
        assert mode.finish(c, photo).shape == photo.shape
    none = colors.COLOR_MODES["none"]
    assert none.prepare(photo, painting)[1] is painting and none.finish(photo, painting) is photo


def test_flat_images_do_not_divide_by_zero():
    flat = np.full((8, 8, 3), 128, np.uint8)
    assert np.isfinite(colors.match_histogram(flat, _rng_image(9, (8, 8)))).all()
    assert np.isfinite(colors.luminance_inputs(flat, flat)[1]).all()

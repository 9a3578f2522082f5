"""Fair metrics as pure functions: SSIM, edges, colour and texture distances, grid
artefacts, neutral distances, loss dynamics, on synthetic images."""

import math

import numpy as np
import pytest

from engine import metrics as fair
from store.metrics import METRICS
from tests.conftest import synthetic_image


@pytest.fixture(scope="module")
def image():
    return synthetic_image(40, 48, seed=5)


def test_ssim_of_an_image_with_itself_is_1(image):
    assert fair.ssim(image, image) == pytest.approx(1.0, abs=1e-6)
    assert fair.ssim(image, synthetic_image(40, 48, seed=6)) < 0.9


def test_ssim_works_below_the_default_window():
    tiny = synthetic_image(8, 9, seed=1)
    assert fair.ssim(tiny, tiny) == pytest.approx(1.0, abs=1e-6)


def test_edge_correlation(image):
    assert fair.edge_correlation(image, image) == pytest.approx(1.0)
    assert abs(fair.edge_correlation(image, np.rot90(image, 2).copy())) < 0.9
    assert math.isnan(fair.edge_correlation(np.full_like(image, 90), image))


def test_lab_conversion_of_black_white_and_red():
    lab = fair.rgb_to_lab(np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0]], np.uint8))
    np.testing.assert_allclose(lab[0], [0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(lab[1], [100, 0, 0], atol=0.01)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)  # reference sRGB red


def test_colour_distance_is_0_for_the_same_image_and_grows_with_a_shift(image):
    assert fair.color_distance(image, image) == pytest.approx(0.0, abs=1e-5)
    shifted = [np.clip(image.astype(int) + [d, 0, -d], 0, 255).astype(np.uint8) for d in (10, 30, 60)]
    distances = [fair.color_distance(s, image) for s in shifted]
    assert 0 < distances[0] < distances[1] < distances[2]


def test_gaussian_w2_of_a_pure_mean_shift_is_the_shift():
    cov = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]])
    assert fair.gaussian_w2(np.zeros(3), cov, np.array([3.0, 4.0, 0.0]), cov) == pytest.approx(5.0, abs=1e-6)


def test_loss_dynamics():
    steps = np.arange(1, 101)
    totals = 100.0 * 0.9**steps + 1.0  # drops from 91 to ~1.0027
    out = fair.loss_dynamics(steps, totals)
    assert out[fair.LOSS_RATIO] == pytest.approx(totals[-1] / totals[0])
    drop = totals[0] - totals[-1]
    first = {share: steps[np.argmax(totals[0] - totals >= share * drop)] for share in (0.9, 0.99)}
    assert (out[fair.ITERS_90], out[fair.ITERS_99]) == (first[0.9], first[0.99])
    assert out[fair.ITERS_90] < out[fair.ITERS_99] < 100


def test_loss_dynamics_ends_at_the_output_loss_when_it_is_known():
    """One meaning of "output ÷ step 1" (issue 11 #1): the output image's loss, which
    is evaluated after the last update, not the last logged (pre-update) loss."""
    out = fair.loss_dynamics([1, 2, 3], [10.0, 6.0, 5.0], output_loss=4.0)
    assert out[fair.LOSS_RATIO] == pytest.approx(0.4)
    assert out[fair.ITERS_90] == 3  # 90 % of the drop 10 -> 4 is 4.6: not reached by step 2's 6.0
    assert fair.loss_dynamics([1, 2], [10.0, 5.0], output_loss=float("nan"))[fair.LOSS_RATIO] == 0.5


def test_loss_dynamics_of_a_rising_loss_has_no_iteration_counts():
    out = fair.loss_dynamics([1, 2, 3], [1.0, 2.0, 3.0])
    assert out[fair.LOSS_RATIO] == 3.0 and math.isnan(out[fair.ITERS_90]) and math.isnan(out[fair.ITERS_99])


def test_every_engine_metric_is_described_for_reports():
    assert set(fair.JUDGED + fair.UNJUDGED + fair.NEUTRAL) == set(METRICS)


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """A random texture: blurred Gaussian noise, contrast-stretched."""
    x = np.random.default_rng(seed).normal(0, 1, (h, w, 3)).astype(np.float32)
    x = fair._blur(fair._blur(x))
    return np.clip(128 + 40 * (x - x.mean()) / x.std(), 0, 255).astype(np.uint8)


def stripes(h: int, w: int, period: int = 8) -> np.ndarray:
    xx = np.mgrid[0:h, 0:w][1]
    return np.repeat((128 + 100 * np.sin(2 * np.pi * xx / period))[..., None], 3, axis=-1).astype(np.uint8)


def test_ssim_is_greyscale_and_1_for_identical_images(image):
    assert fair.ssim(image, image) == pytest.approx(1.0, abs=1e-6)
    # Swapping red and blue keeps most of the luma structure: a colour change is not a structure change.
    assert fair.ssim(image[..., ::-1].copy(), image) > fair.ssim(np.rot90(image, 2).copy(), image)


def test_texture_swd_of_a_shifted_crop_is_small_next_to_another_texture():
    big = texture(300, 300, seed=1)
    a, shifted = big[:256, :256], big[20:276, 30:286]
    assert fair.texture_swd(a, a) == pytest.approx(0.0, abs=1e-9)
    same = fair.texture_swd(a, shifted)
    other = fair.texture_swd(a, stripes(256, 256))
    assert same < other / 3
    assert fair.texture_swd(a, big[:200, :240]) < other / 3  # sizes may differ


def test_texture_swd_is_repeatable_and_nan_below_a_patch():
    a, b = texture(64, 64, seed=2), texture(64, 80, seed=3)
    assert fair.texture_swd(a, b) == fair.texture_swd(a, b)
    assert math.isnan(fair.texture_swd(a, b[:5, :5]))


def test_pyramid_levels_go_down_to_16_px():
    assert fair.pyramid_levels((512, 700)) == 6 and fair.pyramid_levels((48, 64)) == 2
    assert fair.pyramid_levels((8, 9)) == 1
    assert [lv.shape[:2] for lv in fair.laplacian_pyramid(texture(40, 33, 0), 2)] == [(40, 33), (20, 17)]


def test_grid_ratio_flags_a_stride_2_checkerboard():
    photo = synthetic_image(96, 128, seed=3)
    checker = (np.indices(photo.shape[:2]).sum(axis=0) % 2 * 2 - 1)[..., None] * 12
    overlaid = np.clip(photo.astype(int) + checker, 0, 255).astype(np.uint8)
    assert fair.grid_ratio(photo, photo) == pytest.approx(1.0)
    assert fair.grid_ratio(overlaid, photo) > 10
    assert 0 < fair.grid_energy(photo) < 0.05
    assert math.isnan(fair.grid_energy(np.full((16, 16, 3), 7, np.uint8)))  # no AC power at all


def test_colour_ratio_of_the_content_itself_is_1(image):
    style = synthetic_image(40, 40, seed=9)
    assert fair.color_ratio(image, image, style) == pytest.approx(1.0)
    assert fair.color_ratio(style, image, style) == pytest.approx(0.0, abs=1e-6)


def test_fidelity_metrics_of_the_unchanged_photo(image):
    style = synthetic_image(36, 44, seed=9)
    out = fair.fidelity_metrics(image, image, style)
    assert set(out) == set(fair.NETWORK_FREE)
    for name in (fair.SSIM, fair.EDGE_CORR, fair.COLOR_RATIO, fair.TEXTURE_RATIO, fair.GRID_RATIO):
        assert out[name] == pytest.approx(1.0, abs=1e-6), name
    assert out[fair.COLOR_W2] > 0 and out[fair.TEXTURE_SWD] > 0


def test_neutral_distances_are_relative_errors():
    rng = np.random.default_rng(0)
    feats = (rng.normal(size=(6, 5, 8)), [rng.normal(size=(6, 5, 4)), rng.normal(size=(3, 2, 8))])
    same = fair.neutral_distances(feats, feats, feats)
    assert same == {fair.NEUTRAL_STYLE: 0.0, fair.NEUTRAL_CONTENT: 0.0}
    scaled = (feats[0] * 2, [f * 2 for f in feats[1]])
    # twice the features: content error |2F - F| / |F| = 1, Gram error |4G - G| / |G| = 3
    out = fair.neutral_distances(scaled, feats, feats)
    assert out[fair.NEUTRAL_CONTENT] == pytest.approx(1.0) and out[fair.NEUTRAL_STYLE] == pytest.approx(3.0)

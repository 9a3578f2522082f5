"""Fair metrics as pure functions: SSIM, edges, colour statistics, loss dynamics."""

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


def test_loss_dynamics_of_a_rising_loss_has_no_iteration_counts():
    out = fair.loss_dynamics([1, 2, 3], [1.0, 2.0, 3.0])
    assert out[fair.LOSS_RATIO] == 3.0 and math.isnan(out[fair.ITERS_90]) and math.isnan(out[fair.ITERS_99])


def test_every_engine_metric_is_described_for_reports():
    assert set(fair.JUDGED + fair.UNJUDGED) == set(METRICS)

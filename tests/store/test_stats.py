"""Paired statistics for verdicts: t quantiles, intervals, three significant figures."""

import math

import pytest

from store.stats import NORMAL_975, paired_interval, sig3, t_quantile


@pytest.mark.parametrize("df, value", [(1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (30, 2.042)])
def test_t_quantiles_match_the_published_table(df, value):
    assert t_quantile(df) == value


def test_t_quantiles_beyond_the_table_are_conservative_then_normal():
    assert t_quantile(35) == t_quantile(30)  # the next lower tabulated df: a slightly wider interval
    assert t_quantile(60) == 2.000 and t_quantile(1000) == NORMAL_975
    with pytest.raises(ValueError):
        t_quantile(0)


def test_paired_interval_of_known_differences():
    iv = paired_interval([0.4, 0.3, 0.5])  # mean 0.4, sd 0.1, n 3: 0.4 +- 4.303 * 0.1 / sqrt(3)
    assert (iv.n, iv.mean) == (3, pytest.approx(0.4))
    assert iv.low == pytest.approx(0.4 - 0.248434, abs=1e-6) and iv.high == pytest.approx(0.648434, abs=1e-6)
    assert iv.clear


def test_an_interval_that_includes_0_is_not_clear():
    iv = paired_interval([0.1, -0.1, 0.05, float("nan")])  # the NaN is dropped
    assert iv.n == 3 and iv.low < 0 < iv.high and not iv.clear


def test_one_pair_has_no_interval_and_none_has_no_result():
    iv = paired_interval([0.2])
    assert iv.n == 1 and math.isnan(iv.low) and math.isnan(iv.high) and not iv.clear
    assert paired_interval([]) is None and paired_interval([float("inf")]) is None


@pytest.mark.parametrize(
    "value, text",
    [
        (1234.5, "1230"),
        (0.012345, "0.0123"),
        (2.5e-7, "2.5e-07"),
        (3.0, "3"),
        (-0.6484, "-0.648"),
        (1.23e7, "1.23e+07"),
    ],
)
def test_three_significant_figures(value, text):
    assert sig3(value) == text


def test_three_significant_figures_of_missing_values():
    assert sig3(float("nan")) == "n/a" and sig3(0.0) == "0"

"""Paired statistics for verdicts, as pure functions (no storage, no UI, no SciPy).

A verdict compares two producers on the same (content, style, seed) cells: the paired
effects are differences (A - B) or log ratios (log A/B). Their mean and a 95 % Student t
interval say how large the effect is and how sure we can be of its sign; a verdict calls
a winner only when the interval excludes no difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Two-sided 95 % quantiles of Student's t, t(0.975; df), from the NIST/SEMATECH
# e-Handbook of Statistical Methods, section 1.3.6.7.2 ("Critical values of the Student's
# t distribution"), to 3 decimals. Between tabulated df beyond 30 the next *lower* df is
# used, which widens the interval slightly (conservative); beyond 120 the normal value.
# fmt: off
T_975: dict[int, float] = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
    11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086,
    21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042,
    40: 2.021, 60: 2.000, 120: 1.980,
}
# fmt: on
NORMAL_975 = 1.960


def t_quantile(df: int) -> float:
    """t(0.975; df) for a two-sided 95 % interval; df >= 1."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df > max(T_975):
        return NORMAL_975
    return T_975[max(k for k in T_975 if k <= df)]


@dataclass(frozen=True)
class Interval:
    """Mean of n paired effects with its 95 % interval (NaN bounds when n = 1)."""

    n: int
    mean: float
    low: float
    high: float

    @property
    def clear(self) -> bool:
        """True when the interval excludes 0 (no difference): a winner can be named."""
        return self.n >= 2 and (self.low > 0 or self.high < 0)


def paired_interval(effects: Sequence[float]) -> Interval | None:
    """Mean and 95 % t interval of paired effects (finite ones only); None if none.

    mean +- t(0.975; n-1) * s / sqrt(n), s the sample std: the usual interval for a mean
    difference of paired samples, exact for normal effects and close otherwise."""
    d = np.asarray(effects, np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return None
    mean = float(d.mean())
    if d.size == 1:
        return Interval(1, mean, math.nan, math.nan)
    half = t_quantile(d.size - 1) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return Interval(int(d.size), mean, mean - half, mean + half)


def sig3(value: float) -> str:
    """A number to three significant figures, without an exponent for everyday sizes:
    1234.5 -> '1230', 0.012345 -> '0.0123', 2.5e-07 -> '2.5e-07'; NaN -> 'n/a'."""
    if value is None or not math.isfinite(value):
        return "n/a"
    rounded = float(f"{value:.3g}")
    if rounded == 0:
        return "0"
    if 1e-4 <= abs(rounded) < 1e6:
        return np.format_float_positional(rounded, trim="-")
    return f"{rounded:.3g}"

"""The Beta distribution's CDF and quantiles, without scipy, for the credible intervals in pool snapshots.

The CDF is the regularized incomplete beta function I_x(a, b), evaluated with its continued fraction (modified
Lentz), on whichever side of the mean the fraction converges fast, using I_x(a, b) = 1 - I_{1-x}(b, a) for the
other. Quantiles invert the CDF by bisection: it is monotone, so 60 halvings give ~1e-18 in x, which is plenty
for a dashboard and costs nothing next to a store round trip.
"""

from __future__ import annotations

import math

_TINY = 1e-300
_EPS = 1e-14
_MAX_TERMS = 300


def _continued_fraction(a: float, b: float, x: float) -> float:
    """1 / (1 + d1 / (1 + d2 / (1 + ...))) with the standard d_m of I_x(a, b)."""
    f = _TINY
    c = _TINY
    d = 0.0
    for j in range(1, 2 * _MAX_TERMS + 2):
        if j == 1:
            numerator = 1.0
        else:
            k = j - 1  # the k-th coefficient d_k
            m = k // 2
            if k % 2 == 1:
                numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            else:
                numerator = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 + numerator * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + numerator / c
        if abs(c) < _TINY:
            c = _TINY
        delta = c * d
        f *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return f


def cdf(x: float, a: float, b: float) -> float:
    """P(X <= x) for X ~ Beta(a, b), a, b > 0."""
    if a <= 0 or b <= 0:
        raise ValueError("Beta parameters must be positive")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return min(1.0, front * _continued_fraction(a, b, x) / a)
    return max(0.0, 1.0 - front * _continued_fraction(b, a, 1.0 - x) / b)


def ppf(q: float, a: float, b: float) -> float:
    """The q-quantile of Beta(a, b): the x with cdf(x) = q, found by bisection."""
    if not 0.0 <= q <= 1.0:
        raise ValueError("q must be in [0, 1]")
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if cdf(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def interval(a: float, b: float, mass: float = 0.9) -> tuple[float, float]:
    """The central credible interval holding `mass` of Beta(a, b)."""
    tail = (1.0 - mass) / 2.0
    return ppf(tail, a, b), ppf(1.0 - tail, a, b)

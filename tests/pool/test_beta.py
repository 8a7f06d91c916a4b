"""Beta CDF and quantiles against closed forms."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_server.pool import beta


@pytest.mark.parametrize("x", [0.01, 0.2, 0.5, 0.77, 0.99])
def test_cdf_matches_closed_forms(x: float) -> None:
    assert beta.cdf(x, 1, 1) == pytest.approx(x, abs=1e-12)
    assert beta.cdf(x, 2, 2) == pytest.approx(3 * x**2 - 2 * x**3, abs=1e-12)
    assert beta.cdf(x, 5, 1) == pytest.approx(x**5, abs=1e-12)
    assert beta.cdf(x, 1, 7) == pytest.approx(1 - (1 - x) ** 7, abs=1e-12)
    assert beta.cdf(x, 0.5, 0.5) == pytest.approx(2 / math.pi * math.asin(math.sqrt(x)), abs=1e-10)


@given(
    st.floats(0.001, 0.999),
    st.floats(0.1, 500.0),
    st.floats(0.1, 500.0),
)
def test_cdf_symmetry_and_ppf_inverse(x: float, a: float, b: float) -> None:
    assert beta.cdf(x, a, b) == pytest.approx(1 - beta.cdf(1 - x, b, a), abs=1e-9)
    q = beta.cdf(x, a, b)
    if 1e-6 < q < 1 - 1e-6:
        assert beta.cdf(beta.ppf(q, a, b), a, b) == pytest.approx(q, abs=1e-7)


def test_interval_is_central_and_narrows_with_evidence() -> None:
    low, high = beta.interval(1, 1)
    assert (low, high) == pytest.approx((0.05, 0.95), abs=1e-9)
    wide = beta.interval(10, 10)
    narrow = beta.interval(100, 100)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        beta.cdf(0.5, 0, 1)
    with pytest.raises(ValueError):
        beta.ppf(1.5, 1, 1)

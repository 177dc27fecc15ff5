"""Accuracy-robustness trade-off metrics (Devaguptapu et al., arXiv 2007.08428, section 3) and intervals.

HRS and PP-HRS take accuracies in whatever unit they are given (fractions or percentages): both are
homogeneous of degree one in the accuracies, so the result is in the same unit.
"""

from __future__ import annotations

from scipy.stats import binomtest


def hrs(clean: float, robust: float, beta: float = 1.0) -> float:
    """Harmonic Robustness Score HRS_beta = (beta^2 + 1) C A / (beta^2 C + A) (equations 1 and 2).

    ``beta`` weighs adversarial accuracy over clean accuracy; beta = 1 is the plain harmonic mean.
    """
    denominator = beta**2 * clean + robust
    return 0.0 if denominator == 0 else (beta**2 + 1) * clean * robust / denominator


def pp_hrs(hrs_value: float, p_baseline: int | float, p_model: int | float) -> float:
    """Per-parameter HRS = HRS * p_baseline / p_model (equation 3, with f(p) = p).

    ``p_baseline`` is the parameter count of the family's baseline (its smallest member).
    """
    if p_model <= 0 or p_baseline <= 0:
        raise ValueError("parameter counts must be positive")
    return hrs_value * p_baseline / p_model


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (scipy's): the uncertainty of an accuracy measured on
    n points.

    Wilson rather than the normal approximation because robust accuracies near 0 or 1 on small subsets are
    common, where the normal interval leaves [0, 1].
    """
    if n == 0:
        return (0.0, 1.0)
    interval = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(interval.low), float(interval.high))

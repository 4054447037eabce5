"""Confidence intervals for gaps that are a maximum (or minimum) over groups, e.g. max − min accuracy.

A gap such as the equalized-odds difference is ``θ = max_j f_j`` over a family of smooth
statistics ``f_j`` (here: the difference of a rate between two groups, for every ordered pair of
groups, class and rate). The plain percentile bootstrap of ``θ̂`` is biased upward (a maximum of
noisy differences only grows under resampling), so its interval can lie entirely above the estimate,
and with no true gap it never covers 0.

We instead bound every member of the family at once, with the studentized max-|t| bootstrap
(simultaneous bands; Romano & Wolf 2005, "Exact and approximate stepdown methods for multiple
hypothesis testing", JASA; Chernozhukov, Chetverikov & Kato 2013, Annals of Statistics), as
Cherian & Candès (2023, "Statistical inference for fairness auditing") do for group disparities:

    c = quantile_{1-α}  max_j |f*_j − f̂_j| / s_j        (s_j: bootstrap standard deviation of f*_j)

Every ``f_j`` then lies in ``f̂_j ± c·s_j`` with probability ≈ 1 − α, and since a maximum is monotone,
``θ ∈ [max_j (f̂_j − c·s_j), max_j (f̂_j + c·s_j)]``. The interval always contains ``θ̂`` (each band
contains its ``f̂_j``); with no true gap it covers 0 at the nominal rate, because ``θ̂`` itself is then
``max_j |f̂_j − f_j|``, the very quantity whose quantile ``c`` is.

A band for members that cannot be the maximum only widens the interval, so a first step at a small
level ``β = α/10`` keeps the members whose upper band reaches the lower bound, and the interval is
recomputed at level ``α − β`` on those alone (the two-step moment selection of Romano, Shaikh & Wolf
2014, "A practical two-step method for testing moment inequalities", Econometrica). Minima are the
same with the signs flipped.
"""

from __future__ import annotations

import warnings

import numpy as np

FIRST_STEP_SHARE = 0.1  # β = α · FIRST_STEP_SHARE for the moment-selection step


def extremum_interval(point, boot, level: float = 0.95, kind: str = "max") -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous-bootstrap interval of ``θ = max_j f_j`` (or ``min_j f_j``) along the last axis.

    Args:
        point: (..., J) the family's estimates ``f̂_j``; NaN members are left out.
        boot: (B, ..., J) the same statistics on B bootstrap resamples; NaN entries (a group that
            lost every sample of a class in that resample) are left out of that resample.
        level: coverage, e.g. 0.95.
        kind: ``"max"`` or ``"min"``.

    Returns:
        (low, high), each of shape (...); NaN where every member is NaN or there are no resamples.
    """
    if kind not in ("max", "min"):
        raise ValueError(f"`kind` must be 'max' or 'min'; got {kind!r}.")
    sign = 1.0 if kind == "max" else -1.0
    point = sign * np.asarray(point, np.float64)
    boot = sign * np.asarray(boot, np.float64)
    if boot.shape[1:] != point.shape:
        raise ValueError(f"`boot` must have shape (B, *{point.shape}); got {boot.shape}.")
    alpha = 1.0 - level
    beta = alpha * FIRST_STEP_SHARE
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN members and resamples are NaN by design
        scale = np.nanstd(boot, axis=0)
        t = np.abs(boot - point) / scale
        t = np.where(scale > 0, t, np.where(np.isnan(boot) | np.isnan(scale), np.nan, 0.0))
        valid = ~np.isnan(point)
        first = _critical_value(t, valid, 1.0 - beta)
        lower_first = np.nanmax(np.where(valid, point - first[..., None] * scale, np.nan), axis=-1)
        candidates = valid & (point + first[..., None] * np.nan_to_num(scale) >= lower_first[..., None])
        second = _critical_value(t, candidates, 1.0 - (alpha - beta))
        band = second[..., None] * np.nan_to_num(scale)
        low = np.nanmax(np.where(candidates, point - band, np.nan), axis=-1)
        high = np.nanmax(np.where(candidates, point + band, np.nan), axis=-1)
    if sign < 0:
        low, high = -high, -low
    return low, high


def _critical_value(t, members, quantile: float) -> np.ndarray:
    """The `quantile` of ``max_j t_j`` over the resamples, the max taken over `members` only."""
    chosen = np.where(members, t, np.nan)
    peak = np.nanmax(np.where(np.isnan(chosen), -np.inf, chosen), axis=-1)  # (B, ...)
    peak = np.where(np.isinf(peak), np.nan, peak)
    return np.nanquantile(peak, quantile, axis=0)


def pairwise_differences(values, include, axis: int = -1) -> np.ndarray:
    """``v_g − v_h`` for every ordered pair of included groups g ≠ h.

    Args:
        values: per-group values with the groups on `axis`, e.g. (..., G) accuracies or
            (..., G, K) per-class rates (``axis=-2``).
        include: (G,) bool, the groups compared.
        axis: the group axis of `values`.

    Returns:
        The differences with the group axis replaced by a last axis of the P = n·(n−1) pairs of the
        n included groups: (..., P) or (..., K, P).
    """
    first, second = _ordered_pairs(include)
    values = np.moveaxis(np.asarray(values, np.float64), axis, -1)
    return values[..., first] - values[..., second]


def pairwise_ratios(values, include) -> np.ndarray:
    """``v_g / v_h`` for every ordered pair of included groups (their minimum is min / max).

    Args:
        values: (..., G) per-group values.
        include: (G,) bool.

    Returns:
        (..., P) ratios; NaN where ``v_h`` is 0.
    """
    first, second = _ordered_pairs(include)
    values = np.asarray(values, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = values[..., first] / values[..., second]
    return np.where(np.isfinite(ratio), ratio, np.nan)


def _ordered_pairs(include):
    kept = np.flatnonzero(np.asarray(include, bool))
    first, second = np.meshgrid(kept, kept, indexing="ij")
    off_diagonal = first != second
    return first[off_diagonal], second[off_diagonal]

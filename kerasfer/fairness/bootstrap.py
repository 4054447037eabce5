"""Resampling for the audit: bootstrap CIs and permutation tests, as counts over cell codes.

Both work on integer codes (one cell per sample, e.g. `confusion_codes`) so a whole batch of
resamples is counted with a single `np.bincount`; memory stays bounded by processing the
resamples in chunks.
"""

from __future__ import annotations

import warnings

import numpy as np

_CHUNK_ELEMENTS = 4_000_000  # resample × sample entries held at once


def bootstrap_counts(codes, num_codes: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """Cell counts of `n_boot` bootstrap resamples (samples drawn with replacement, N of N).

    Args:
        codes: (N,) cell code per sample in 0..num_codes-1.
        num_codes: number of cells.
        n_boot: number of resamples.
        seed: seed of the resampling.

    Returns:
        int64 array (n_boot, num_codes).
    """
    codes = np.asarray(codes, np.int64)
    rng = np.random.default_rng(seed)
    return _count_rows(lambda rows: codes[rng.integers(0, len(codes), (rows, len(codes)))], n_boot, len(codes),
                       num_codes)


def permutation_counts(groups, rest_codes, num_rest: int, num_groups: int, n_perm: int, seed: int = 0) -> np.ndarray:
    """Cell counts after shuffling the group labels `n_perm` times (the null of "no group effect").

    The cell of a sample is ``group · num_rest + rest``; only `groups` is permuted, so each
    permutation keeps every sample's truth and prediction and the group sizes.

    Args:
        groups: (N,) group index per sample.
        rest_codes: (N,) the rest of each sample's cell (e.g. ``true · K + pred``).
        num_rest: number of distinct rest codes.
        num_groups: number of groups.
        n_perm: number of permutations.
        seed: seed of the permutations.

    Returns:
        int64 array (n_perm, num_groups · num_rest).
    """
    groups, rest = np.asarray(groups, np.int64), np.asarray(rest_codes, np.int64)
    rng = np.random.default_rng(seed)

    def draw(rows):
        return rng.permuted(np.broadcast_to(groups, (rows, len(groups))), axis=1) * num_rest + rest

    return _count_rows(draw, n_perm, len(groups), num_groups * num_rest)


def bootstrap_weights(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """How often each sample is drawn in each bootstrap resample (for weighted statistics, e.g. AUC).

    Args:
        n: number of samples.
        n_boot: number of resamples.
        seed: seed of the resampling.

    Returns:
        float64 array (n_boot, n).
    """
    return bootstrap_counts(np.arange(n), n, n_boot, seed).astype(np.float64)


def percentile_interval(samples, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0, ignoring resamples where the statistic is NaN.

    Args:
        samples: (B, ...) statistic per resample.
        level: coverage, e.g. 0.95.

    Returns:
        (low, high), each of shape (...); NaN where no resample gave a value.
    """
    samples = np.asarray(samples, np.float64)
    tail = (1 - level) / 2
    with warnings.catch_warnings():  # an all-NaN column (e.g. an absent class) is NaN, as documented
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(samples, [tail, 1 - tail], axis=0)
    return low, high


def permutation_p_value(observed, null) -> np.ndarray:
    """One-sided permutation p-value ``(1 + #{null ≥ observed}) / (1 + #null)`` along axis 0.

    The +1 counts the observed labelling as one of the permutations, so p is never 0.

    Args:
        observed: the statistic on the real group labels, shape (...).
        null: (P, ...) the statistic on permuted labels.

    Returns:
        p-values (...); NaN where `observed` is NaN.
    """
    observed, null = np.asarray(observed, np.float64), np.asarray(null, np.float64)
    valid = ~np.isnan(null)
    # tolerance: a permutation that reproduces the observed gap must count as ≥ despite round-off
    # (the AU null is computed in float32)
    exceed = (valid & (null >= observed - 1e-6)).sum(axis=0)
    p = (1 + exceed) / (1 + valid.sum(axis=0))
    return np.where(np.isnan(observed), np.nan, p)


def _count_rows(draw, rows: int, n: int, num_codes: int) -> np.ndarray:
    """Stack ``bincount`` of `rows` code arrays produced by `draw(chunk_rows) -> (chunk_rows, n)`."""
    out = np.zeros((rows, num_codes), np.int64)
    step = max(1, _CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        codes = draw(stop - start) + (np.arange(stop - start)[:, None] * num_codes)
        out[start:stop] = np.bincount(codes.ravel(), minlength=(stop - start) * num_codes).reshape(-1, num_codes)
    return out

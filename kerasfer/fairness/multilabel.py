"""Per-group F1 and ROC AUC of a multi-label (Action Unit) model, for many resamples at once.

Each resample is a row of sample weights (bootstrap draw counts) and a row of group labels
(permuted or not), so the same code gives the point estimate (one row of ones), bootstrap CIs and
permutation nulls. AUC uses the weighted Mann–Whitney form (ties count one half), which equals
scikit-learn's `roc_auc_score(..., sample_weight=w)`; the tests check that.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

THRESHOLD = 0.5


def au_group_metrics(aus, probs, groups, num_groups: int, weights=None, *, chunk: int = 128) -> dict:
    """F1 (at probability 0.5) and AUC of every Action Unit in every group, per resample row.

    Args:
        aus: (N, A) true AU labels: 1 present, 0 absent, -1 unknown (left out for that AU).
        probs: (N, A) predicted probabilities.
        groups: (N,) or (R, N) group index per sample (one row per resample, e.g. permutations).
        num_groups: G.
        weights: optional (R, N) sample weights (bootstrap draw counts); default ones.
        chunk: resample rows processed at once (bounds memory).

    Returns:
        dict with ``f1``, ``auc`` (R, G, A) (NaN where a group lacks positives or negatives for
        AUC, or has no positive truth or prediction for F1) and ``count`` (R, G) (weighted samples).
    """
    aus, probs = np.asarray(aus), np.asarray(probs, np.float64)
    n, num_aus = aus.shape
    groups = np.atleast_2d(np.asarray(groups, np.int64))
    rows = groups.shape[0] if weights is None else np.asarray(weights).shape[0]
    groups = np.broadcast_to(groups, (rows, n))
    weights = np.ones((rows, n)) if weights is None else np.asarray(weights, np.float64)
    cells, positive, negative, starts = _au_cells(aus, probs)
    f1 = np.empty((rows, num_groups, num_aus))
    auc = np.empty((rows, num_groups, num_aus))
    count = np.empty((rows, num_groups))
    for lo in range(0, rows, chunk):
        hi = min(rows, lo + chunk)
        for g in range(num_groups):
            w = weights[lo:hi] * (groups[lo:hi] == g)
            count[lo:hi, g] = w.sum(axis=1)
            tp, fp, fn = np.split(w @ cells, 3, axis=1)  # (r, A) each
            with np.errstate(invalid="ignore", divide="ignore"):
                f1[lo:hi, g] = 2 * tp / (2 * tp + fp + fn)
            wt = np.ascontiguousarray(w.T)
            auc[lo:hi, g] = _auc_from_ranks(positive.T @ wt, negative.T @ wt, starts)
    return {"f1": f1, "auc": auc, "count": count}


def _au_cells(aus, probs):
    """Per-sample indicators for the weighted counts: TP/FP/FN columns and the rank one-hots.

    Returns:
        ``cells`` (N, 3A) with TP, FP, FN indicators per AU (unknown labels all zero);
        ``positive``, ``negative`` sparse (N, ΣU) marking each known sample's rank among AU a's
        U_a distinct scores, in AU blocks starting at ``starts`` (A,).
    """
    n, num_aus = aus.shape
    truth, predicted, known = (aus == 1), probs >= THRESHOLD, aus >= 0
    cells = np.concatenate([truth & predicted, known & ~truth & predicted, truth & ~predicted], axis=1)
    columns, starts, offset = [], [], 0
    for a in range(num_aus):
        distinct, position = np.unique(probs[:, a], return_inverse=True)
        starts.append(offset)
        columns.append(position.ravel() + offset)
        offset += len(distinct)
    columns = np.stack(columns, axis=1)  # (N, A)

    def onehot(mask):
        r, a = np.nonzero(mask)
        return sparse.csc_matrix((np.ones(len(r)), (r, columns[r, a])), shape=(n, offset))

    return cells.astype(np.float64), onehot(truth), onehot(known & ~truth), np.asarray(starts)


def _auc_from_ranks(positive, negative, starts):
    """Weighted Mann–Whitney AUC per AU block, from the (ΣU, r) positive / negative weight at each rank.

    Returns:
        (r, A) AUC.
    """
    running = np.cumsum(negative, axis=0)
    before_block = np.concatenate([np.zeros((1, negative.shape[1])), running[starts[1:] - 1]], axis=0)
    block = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(negative))))
    below = running - negative - before_block[block]  # negative weight strictly below, within the AU
    wins = np.add.reduceat(positive * (below + 0.5 * negative), starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (wins / (np.add.reduceat(positive, starts, axis=0) * np.add.reduceat(negative, starts, axis=0))).T


def weighted_auc(y_true, scores, weights) -> np.ndarray:
    """ROC AUC with per-row sample weights (the probability a positive outscores a negative).

    Args:
        y_true: (N,) 0/1 truth.
        scores: (N,) predicted scores.
        weights: (R, N) weights.

    Returns:
        (R,) AUC; NaN where a row has no positive or no negative weight.
    """
    _, positive, negative, starts = _au_cells(np.asarray(y_true)[:, None], np.asarray(scores, np.float64)[:, None])
    weights_t = np.ascontiguousarray(np.atleast_2d(np.asarray(weights, np.float64)).T)
    return _auc_from_ranks(positive.T @ weights_t, negative.T @ weights_t, starts)[:, 0]

"""Per-group F1 and ROC AUC of a multi-label (Action Unit) model, for many resamples at once.

A bootstrap resample is a row of sample weights (draw counts), so one weighted computation gives
the point estimate (a row of ones) and the CIs; permutations (shuffled group labels) take random
same-size subsets instead. AUC is the Mann–Whitney form (ties count one half), which equals
scikit-learn's `roc_auc_score(..., sample_weight=w)`; the tests check both paths against it.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

THRESHOLD = 0.5
MAX_ELEMENTS = 4_000_000  # entries of the largest temporary array (resamples × samples or ranks)


def au_group_metrics(aus, probs, groups, num_groups: int, weights=None, *, chunk: int = 256) -> dict:
    """F1 (at probability 0.5) and AUC of every Action Unit in every group, per row of sample weights.

    Args:
        aus: (N, A) true AU labels: 1 present, 0 absent, -1 unknown (left out for that AU).
        probs: (N, A) predicted probabilities.
        groups: (N,) group index per sample.
        num_groups: G.
        weights: optional (R, N) sample weights (bootstrap draw counts); default one row of ones.
        chunk: most weight rows processed at once (fewer for large groups, to bound memory).

    Returns:
        dict with ``f1``, ``auc`` (R, G, A) (NaN where a group lacks positives or negatives for
        AUC, or has no positive truth or prediction for F1) and ``count`` (R, G) (weighted samples).
    """
    aus, probs, groups = np.asarray(aus), np.asarray(probs, np.float64), np.asarray(groups, np.int64)
    weights = np.ones((1, len(aus))) if weights is None else np.asarray(weights, np.float64)
    rows, num_aus = len(weights), aus.shape[1]
    f1 = np.full((rows, num_groups, num_aus), np.nan)
    auc = np.full((rows, num_groups, num_aus), np.nan)
    count = np.zeros((rows, num_groups))
    for g in range(num_groups):
        members = np.flatnonzero(groups == g)  # each group on its own samples: cost ∝ N, not G·N
        if not members.size:
            continue
        cells, positive, negative, starts = _au_cells(aus[members], probs[members])
        step = max(1, min(chunk, MAX_ELEMENTS // positive.shape[1]))  # (ranks × rows) arrays stay bounded
        for lo in range(0, rows, step):
            w = weights[lo:lo + step, members]
            count[lo:lo + step, g] = w.sum(axis=1)
            tp, fp, fn = np.split(w @ cells, 3, axis=1)  # (r, A) each
            with np.errstate(invalid="ignore", divide="ignore"):
                f1[lo:lo + step, g] = 2 * tp / (2 * tp + fp + fn)
            wt = np.ascontiguousarray(w.T)
            auc[lo:lo + step, g] = _auc_from_ranks(positive.T @ wt, negative.T @ wt, starts)
    return {"f1": f1, "auc": auc, "count": count}


def au_permutation_metrics(aus, probs, groups, num_groups: int, n_perm: int, seed: int = 0, *,
                           chunk: int = 256) -> dict:
    """`au_group_metrics` under `n_perm` random shuffles of the group labels (the permutation null).

    A shuffle keeps the group sizes, so group g of a permutation is a random subset of N_g
    samples; its AUC comes from sorting that subset's scores (ties count one half).

    Args:
        aus: (N, A) AU labels (1/0/-1).
        probs: (N, A) probabilities.
        groups: (N,) group index per sample.
        num_groups: G.
        n_perm: number of permutations.
        seed: seed of the permutations.
        chunk: most permutations processed at once.

    Returns:
        dict with ``f1``, ``auc`` (n_perm, G, A) and ``count`` (n_perm, G).
    """
    aus, probs, groups = np.asarray(aus), np.asarray(probs, np.float64), np.asarray(groups, np.int64)
    num_aus = aus.shape[1]
    # float32 indicators and int32 ranks: exact for counts below 2**24, half the memory traffic
    positive, negative = (aus == 1).astype(np.float32), (aus == 0).astype(np.float32)
    predicted = (probs >= THRESHOLD).astype(np.float32)
    rank = np.stack([np.unique(probs[:, a], return_inverse=True)[1].ravel() for a in range(num_aus)],
                    axis=1).astype(np.int32)
    sizes = np.bincount(groups, minlength=num_groups)
    f1 = np.full((n_perm, num_groups, num_aus), np.nan)
    auc = np.full((n_perm, num_groups, num_aus), np.nan)
    rng = np.random.default_rng(seed)
    step = max(1, min(chunk, MAX_ELEMENTS // len(groups)))
    for lo in range(0, n_perm, step):
        hi = min(n_perm, lo + step)
        shuffled = rng.permuted(np.broadcast_to(groups, (hi - lo, len(groups))), axis=1)
        for g in np.flatnonzero(sizes):
            members = np.nonzero(shuffled == g)[1].reshape(hi - lo, sizes[g])  # every row holds N_g of them
            for a in range(num_aus):
                pos, neg = positive[members, a], negative[members, a]
                tp = (pos * predicted[members, a]).sum(axis=1)
                fp = (neg * predicted[members, a]).sum(axis=1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    f1[lo:hi, g, a] = 2 * tp / (2 * tp + fp + (pos.sum(axis=1) - tp))
                auc[lo:hi, g, a] = _auc_of_subsets(rank[members, a], pos, neg)
    return {"f1": f1, "auc": auc, "count": np.broadcast_to(sizes.astype(np.float64), (n_perm, num_groups))}


def _auc_of_subsets(rank, pos, neg):
    """Mann–Whitney AUC of each row of (R, m) score ranks with positive / negative indicators."""
    order = np.argsort(rank, axis=1, kind="stable")
    rank, pos, neg = (np.take_along_axis(x, order, axis=1) for x in (rank, pos, neg))
    m = rank.shape[1]
    columns = np.arange(m)
    starts_block = np.ones_like(rank, bool)
    starts_block[:, 1:] = rank[:, 1:] != rank[:, :-1]
    ends_block = np.ones_like(rank, bool)
    ends_block[:, :-1] = starts_block[:, 1:]
    first = np.maximum.accumulate(np.where(starts_block, columns, 0), axis=1)  # first index of each tie block
    last = np.flip(np.minimum.accumulate(np.flip(np.where(ends_block, columns, m - 1), 1), axis=1), 1)
    running = np.cumsum(neg, axis=1)
    below = np.take_along_axis(running - neg, first, axis=1)      # negatives strictly below the score
    tied = np.take_along_axis(running, last, axis=1) - below       # negatives with the same score
    wins = (pos * (below + 0.5 * tied)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return wins / (pos.sum(axis=1) * neg.sum(axis=1))


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
    ends = np.append(starts[1:], len(negative)) - 1
    before = np.concatenate([np.zeros((1, negative.shape[1])), running[ends[:-1]]], axis=0)  # (A, r)
    positives = np.add.reduceat(positive, starts, axis=0)
    # Σ pos·(negatives strictly below + ½ tied) = Σ pos·(running − ½ neg) − (negatives of earlier AUs)·Σ pos
    wins = np.add.reduceat(positive * (running - 0.5 * negative), starts, axis=0) - before * positives
    with np.errstate(invalid="ignore", divide="ignore"):
        return (wins / (positives * (running[ends] - before))).T


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

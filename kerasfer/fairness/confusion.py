"""Per-group metrics and fairness gaps from per-group confusion matrices, vectorised over resamples.

The audit needs every metric on thousands of bootstrap resamples and label permutations. Calling
scikit-learn or fairlearn once per resample, group and metric costs about 0.1 s per resample
(fairlearn `MetricFrame(n_boot=50)` with count, accuracy, macro-F1 and per-class TPR/FPR took
6.9 s on 2,100 samples and 3 groups on this project's 2-core machine), so 1,000 resamples of three
attributes would take minutes. Everything here is instead a function of the confusion matrices
``cm[..., group, true, pred]``, counted with one `np.bincount` per batch of resamples; the tests
check every value against scikit-learn and `kerasfer.fairness.gaps` (fairlearn).
"""

from __future__ import annotations

import numpy as np

GROUP_METRICS = ("accuracy", "macro_f1")
CLASS_METRICS = ("tpr", "fpr", "selection_rate")
GAP_METRICS = ("equalized_odds_difference", "demographic_parity_difference", "accuracy_difference",
               "fairness_ratio", "worst_group_accuracy")


def confusion_codes(y_true, y_pred, groups, num_classes: int) -> np.ndarray:
    """One integer per sample naming its (group, true, predicted) cell: ``(g·K + t)·K + p``.

    Args:
        y_true: (N,) true class indices in 0..K-1.
        y_pred: (N,) predicted class indices in 0..K-1.
        groups: (N,) group indices (known groups only).
        num_classes: K.

    Returns:
        int64 array (N,).
    """
    k = int(num_classes)
    return (np.asarray(groups, np.int64) * k + np.asarray(y_true, np.int64)) * k + np.asarray(y_pred, np.int64)


def group_confusion(y_true, y_pred, groups, num_groups: int, num_classes: int) -> np.ndarray:
    """Confusion matrix of every group: ``cm[g, t, p]`` = samples of group g with truth t predicted p.

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted class indices.
        groups: (N,) group indices in 0..G-1.
        num_groups: G.
        num_classes: K.

    Returns:
        int64 array (G, K, K).
    """
    codes = confusion_codes(y_true, y_pred, groups, num_classes)
    return np.bincount(codes, minlength=num_groups * num_classes ** 2).reshape(num_groups, num_classes, num_classes)


def group_metrics(cm) -> dict:
    """Per-group metrics of confusion matrices ``cm[..., G, K, K]`` (any leading resample axes).

    Args:
        cm: counts, shape (..., G, K, K).

    Returns:
        dict with ``count`` (..., G); ``accuracy``, ``macro_f1`` (..., G); ``tpr`` (recall),
        ``fpr``, ``selection_rate``, ``support`` (faces of the class) and ``negatives`` (faces of the
        other classes) (..., G, K). A rate with an empty denominator is NaN; macro-F1
        averages the classes that occur in the group's truth or predictions (scikit-learn's rule).
    """
    cm = np.asarray(cm, np.float64)
    count = cm.sum(axis=(-2, -1))
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(axis=-1)      # true class
    predicted = cm.sum(axis=-2)    # predicted class
    fp, fn = predicted - tp, support - tp
    negatives = count[..., None] - support
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = tp.sum(axis=-1) / count
        f1 = 2 * tp / (2 * tp + fp + fn)  # NaN for a class neither true nor predicted in the group
        macro_f1 = _nanmean(f1, axis=-1)
        tpr = tp / support
        fpr = fp / negatives
        selection = predicted / count[..., None]
    return {"count": count, "accuracy": accuracy, "macro_f1": macro_f1, "tpr": tpr, "fpr": fpr,
            "selection_rate": selection, "support": support, "negatives": negatives}


def gap_metrics(metrics: dict, include=None, min_cell: int = 0) -> dict:
    """Fairness gaps between groups from `group_metrics` output.

    Equalized-odds and demographic-parity differences are taken one class at a time (one-vs-rest,
    as fairlearn defines them for a binary task) and the maximum over classes is reported:
    fairlearn's multi-class calls raise or score class 1 only (see `kerasfer.fairness.gaps`).

    Args:
        metrics: the dict of `group_metrics` (arrays with leading resample axes allowed).
        include: optional boolean (G,) mask of the groups that take part (e.g. those above the
            minimum count); default every group with at least one sample.
        min_cell: a group's TPR of a class takes part only with at least this many faces of the
            class in the group, its FPR only with this many of the other classes (0: all). A rate
            of 3 faces is 0 or 1 by chance; `kerasfer compare` ranks on a small validation split
            with ``min_cell=10``.

    Returns:
        dict of arrays (...): ``equalized_odds_difference`` (max over classes of max(TPR range,
        FPR range)), ``demographic_parity_difference`` (max over classes of the selection-rate
        range), ``false_positive_rate_difference`` (max over classes of the FPR range: the
        "predictive equality" half of equalized odds), ``accuracy_difference`` (max − min group
        accuracy), ``fairness_ratio`` (min / max group accuracy, Xu et al. 2020) and
        ``worst_group_accuracy``. NaN with fewer than two groups.
    """
    count = metrics["count"]
    keep = count > 0
    if include is not None:
        keep = keep & np.asarray(include, bool)
    enough = keep.sum(axis=-1) >= 2

    def masked(values, per_class):
        mask = keep[..., None] if per_class else keep
        return np.where(mask, values, np.nan)

    accuracy = masked(metrics["accuracy"], False)
    tpr, fpr = metrics["tpr"], metrics["fpr"]
    if min_cell:
        tpr = np.where(metrics["support"] >= min_cell, tpr, np.nan)
        fpr = np.where(metrics["negatives"] >= min_cell, fpr, np.nan)
    tpr_range = _range(masked(tpr, True), axis=-2)
    fpr_range = _range(masked(fpr, True), axis=-2)
    eod_per_class = np.fmax(tpr_range, fpr_range)
    dpd_per_class = _range(masked(metrics["selection_rate"], True), axis=-2)
    worst = np.fmin.reduce(accuracy, axis=-1)
    best = np.fmax.reduce(accuracy, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = worst / best
    gaps = {
        "equalized_odds_difference": np.fmax.reduce(eod_per_class, axis=-1),
        "false_positive_rate_difference": np.fmax.reduce(fpr_range, axis=-1),
        "demographic_parity_difference": np.fmax.reduce(dpd_per_class, axis=-1),
        "accuracy_difference": best - worst,
        "fairness_ratio": ratio,
        "worst_group_accuracy": worst,
    }
    return {name: np.where(enough, value, np.nan) for name, value in gaps.items()}


def gap_families(metrics: dict, include) -> dict:
    """Each gap of `gap_metrics` as the extremum of a family of smooth statistics, for its CI.

    ``equalized_odds_difference`` is the maximum over (rate ∈ {TPR, FPR}, class, ordered group pair)
    of the rate difference; ``demographic_parity_difference`` and ``accuracy_difference`` the
    maximum of selection-rate and accuracy differences; ``fairness_ratio`` the minimum of accuracy
    ratios and ``worst_group_accuracy`` the minimum of the accuracies, each over the groups in
    `include` (`kerasfer.fairness.gap_intervals.extremum_interval` turns a family into a CI).

    Args:
        metrics: `group_metrics` output (leading resample axes allowed).
        include: (G,) bool, the groups compared (those with samples and above the minimum count).

    Returns:
        metric name -> (family values (..., J), ``"max"`` or ``"min"``); empty with fewer than two groups.
    """
    from kerasfer.fairness.gap_intervals import pairwise_differences, pairwise_ratios

    include = np.asarray(include, bool)
    if include.sum() < 2:
        return {}

    def flat(values):
        return values.reshape(*values.shape[:-2], -1)

    rates = [flat(pairwise_differences(metrics[key], include, axis=-2)) for key in ("tpr", "fpr")]
    accuracy = np.asarray(metrics["accuracy"], np.float64)
    return {
        "equalized_odds_difference": (np.concatenate(rates, axis=-1), "max"),
        "demographic_parity_difference": (flat(pairwise_differences(metrics["selection_rate"], include, axis=-2)),
                                          "max"),
        "accuracy_difference": (pairwise_differences(accuracy, include), "max"),
        "fairness_ratio": (pairwise_ratios(accuracy, include), "min"),
        "worst_group_accuracy": (accuracy[..., include], "min"),
    }


def _range(values, axis):
    """max − min ignoring NaN (NaN when every entry is NaN), without RuntimeWarnings."""
    return np.fmax.reduce(values, axis=axis) - np.fmin.reduce(values, axis=axis)


def _nanmean(values, axis):
    """Mean ignoring NaN; NaN (no warning) where every entry is NaN."""
    valid = ~np.isnan(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, values, 0.0).sum(axis=axis) / valid.sum(axis=axis)

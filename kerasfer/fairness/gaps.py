"""Fairness gaps for multi-class predictions: fairlearn's binary metrics, one emotion at a time.

fairlearn's `equalized_odds_difference` raises for more than two classes and
`demographic_parity_difference` silently scores class 1 only, so we binarize one class at a time
(one-vs-rest) and report the maximum over classes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference


def one_vs_rest_gaps(y_true, y_pred, groups, num_classes: int) -> pd.DataFrame:
    """Per-class equalized-odds and demographic-parity differences between groups.

    Args:
        y_true: (N,) true class indices.
        y_pred: (N,) predicted class indices.
        groups: (N,) group of each sample (names or indices; leave unknowns out beforehand).
        num_classes: number of classes.

    Returns:
        DataFrame indexed by class index with columns ``equalized_odds_difference`` (max of the
        TPR and FPR gaps between groups) and ``demographic_parity_difference`` (gap in
        selection rate); NaN for a class absent from `y_true`.
    """
    y_true, y_pred, groups = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    rows = []
    for c in range(num_classes):
        true_c, pred_c = (y_true == c).astype(int), (y_pred == c).astype(int)
        present = true_c.any() and (1 - true_c).any()
        rows.append({
            "equalized_odds_difference": float(equalized_odds_difference(true_c, pred_c, sensitive_features=groups))
            if present else np.nan,
            "demographic_parity_difference": float(
                demographic_parity_difference(true_c, pred_c, sensitive_features=groups)),
        })
    return pd.DataFrame(rows, index=pd.RangeIndex(num_classes, name="class"))


def equalized_odds_gap(y_true, y_pred, groups, num_classes: int) -> float:
    """Max over classes of the one-vs-rest equalized-odds difference (see `one_vs_rest_gaps`)."""
    return float(np.nanmax(one_vs_rest_gaps(y_true, y_pred, groups, num_classes)["equalized_odds_difference"]))


def demographic_parity_gap(y_true, y_pred, groups, num_classes: int) -> float:
    """Max over classes of the one-vs-rest demographic-parity difference."""
    return float(np.nanmax(one_vs_rest_gaps(y_true, y_pred, groups, num_classes)["demographic_parity_difference"]))

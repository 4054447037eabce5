"""Validation figures on labels that annotators got wrong in a group-dependent way, corrected by T_g.

When one group's faces get labelled with one emotion whatever they show, every figure computed
against those labels rewards the model that learned the annotators' habit. If the annotators'
errors are known as label-noise matrices, ``T_g[i, j] = P(annotated = j | true = i, group = g)``
(`kerasfer.models.label_noise`, learned on the same data), the expected confusion matrix against
the annotated labels is the true one pushed through T_g:

    E[cm_annotated[g]] = T_gᵀ · cm_true[g]      (cm[g, label, predicted])

so ``cm_true[g] ≈ (T_gᵀ)⁻¹ · cm_annotated[g]``: the backward correction of Patrini et al. (CVPR 2017),
applied to the counts instead of the loss. Counts that come out negative are set to zero and each
predicted column is rescaled to its observed total (T_g's rows sum to one, so the correction keeps
how often each emotion was predicted). Everything works on confusion matrices with leading
resample axes (`kerasfer.fairness.confusion`), so bootstrap intervals cost one `bincount`.
"""

from __future__ import annotations

import numpy as np

from kerasfer.fairness.bootstrap import bootstrap_counts, percentile_interval
from kerasfer.fairness.confusion import confusion_codes, gap_metrics, group_confusion, group_metrics

#: the validation figures `validation_figures` returns (and `kerasfer compare` ranks by)
FIGURES = ("accuracy", "balanced_accuracy", "false_positive_rate_difference", "equalized_odds_difference")


def corrected_confusion(cm, transitions) -> np.ndarray:
    """The confusion matrices against the true labels, estimated from those against annotated labels.

    Args:
        cm: counts ``cm[..., g, annotated, predicted]`` (any leading resample axes), shape (..., G, K, K).
        transitions: (G, K, K) row-stochastic ``T[g, true, annotated]``.

    Returns:
        float array like `cm`: ``cm[..., g, true, predicted]``, non-negative, with each group's
        predicted-column totals equal to those of `cm`.

    Raises:
        ValueError: `transitions` of the wrong shape, not row-stochastic, or singular.
    """
    cm = np.asarray(cm, np.float64)
    transitions = np.asarray(transitions, np.float64)
    if transitions.shape != cm.shape[-3:]:
        raise ValueError(f"label-noise matrices of shape {transitions.shape} do not match confusion matrices of "
                         f"shape {cm.shape[-3:]} (groups × classes × classes).")
    if (transitions < 0).any() or not np.allclose(transitions.sum(axis=-1), 1, atol=1e-3):
        raise ValueError("label-noise matrices must be row-stochastic (T[g, true, :] sums to 1, no negative entry).")
    try:
        estimate = np.linalg.solve(np.swapaxes(transitions, -1, -2), cm)
    except np.linalg.LinAlgError as error:
        raise ValueError("a label-noise matrix is singular: the annotated labels cannot be corrected.") from error
    estimate = np.clip(estimate, 0, None)
    observed, kept = cm.sum(axis=-2, keepdims=True), estimate.sum(axis=-2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(kept > 0, estimate * observed / kept, 0.0)


def figures_of_confusion(cm, min_cell: int = 0) -> dict:
    """`FIGURES` of confusion matrices ``cm[..., G, K, K]``.

    ``balanced_accuracy`` is the mean recall over the (group × label) cells with at least `min_cell`
    faces (with 0: every cell that has faces, what `kerasfer.fairness.groups.cell_balanced_accuracy`
    computes from the samples); the gaps are `gap_metrics`' with `min_cell`. A cell of 3 faces has a
    recall of 0, 1/3, 2/3 or 1 by chance and would weigh as much as a cell of 300: with the
    corrected figures, counting them made the rule recommend the baseline on the 0.98-stereotype
    regime of `benchmarks/mitigation.py` (test EOD 0.891; with cells of 10+ faces, Group DRO: 0.827).

    Args:
        cm: counts or corrected counts, shape (..., G, K, K).
        min_cell: see `gap_metrics`.

    Returns:
        ``{figure: array (...)}`` (NaN where undefined).
    """
    metrics = group_metrics(cm)
    gaps = gap_metrics(metrics, min_cell=min_cell)
    cells = metrics["support"] >= max(min_cell, 1e-9)
    with np.errstate(invalid="ignore", divide="ignore"):
        balanced = np.where(cells, metrics["tpr"], 0).sum(axis=(-2, -1)) / cells.sum(axis=(-2, -1))
        accuracy = np.diagonal(cm, axis1=-2, axis2=-1).sum(axis=(-2, -1)) / np.asarray(cm).sum(axis=(-3, -2, -1))
    return {"accuracy": accuracy, "balanced_accuracy": balanced,
            "false_positive_rate_difference": gaps["false_positive_rate_difference"],
            "equalized_odds_difference": gaps["equalized_odds_difference"]}


def validation_figures(y_true, y_pred, groups, num_groups: int, num_classes: int, transitions=None, *,
                       min_cell: int = 0, n_boot: int = 0, seed: int = 0) -> dict:
    """A model's `FIGURES` on a validation split, optionally corrected for label noise, with bootstrap CIs.

    Args:
        y_true: (N,) annotated labels (-1 unknown: left out).
        y_pred: (N,) predicted labels.
        groups: (N,) group indices of the attribute the gaps are over (-1 unknown: left out).
        num_groups: G.
        num_classes: K.
        transitions: None (the labels as they are) or (G, K, K) ``T[g, true, annotated]``.
        min_cell: smallest cell whose rates take part in the gaps (see `gap_metrics`).
        n_boot: bootstrap resamples of the validation faces behind ``"intervals"`` (0: none).
        seed: seed of the resampling.

    Returns:
        ``{figure: value or None}``, plus ``"intervals": {figure: [low, high]}`` (95 %, percentile)
        when `n_boot` > 0.
    """
    y_true, y_pred, groups = (np.asarray(a, np.int64) for a in (y_true, y_pred, groups))
    known = (y_true >= 0) & (groups >= 0)
    cm = group_confusion(y_true[known], y_pred[known], groups[known], num_groups, num_classes)

    def figures(counts):
        counts = counts if transitions is None else corrected_confusion(counts, transitions)
        return figures_of_confusion(counts, min_cell)

    out = {name: _number(value) for name, value in figures(cm).items()}
    if n_boot:
        codes = confusion_codes(y_true[known], y_pred[known], groups[known], num_classes)
        resampled = bootstrap_counts(codes, num_groups * num_classes ** 2, n_boot, seed)
        samples = figures(resampled.reshape(n_boot, num_groups, num_classes, num_classes))
        bounds = {name: percentile_interval(values) for name, values in samples.items()}
        out["intervals"] = {name: [_number(low), _number(high)] for name, (low, high) in bounds.items()}
    return out


def _number(value):
    value = float(value)
    return value if np.isfinite(value) else None

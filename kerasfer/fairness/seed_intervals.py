"""Confidence intervals of figures averaged over training seeds, from the audit's bootstrap of each seed.

`kerasfer compare` trains every method with several seeds and ranks them by the seed mean. Each
seed's predictions are audited on the test faces (`audit_predictions`: percentile intervals for
accuracy, the simultaneous bootstrap bands of `kerasfer.fairness.gap_intervals` for the gaps, which
contain the estimate where a plain percentile interval of a resampled max would not), and the seed
mean's interval is the mean of the seeds' bounds. Each seed's interval covers its figure at the
stated level, and their errors move together (the same test faces), so the averaged bounds are a
conservative interval for the mean; the seeds' own spread is reported beside it as a standard deviation.
"""

from __future__ import annotations

import warnings

import numpy as np

from kerasfer.fairness.audit import audit_predictions
from kerasfer.fairness.groups import SUMMARY_MIN_COUNT


def seed_mean_intervals(y_true, predictions, groups, group_names, label_names, *, n_boot: int = 200,
                        seed: int = 0, level: float = 0.95, min_count: int = SUMMARY_MIN_COUNT) -> dict:
    """Seed-mean accuracy, worst-group accuracy and equalized-odds difference with CIs.

    Args:
        y_true: (N,) true classes of the test faces (-1 unknown: left out).
        predictions: (S, N) predicted classes, one row per seed (or (N,) for one seed).
        groups: (N,) group index of one attribute (-1 unknown: left out of the group figures).
        group_names: the attribute's group names.
        label_names: the class names.
        n_boot: bootstrap resamples per seed (>= 1).
        seed: resampling seed.
        level: CI coverage.
        min_count: smallest group (in test faces) that takes part in the gaps.

    Returns:
        ``{metric: {"mean", "ci_low", "ci_high"}}`` for ``accuracy``, ``worst_group_accuracy`` and
        ``equalized_odds_difference`` (None where no gap could be computed).
    """
    predictions = np.atleast_2d(np.asarray(predictions))
    if predictions.shape[1] != len(y_true) or len(groups) != len(y_true):
        raise ValueError(f"predictions {predictions.shape}, labels ({len(y_true)},) and groups ({len(groups)},) "
                         "must describe the same test faces.")
    if not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"`n_boot` must be a positive integer; got {n_boot!r}.")
    figures = {"accuracy": [], "worst_group_accuracy": [], "equalized_odds_difference": []}
    for predicted in predictions:
        with warnings.catch_warnings():  # small groups are left out of the gaps, as documented
            warnings.simplefilter("ignore", UserWarning)
            result = audit_predictions(y_true, predicted, {"group": groups}, group_names={"group": list(group_names)},
                                       label_names=list(label_names), n_boot=n_boot, n_perm=0, seed=seed,
                                       intersections=None, min_count=min_count, level=level)
        overall = result.overall["accuracy"]
        figures["accuracy"].append((overall["value"], overall["ci_low"], overall["ci_high"]))
        gaps = result.gaps.set_index("metric")
        for metric in ("worst_group_accuracy", "equalized_odds_difference"):
            figures[metric].append(tuple(gaps.loc[metric, ["value", "ci_low", "ci_high"]].astype(float)))
    out = {}
    for metric, rows in figures.items():
        values = np.asarray(rows, np.float64)
        if np.isnan(values[:, 0]).all():
            out[metric] = {"mean": None, "ci_low": None, "ci_high": None}
            continue
        mean, low, high = np.nanmean(values, axis=0)
        out[metric] = {"mean": float(mean), "ci_low": float(low), "ci_high": float(high)}
    return out

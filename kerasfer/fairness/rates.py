"""Predicted emotion rates per group: the part of an audit that needs no expression labels.

On faces that carry protected attributes but no emotion labels (UTKFace or FairFace photos with a
demographics CSV) accuracy cannot be measured, but the rate at which the model *predicts* each
emotion for each group can. Its largest between-group gap, maximised over the emotions, is the
demographic-parity difference (one emotion at a time, one-vs-rest, as fairlearn's
`demographic_parity_difference` defines it for a binary task); the "negative emotions" aggregate
(angry, disgust, fear, sad by default) is the figure Rhue (2018) found skewed against Black faces.

A rate gap says the model treats the groups' faces differently; it cannot say whether the groups'
true expressions differ too. Everything is a function of the counts ``counts[..., group, predicted]``,
drawn for all bootstrap resamples and label permutations with one `np.bincount` per batch
(`kerasfer.fairness.bootstrap`), as `kerasfer.fairness.confusion` does for the labelled audit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kerasfer.constants import EMOTIONS
from kerasfer.fairness.bootstrap import (bootstrap_counts, percentile_interval, permutation_counts,
                                         permutation_p_value)
from kerasfer.fairness.gap_intervals import extremum_interval, pairwise_differences

NEGATIVE_EMOTIONS = ("angry", "disgust", "fear", "sad")
NEGATIVE = "negative"  # the class name of the aggregate in the `rate_gaps` table


def predicted_classes(y_pred, label_names):
    """(N,) predicted classes and the class names, from indices or (N, K) probabilities.

    Args:
        y_pred: (N,) class indices or (N, K) probabilities.
        label_names: class names, or None for `kerasfer.EMOTIONS`.

    Returns:
        (classes, names).
    """
    y_pred = np.asarray(y_pred)
    names = tuple(str(x) for x in (label_names if label_names is not None else EMOTIONS))
    if y_pred.ndim == 2:
        if y_pred.shape[1] != len(names):
            raise ValueError(f"`y_pred` has {y_pred.shape[1]} columns but there are {len(names)} label names "
                             f"{list(names)}; pass `label_names`.")
        return y_pred.argmax(axis=1), names
    if y_pred.ndim != 1 or not np.issubdtype(y_pred.dtype, np.integer):
        raise ValueError(f"`y_pred` must be (N,) class indices or (N, K) probabilities; got {y_pred.dtype} "
                         f"of shape {y_pred.shape}.")
    bad = np.flatnonzero((y_pred < 0) | (y_pred >= len(names)))
    if bad.size:
        raise ValueError(f"`y_pred` must hold class indices 0..{len(names) - 1} (label names {list(names)}); "
                         f"row {bad[0]} holds {y_pred[bad[0]]}.")
    return y_pred, names


def negative_mask(negative, label_names) -> np.ndarray:
    """The classes of the negative aggregate, validated.

    Args:
        negative: a class name or a sequence of names, each one of `label_names`.
        label_names: the K class names.

    Returns:
        (K,) bool, True for the classes in `negative`.
    """
    names = (negative,) if isinstance(negative, str) else tuple(negative or ())
    unknown = [n for n in names if n not in label_names]
    if not names or unknown:
        raise ValueError(f"`negative` must name one or more classes of {list(label_names)}; got {negative!r}.")
    return np.isin(np.asarray(label_names, dtype=object), names)


def rate_statistics(counts, negative) -> dict:
    """Predicted rates of counts ``counts[..., G, K]`` (any leading resample axes).

    Args:
        counts: faces of each group predicted as each class, shape (..., G, K).
        negative: (K,) bool, the classes of the "negative emotions" aggregate.

    Returns:
        dict with ``count`` (..., G), ``rate`` (..., G, K: share of the group's faces predicted as
        each class) and ``negative_rate`` (..., G: share predicted as any negative class); NaN for a
        group without faces.
    """
    counts = np.asarray(counts, np.float64)
    count = counts.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = counts / count[..., None]
    return {"count": count, "rate": rate, "negative_rate": rate[..., np.asarray(negative, bool)].sum(axis=-1)}


def rate_gaps(stats: dict, include) -> dict:
    """Between-group gaps of `rate_statistics` output: max − min over the groups in `include`.

    Args:
        stats: `rate_statistics` output (leading resample axes allowed).
        include: (G,) bool, the groups compared (those at or above the minimum count).

    Returns:
        dict of arrays: ``rate_difference`` (..., K: per class), ``demographic_parity_difference``
        (...: its maximum over classes) and ``negative_rate_difference`` (...); NaN with fewer than
        two groups.
    """
    include = np.asarray(include, bool)
    if include.sum() < 2:
        shape = np.shape(stats["negative_rate"])[:-1]
        k = np.shape(stats["rate"])[-1]
        return {"rate_difference": np.full((*shape, k), np.nan),
                "demographic_parity_difference": np.full(shape, np.nan),
                "negative_rate_difference": np.full(shape, np.nan)}
    rate = np.asarray(stats["rate"])[..., include, :]
    per_class = np.fmax.reduce(rate, axis=-2) - np.fmin.reduce(rate, axis=-2)
    negative = np.asarray(stats["negative_rate"])[..., include]
    return {"rate_difference": per_class, "demographic_parity_difference": np.fmax.reduce(per_class, axis=-1),
            "negative_rate_difference": np.fmax.reduce(negative, axis=-1) - np.fmin.reduce(negative, axis=-1)}


def rate_families(stats: dict, include) -> dict:
    """Each gap of `rate_gaps` as the maximum of a family of pairwise group differences, for its CI.

    Args:
        stats: `rate_statistics` output (leading resample axes allowed).
        include: (G,) bool, the groups compared.

    Returns:
        metric -> (..., J) family (``rate_difference``: (..., K, J)); empty with fewer than two groups.
    """
    include = np.asarray(include, bool)
    if include.sum() < 2:
        return {}
    per_class = pairwise_differences(stats["rate"], include, axis=-2)  # (..., K, P)
    return {"rate_difference": per_class,
            "demographic_parity_difference": per_class.reshape(*per_class.shape[:-2], -1),
            "negative_rate_difference": pairwise_differences(stats["negative_rate"], include)}


def attribute_rates(name: str, groups, group_names, y_pred, label_names, negative, include, *, n_boot: int,
                    n_perm: int, level: float, seed: int) -> dict:
    """The rate audit of one attribute: per-group rates with CIs, gaps with CIs and p-values.

    Args:
        name: the attribute (or intersection) name.
        groups: (N,) group index per face, known groups only.
        group_names: the attribute's group names (G).
        y_pred: (N,) predicted class per face.
        label_names: the class names (K).
        negative: (K,) bool, the classes of the negative aggregate.
        include: (G,) bool, the groups large enough to take part in the gaps.
        n_boot: bootstrap resamples for the CIs (0: none).
        n_perm: permutations of the group labels for the p-values (0: none).
        level: CI coverage.
        seed: seed of resampling (permutations use ``seed + 1``).

    Returns:
        ``{"rates", "rate_groups", "rate_gaps"}`` DataFrames: one row per (group, class), per group,
        and per gap (``demographic_parity_difference``, ``negative_rate_difference`` and one
        ``rate_difference (class)`` per class), with ``high_group`` / ``low_group`` naming the groups
        the gap lies between.
    """
    num_groups, k = len(group_names), len(label_names)
    groups, y_pred = np.asarray(groups, np.int64), np.asarray(y_pred, np.int64)
    counts = np.bincount(groups * k + y_pred, minlength=num_groups * k).reshape(num_groups, k)
    point = rate_statistics(counts, negative)
    include = np.asarray(include, bool) & (point["count"] > 0)
    gaps = rate_gaps(point, include)
    boot = null = None
    if n_boot:
        boot = rate_statistics(bootstrap_counts(groups * k + y_pred, num_groups * k, n_boot, seed)
                               .reshape(-1, num_groups, k), negative)
    if n_perm:
        null = rate_gaps(rate_statistics(permutation_counts(groups, y_pred, k, num_groups, n_perm, seed + 1)
                                         .reshape(-1, num_groups, k), negative), include)

    def interval(key):
        if boot is None:
            return np.full(point[key].shape, np.nan), np.full(point[key].shape, np.nan)
        return percentile_interval(boot[key], level)

    present = point["count"] > 0
    small = present & ~include
    rate_low, rate_high = interval("rate")
    rates = pd.DataFrame([{"attribute": name, "group": group_names[g], "class": label, "count": int(point["count"][g]),
                           "small": bool(small[g]), "rate": point["rate"][g, c], "rate_low": rate_low[g, c],
                           "rate_high": rate_high[g, c]}
                          for g in np.flatnonzero(present) for c, label in enumerate(label_names)])
    neg_low, neg_high = interval("negative_rate")
    rate_groups = pd.DataFrame({"attribute": name, "group": list(group_names), "count": point["count"].astype(int),
                                "small": small, "negative_rate": point["negative_rate"], "negative_rate_low": neg_low,
                                "negative_rate_high": neg_high})[present].reset_index(drop=True)
    return {"rates": rates, "rate_groups": rate_groups,
            "rate_gaps": pd.DataFrame(_gap_rows(name, point, gaps, boot, null, include, group_names, label_names,
                                                level))}


def _gap_rows(name, point, gaps, boot, null, include, group_names, label_names, level) -> list[dict]:
    """One row per gap: value, simultaneous-bootstrap CI, permutation p-value and the groups it spans."""
    families = rate_families(point, include)
    boot_families = rate_families(boot, include) if boot is not None else {}
    compared = np.flatnonzero(include)

    def figures(metric):
        value = np.asarray(gaps[metric], np.float64)
        low = high = np.full(value.shape, np.nan)
        if metric in boot_families:
            # simultaneous bands over the pairwise differences (kerasfer.fairness.gap_intervals), as for the
            # labelled gaps: they contain the estimate and cover 0 when there is no gap
            low, high = np.clip(extremum_interval(families[metric], boot_families[metric], level, "max"), 0.0, 1.0)
        p = permutation_p_value(value, null[metric]) if null is not None else np.full(value.shape, np.nan)
        return value, low, high, p

    def row(metric, label, values, per_group):
        value, low, high, p = (float(v) for v in values)
        spans = compared.size >= 2 and value > 0  # no gap: no pair of groups to name
        return {"attribute": name, "metric": metric, "class": label, "value": value, "ci_low": low, "ci_high": high,
                "p_value": p, "high_group": group_names[compared[np.argmax(per_group[compared])]] if spans else None,
                "low_group": group_names[compared[np.argmin(per_group[compared])]] if spans else None,
                "groups_compared": int(compared.size)}

    per_class = figures("rate_difference")
    dpd = figures("demographic_parity_difference")
    carrier = int(np.nanargmax(per_class[0])) if dpd[0] > 0 else 0  # the emotion that carries the DPD (None: no gap)
    rows = [row("demographic_parity_difference", label_names[carrier] if dpd[0] > 0 else None, dpd,
                point["rate"][:, carrier]),
            row("negative_rate_difference", NEGATIVE, figures("negative_rate_difference"), point["negative_rate"])]
    rows.extend(row(f"rate_difference ({label})", label, [f[c] for f in per_class], point["rate"][:, c])
                for c, label in enumerate(label_names))
    return rows

"""Per-group accuracy tables, the quick look used by `kerasfer demo` and training summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count
from sklearn.metrics import accuracy_score

from kerasfer.fairness.confusion import gap_metrics, group_confusion, group_metrics

#: the gaps a training summary carries per attribute (the audit has them all, with CIs and p-values)
SUMMARY_GAPS = ("equalized_odds_difference", "demographic_parity_difference", "fairness_ratio")
#: groups smaller than this are left out of the summary's gaps, as in `kerasfer.fairness.audit`
SUMMARY_MIN_COUNT = 30


def per_group_accuracy(y_true, y_pred, data, attributes=None) -> dict[str, pd.DataFrame]:
    """Accuracy and count per group of each protected attribute (fairlearn `MetricFrame`).

    Samples whose group is unknown (-1) are left out of that attribute's table, and samples whose
    label is unknown (-1) out of every table.

    Args:
        y_true: (N,) true label indices.
        y_pred: (N,) predicted label indices.
        data: the `FaceData` the labels belong to (for attributes and group names).
        attributes: attribute names to tabulate; default all of `data`'s.

    Returns:
        attribute name -> DataFrame indexed by group name with columns ``accuracy``, ``count``.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    tables = {}
    for name in attributes or data.attribute_names:
        data.check_attribute(name)
        known = (data.attributes[name] >= 0) & (y_true >= 0)
        frame = MetricFrame(
            metrics={"accuracy": accuracy_score, "count": count},
            y_true=y_true[known],
            y_pred=y_pred[known],
            sensitive_features=pd.Series(data.group_labels(name)[known], name=name),
        )
        table = frame.by_group
        table["count"] = table["count"].astype(int)
        order = [g for g in data.group_names[name] if g in table.index]
        tables[name] = table.loc[order]
    return tables


def group_gaps(y_true, y_pred, data, attributes=None, min_count: int = SUMMARY_MIN_COUNT, min_cell: int = 0,
               gaps=SUMMARY_GAPS) -> dict:
    """`SUMMARY_GAPS` of each attribute: the audit's point estimates, without CIs (fast).

    Args:
        y_true: (N,) true label indices (-1 unknown: left out).
        y_pred: (N,) predicted label indices.
        data: the `FaceData` (attributes and group names).
        attributes: attributes to include; default all.
        min_count: groups with fewer labelled samples are left out of the gaps.
        min_cell: smallest (group × class) cell whose rates take part (see `gap_metrics`).
        gaps: which gaps of `gap_metrics` to return.

    Returns:
        ``{attribute: {gap: value, ..., "groups_compared": n}}`` for the `gaps`; a gap is None (JSON null) when fewer
        than two groups have `min_count` samples.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    num_classes = len(data.label_names)
    out = {}
    for name in attributes or data.attribute_names:
        data.check_attribute(name)
        groups = data.attributes[name]
        known = (groups >= 0) & (y_true >= 0)
        cm = group_confusion(y_true[known], y_pred[known], groups[known], len(data.group_names[name]), num_classes)
        point = group_metrics(cm)
        include = point["count"] >= min_count
        values = gap_metrics(point, include, min_cell)
        out[name] = {gap: (float(values[gap]) if np.isfinite(values[gap]) else None) for gap in gaps}
        out[name]["groups_compared"] = int(include.sum())
    return out


def largest_gap(gaps: dict, metric: str = "equalized_odds_difference"):
    """The attribute with the largest `metric` in a `group_gaps` dict: ``(attribute, value)`` or None."""
    values = [(row[metric], name) for name, row in gaps.items() if row.get(metric) is not None]
    if not values:
        return None
    value, name = max(values)
    return name, value


def accuracy_summary(y_true, y_pred, data, attributes=None) -> dict:
    """The summary `metrics.json` files carry: accuracy, worst-group accuracy, per-group table, gaps.

    Args:
        y_true: (N,) true label indices.
        y_pred: (N,) predicted label indices.
        data: the `FaceData` (attributes and group names).
        attributes: attributes to include; default all.

    Returns:
        ``{"accuracy", "worst_group_accuracy", "worst_group", "n_unknown_label", "per_group":
        {attr: {group: {"accuracy", "count"}}}, "gaps": {attr: {equalized_odds_difference,
        demographic_parity_difference, fairness_ratio, groups_compared}}}`` with plain Python
        numbers (JSON-ready; `group_gaps`); samples with an unknown label (-1) are counted in
        ``n_unknown_label`` and scored nowhere.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labelled = y_true >= 0
    if not labelled.any():
        raise ValueError("accuracy_summary needs labelled samples; every label is unknown (-1).")
    tables = per_group_accuracy(y_true, y_pred, data, attributes)
    per_group = {
        name: {group: {"accuracy": float(row["accuracy"]), "count": int(row["count"])}
               for group, row in table.iterrows()}
        for name, table in tables.items()
    }
    worst = min(
        ((acc["accuracy"], f"{name}={group}") for name, groups in per_group.items() for group, acc in groups.items()),
        default=(float("nan"), None),
    )
    return {
        "accuracy": float(np.mean(y_true[labelled] == y_pred[labelled])),
        "worst_group_accuracy": worst[0],
        "worst_group": worst[1],
        "n_unknown_label": int((~labelled).sum()),
        "per_group": per_group,
        "gaps": group_gaps(y_true, y_pred, data, attributes),
    }


def cell_balanced_accuracy(y_true, y_pred, groups) -> float:
    """Mean over (group × true label) cells of the accuracy within the cell.

    The accuracy a model would have if every group showed every emotion equally often, estimated
    on data where they do not (a stereotyped validation split): a model that leans on the stereotype
    scores well on the big cells only. It is scikit-learn's `balanced_accuracy_score` of the
    (group, label) pairs.

    Args:
        y_true: (N,) true labels (-1 unknown: left out).
        y_pred: (N,) predicted labels.
        groups: (N,) group indices (-1 unknown: left out).

    Returns:
        The mean cell accuracy (NaN when no sample has both known).
    """
    y_true, y_pred, groups = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    known = (y_true >= 0) & (groups >= 0)
    if not known.any():
        return float("nan")
    cells, cell = np.unique(np.stack([groups[known], y_true[known]], axis=1), axis=0, return_inverse=True)
    correct = np.bincount(cell.ravel(), weights=y_pred[known] == y_true[known], minlength=len(cells))
    return float(np.mean(correct / np.bincount(cell.ravel(), minlength=len(cells))))

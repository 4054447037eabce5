"""Per-sample loss weights for reweighting groups and labels."""

from __future__ import annotations

import numpy as np


def balanced_weights(data, attribute: str | None = None, *, by_label: bool = True) -> np.ndarray:
    """Per-sample weights that make every (group × label) cell weigh the same in the loss.

    This is the "group-reweighted baseline" of fairness papers (Kamiran & Calders reweighing).

    Args:
        data: a `FaceData`.
        attribute: the protected attribute to balance; None balances labels only.
        by_label: also balance the labels within each group (cells = group × label).

    Returns:
        float32 array (N,), mean 1; samples with unknown group or label get weight 1.
    """
    keys = []
    if attribute is not None:
        data.check_attribute(attribute)
        keys.append(data.attributes[attribute])
    if by_label or attribute is None:
        keys.append(data.labels)
    keys = np.stack(keys, axis=1)
    known = (keys >= 0).all(axis=1)
    weights = np.ones(len(data), np.float64)
    _, cell, counts = np.unique(keys[known], axis=0, return_inverse=True, return_counts=True)
    weights[known] = 1.0 / counts[cell.ravel()]
    weights[known] *= known.sum() / weights[known].sum()
    return weights.astype(np.float32)

"""Per-sample loss weights for reweighting groups and labels."""

from __future__ import annotations

import numpy as np


#: Largest weight (× the mean) `balanced_weights` gives: a cell of a handful of faces in real data
#: (a rare group × a rare emotion) would otherwise weigh hundreds of times more than the rest and make
#: training follow those few faces. On SynthFaces' demo bias the largest weight is 6–9, so it is untouched.
MAX_WEIGHT = 10.0


def balanced_weights(data, attribute=None, *, by_label: bool = True,
                     max_weight: float | None = MAX_WEIGHT) -> np.ndarray:
    """Per-sample weights that make every (group × label) cell weigh the same in the loss.

    This is the "group-reweighted baseline" of fairness papers (Kamiran & Calders reweighing).

    Args:
        data: a `FaceData`.
        attribute: the protected attribute to balance, or a list of them (their intersectional
            groups); None balances labels only.
        by_label: also balance the labels within each group (cells = group × label).
        max_weight: clip weights at this multiple of the mean (then rescale to mean 1); None: no clip.

    Returns:
        float32 array (N,), mean 1; samples with unknown group or label get weight 1.
    """
    if max_weight is not None and not max_weight >= 1:
        raise ValueError(f"`max_weight` must be >= 1 (a multiple of the mean weight) or None; got {max_weight!r}.")
    keys = []
    for name in ([] if attribute is None else [attribute] if isinstance(attribute, str) else list(attribute)):
        data.check_attribute(name)
        keys.append(data.attributes[name])
    if by_label or attribute is None:
        keys.append(data.labels)
    keys = np.stack(keys, axis=1)
    known = (keys >= 0).all(axis=1)
    weights = np.ones(len(data), np.float64)
    _, cell, counts = np.unique(keys[known], axis=0, return_inverse=True, return_counts=True)
    weights[known] = 1.0 / counts[cell.ravel()]
    weights[known] *= known.sum() / weights[known].sum()
    if max_weight is not None and weights.max() > max_weight:
        weights = np.minimum(weights, max_weight)
        weights *= len(weights) / weights.sum()
    return weights.astype(np.float32)

"""Class- and group-balanced sampling for tf.data, and train/val splits stratified by label × group.

Balanced sampling draws every batch element from a uniformly chosen *cell* (a label, a group of
one attribute, or a label × group pair), so rare classes or groups appear as often as common ones
— the sampling counterpart of `kerasfer.data.balanced_weights`. Use it through
``FaceData.dataset(..., balance="label" | "group:skin" | "label+group:skin")``.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger("kerasfer.data")


def balance_cells(data, balance: str) -> np.ndarray:
    """The cell id of every sample for a ``balance`` spec.

    Args:
        data: a `FaceData`.
        balance: ``"label"``, ``"group:ATTRIBUTE"`` or both joined by ``"+"``, e.g.
            ``"label+group:skin"``. Unknown labels / groups (-1) form a cell of their own, so no
            sample is dropped.

    Returns:
        int array (N,) of cell ids 0..K-1.
    """
    keys = _keys(data, balance, "balance")
    _, cells = np.unique(keys, axis=0, return_inverse=True)
    return cells.ravel().astype(np.int64)


def balanced_dataset(elements: dict, cells: np.ndarray, source, *, seed: int = 0):
    """An endless stream of `elements` drawing each element from a uniformly chosen cell.

    Args:
        elements: dict of per-sample arrays (as for `tf.data.Dataset.from_tensor_slices`).
        cells: (N,) cell id per sample.
        source: function ``(elements_subset, seed) -> Dataset`` giving one cell's endless,
            shuffled stream (the pipeline's own loader, so decoding and caching stay the same).
        seed: sampling seed; streams differ every epoch but repeat across runs.

    Returns:
        The `tf.data.Dataset` (infinite; use ``take`` for an epoch).
    """
    import tensorflow as tf

    streams = []
    for k in np.unique(cells):
        index = np.flatnonzero(cells == k)
        subset = _take(elements, index)
        streams.append(source(subset, seed + int(k)))
    weights = [1.0 / len(streams)] * len(streams)
    return tf.data.Dataset.sample_from_datasets(streams, weights=weights, seed=seed,
                                                rerandomize_each_iteration=True)


def stratified_split(data, val_fraction: float = 0.1, *, by=("label",), seed: int = 0):
    """Split a `FaceData` in two, keeping the label × group proportions in both parts.

    Strata are the combinations of `by` (``"label"`` and/or attribute names). Strata too small
    to be split (fewer than 2 samples) are merged into their label's stratum, and what is still
    too small into one "rare" stratum; scikit-learn's `train_test_split` does the split.

    Args:
        data: a `FaceData`.
        val_fraction: fraction (0 < f < 1) of samples in the second part.
        by: what to stratify by: ``"label"`` and/or attribute names, e.g. ``("label", "skin")``.
        seed: seed of the split; the same seed gives the same split.

    Returns:
        ``(train, val)``: two `FaceData` subsets that together hold every sample once.

    Example:
        >>> train, val = stratified_split(data, 0.2, by=("label", "gender"), seed=0)  # doctest: +SKIP
    """
    train_index, val_index = split_indices(_keys(data, by, "by"), val_fraction, seed=seed)
    return data[train_index], data[val_index]


def split_indices(keys: np.ndarray, fraction: float, *, seed: int = 0):
    """Seeded stratified split of sample indices.

    Args:
        keys: (N, K) int array of stratification keys (e.g. label and group columns).
        fraction: fraction of samples held out (0 < fraction < 1).
        seed: split seed.

    Returns:
        ``(kept, held_out)``: sorted index arrays.
    """
    from sklearn.model_selection import train_test_split

    if not (isinstance(fraction, (float, int)) and 0 < fraction < 1):
        raise ValueError(f"the split fraction must be between 0 and 1 (exclusive); got {fraction!r}.")
    keys = np.asarray(keys).reshape(len(keys), -1)
    n = len(keys)
    index = np.arange(n)
    if n < 2:
        raise ValueError(f"cannot split {n} sample(s) in two; need at least 2.")
    strata = _mergeable_strata(keys)
    try:
        kept, held = train_test_split(index, test_size=fraction, random_state=seed, stratify=strata)
    except ValueError:  # more strata than held-out samples: fall back to a plain seeded split
        logger.info("too few samples to stratify a %.2f split of %d; using a plain seeded split", fraction, n)
        kept, held = train_test_split(index, test_size=fraction, random_state=seed)
    return np.sort(kept), np.sort(held)


def _mergeable_strata(keys: np.ndarray) -> np.ndarray:
    strata = np.array(["/".join(map(str, row)) for row in keys], dtype=object)
    for fallback in (np.array([str(k) for k in keys[:, 0]], dtype=object), np.full(len(keys), "rare", object)):
        values, counts = np.unique(strata, return_counts=True)
        small = np.isin(strata, values[counts < 2])
        strata[small] = fallback[small]
    values, counts = np.unique(strata, return_counts=True)
    if (counts < 2).any():  # a single rare sample: join it to the largest stratum
        strata[np.isin(strata, values[counts < 2])] = values[counts.argmax()]
    return strata


def _keys(data, spec, argument: str) -> np.ndarray:
    parts = spec.split("+") if isinstance(spec, str) else list(spec)
    if not parts:
        raise ValueError(f"`{argument}` names nothing; use 'label', 'group:ATTRIBUTE' or attribute names.")
    columns = []
    for part in parts:
        part = part.strip()
        name = part[len("group:"):] if part.startswith("group:") else part
        if name == "label":
            columns.append(data.labels)
        elif name in data.attributes:
            columns.append(data.attributes[name])
        else:
            raise ValueError(
                f"`{argument}`={spec!r}: {part!r} is neither 'label' nor an attribute of this data "
                f"({sorted(data.attributes) or 'none'}); e.g. 'label+group:{next(iter(data.attributes), 'gender')}'."
            )
    return np.stack(columns, axis=1)


def _take(elements, index):
    if isinstance(elements, dict):
        return {k: _take(v, index) for k, v in elements.items()}
    return elements[index]

"""Two sources in one training set: faces with emotion labels, and faces with protected attributes.

No public real data set here has both an expression label and demographics on the same faces:
expression sets (FER+, FER2013) carry no demographics, face sets (UTKFace, FairFace) no
expressions. `join_sources` stacks one of each into a single `FaceData` in which every face
carries what its source knows and ``-1`` (unknown) for the rest, so each loss term of a model can
use the rows that carry what it needs (FairVAE: classification the labelled rows, latent alignment
and adversaries the rows with groups, reconstruction and KL every row). `source_shares` turns a
mixing ratio into the per-source shares the epoch stream samples batches with
(`kerasfer.training.epochs.epoch_stream`'s ``mix``).
"""

from __future__ import annotations

import numpy as np

from kerasfer.constants import UNKNOWN
from kerasfer.data.errors import SkipReport
from kerasfer.data.facedata import FaceData

#: source ids of `join_sources`' rows
LABELLED, GROUPED = 0, 1


def join_sources(labelled, grouped) -> tuple[FaceData, np.ndarray]:
    """One `FaceData` of `labelled`'s faces followed by `grouped`'s, and the source of every row.

    Args:
        labelled: a `FaceData` with emotion labels (hard or `soft_labels`); its attributes, if any,
            are kept.
        grouped: a `FaceData` with protected attributes; its labels, if any, are kept.

    Returns:
        ``(data, sources)``: the joined `FaceData` (attributes: the union of both sources', -1 where
        a source lacks one; soft labels: zeros, i.e. unknown, on rows that had none) and an int
        (N,) array, `LABELLED` or `GROUPED` per row.

    Raises:
        ValueError: the sources differ in image shape, label names, or an attribute's group
            names; `labelled` has no labels or `grouped` no attribute.

    When one source is in memory and the other on disk, the other's images are read into memory.
    """
    if not ((labelled.labels >= 0).any() or (labelled.soft_labels is not None and labelled.soft_labels.any())):
        raise ValueError("the labelled source has no emotion labels: nothing to train the emotion head on.")
    if not grouped.attribute_names:
        raise ValueError("the groups source has no protected attribute (gender, race, ...): nothing to align or "
                         "erase. Read it with a reader that gives attributes, e.g. utkface:DIR.")
    if labelled.image_shape != grouped.image_shape:
        raise ValueError(f"the two sources must share one image format; the labelled faces are {labelled.image_shape}"
                         f" and the grouped ones {grouped.image_shape} (height, width, channels). Read both with the "
                         "same image_size and channels.")
    if labelled.label_names != grouped.label_names:
        raise ValueError(f"the two sources name their emotions differently: {labelled.label_names} and "
                         f"{grouped.label_names}.")
    if (labelled.images is None) != (grouped.images is None):  # e.g. FER+ (decoded) beside a manifest (on disk)
        labelled, grouped = labelled.in_memory(), grouped.in_memory()
    group_names = {**labelled.group_names}
    for name, names in grouped.group_names.items():
        if name in group_names and tuple(group_names[name]) != tuple(names):
            raise ValueError(f"the two sources name the groups of {name!r} differently: {group_names[name]} and "
                             f"{tuple(names)}.")
        group_names[name] = names
    sizes = (len(labelled), len(grouped))
    data = FaceData(
        images=None if labelled.images is None else np.concatenate([labelled.images, grouped.images]),
        paths=None if labelled.paths is None or grouped.paths is None else [*labelled.paths, *grouped.paths],
        image_size=labelled.image_size, channels=labelled.channels,
        labels=np.concatenate([labelled.labels, grouped.labels]),
        attributes={name: np.concatenate([_column(part.attributes.get(name), len(part)) for part in (labelled, grouped)])
                    for name in group_names},
        aus=_stacked([labelled.aus, grouped.aus], sizes, len(labelled.au_names), UNKNOWN),
        soft_labels=_stacked([labelled.soft_labels, grouped.soft_labels], sizes, len(labelled.label_names), 0.0),
        group_names=group_names, label_names=labelled.label_names, au_names=labelled.au_names,
        skipped=SkipReport([*labelled.skipped.records, *grouped.skipped.records]))
    return data, np.repeat([LABELLED, GROUPED], sizes)


def source_shares(grouped_share=None) -> np.ndarray | None:
    """The share of each source (`LABELLED`, `GROUPED`) in the batches, for `epoch_stream`'s ``mix``.

    Args:
        grouped_share: the share (0–1, exclusive) of grouped faces in every epoch's draws; None:
            as many as the data holds (no resampling).

    Returns:
        ``[labelled share, grouped share]``, or None for `grouped_share` None.

    Raises:
        ValueError: `grouped_share` outside (0, 1).
    """
    if grouped_share is None:
        return None
    if not isinstance(grouped_share, (int, float)) or not 0 < grouped_share < 1:
        raise ValueError(f"`groups_share` must be a share strictly between 0 and 1 (0.3: 30 % of every batch from the "
                         f"groups source); got {grouped_share!r}.")
    return np.array([1 - grouped_share, grouped_share])


def _column(values, n: int) -> np.ndarray:
    return np.full(n, UNKNOWN, np.int64) if values is None else np.asarray(values, np.int64)


def _stacked(parts, sizes, width: int, fill):
    """Row-stack per-source (n, width) arrays, `fill` for a source that has none; None if neither has."""
    if all(part is None for part in parts):
        return None
    dtype = next(part.dtype for part in parts if part is not None)
    return np.concatenate([np.full((n, width), fill, dtype) if part is None else part for part, n in zip(parts, sizes)])

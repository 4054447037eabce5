"""Representative (calibration) images drawn balanced across demographic groups."""

from __future__ import annotations

import numpy as np


def balanced_sample(data, n: int = 256, *, attributes=None, seed: int = 0) -> np.ndarray:
    """Indices of up to `n` faces of `data`, the same number from every intersectional group.

    Quantization ranges calibrated on a skewed set fit the majority group's activations; an equal
    share per group (each combination of the attributes' known values) keeps minority groups'
    ranges in. Groups smaller than their share give all they have.

    Args:
        data: a `FaceData`.
        n: total number of faces wanted (> 0).
        attributes: attributes whose intersection defines the groups; default all of `data`'s.
        seed: sampling seed.

    Returns:
        int array of indices into `data`, sorted.
    """
    if not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"`n` must be a positive integer; got {n!r}.")
    names = list(attributes or data.attribute_names)
    for name in names:
        data.check_attribute(name)
    rng = np.random.default_rng(seed)
    if not names:
        return np.sort(rng.choice(len(data), size=min(n, len(data)), replace=False))
    keys = np.stack([data.attributes[name] for name in names], axis=1)
    groups = [np.flatnonzero((keys == key).all(1)) for key in np.unique(keys, axis=0)]
    per_group = max(1, n // len(groups))
    chosen = [rng.choice(g, size=min(per_group, len(g)), replace=False) for g in groups]
    return np.sort(np.concatenate(chosen))


def representative_images(data, n: int = 256, *, attributes=None, seed: int = 0) -> np.ndarray:
    """Calibration images as float32 raw pixels: balanced from a `FaceData`, or the first `n` of an array.

    Args:
        data: a `FaceData` or an array (N, H, W, C) of raw-pixel images.
        n: number of images.
        attributes: see `balanced_sample`.
        seed: sampling seed.

    Returns:
        float32 array (M, H, W, C), M <= n.
    """
    if hasattr(data, "load_images"):
        index = balanced_sample(data, n, attributes=attributes, seed=seed)
        return data.load_images()[index].astype(np.float32)
    images = np.asarray(data)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) == 0:
        raise ValueError(f"`representative_data` must be a FaceData or an (N, H, W, C) image array; "
                         f"got shape {images.shape}.")
    return images[:n].astype(np.float32)

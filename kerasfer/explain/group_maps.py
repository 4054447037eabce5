"""Per-group mean heatmaps and group-difference maps (the qualitative analysis of Deuschel et al. 2021).

Faces of SynthFaces and of aligned datasets sit at about the same place in every image, so the
mean Grad-CAM of a group shows where the model looks for that group, and the difference of two
groups' means shows where it looks differently.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from kerasfer.explain.gradcam import gradcam
from kerasfer.models.encoder import FEATURE_MAP_LAYER

DIFFERENCE_SEPARATOR = " − "


def group_indices(data, attribute: str, *, max_per_group: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Indices of up to `max_per_group` randomly chosen samples of every group of `attribute`.

    Args:
        data: a `FaceData`.
        attribute: a protected attribute of `data`; samples with unknown group (-1) are left out.
        max_per_group: most samples per group (> 0).
        seed: seed of the random choice.

    Returns:
        Group name → sorted index array, for the groups that have samples, in `data.group_names` order.
    """
    data.check_attribute(attribute)
    if not isinstance(max_per_group, (int, np.integer)) or max_per_group < 1:
        raise ValueError(f"`max_per_group` must be a positive integer; got {max_per_group!r}.")
    rng = np.random.default_rng(seed)
    out = {}
    for g, name in enumerate(data.group_names[attribute]):
        members = np.flatnonzero(data.attributes[attribute] == g)
        if members.size:
            chosen = rng.choice(members, size=min(max_per_group, members.size), replace=False)
            out[name] = np.sort(chosen)
    return out


def group_heatmaps(model, data, attribute: str, *, target=None, max_per_group: int = 64, seed: int = 0,
                   layer: str = FEATURE_MAP_LAYER) -> dict[str, np.ndarray]:
    """Mean Grad-CAM heatmap of every group of `attribute`.

    Args:
        model: any model `kerasfer.explain.gradcam` accepts.
        data: a `FaceData` of roughly aligned faces.
        attribute: the protected attribute whose groups are compared.
        target: output explained: an int (an emotion index, or an Action Unit index for
            multi-label models) for every face, ``"label"`` for each face's annotated emotion,
            or None for each face's predicted output.
        max_per_group: faces per group (a random subset when a group has more).
        seed: seed of the subset.
        layer: the convolutional layer explained.

    Returns:
        Group name → mean heatmap (H, W) float32 in [0, 1].

    Example:
        >>> maps = group_heatmaps(model, test, "skin", target=kerasfer.EMOTIONS.index("happy"))  # doctest: +SKIP
        >>> diffs = difference_maps(maps)                                                        # doctest: +SKIP
    """
    out = {}
    for name, idx in group_indices(data, attribute, max_per_group=max_per_group, seed=seed).items():
        subset = data[idx]
        out[name] = gradcam(model, subset.load_images(), _targets_for(target, subset), layer=layer).mean(axis=0)
    return out


def group_mean_faces(data, attribute: str | None = None, *, max_per_group: int = 64, seed: int = 0):
    """Mean face image of every group of `attribute` (or of all faces), the background of overlays.

    Args:
        data: a `FaceData`.
        attribute: a protected attribute, or None for one mean over `max_per_group` random faces.
        max_per_group: faces averaged per group.
        seed: seed of the random choice (the same as `group_heatmaps` picks the same faces).

    Returns:
        Group name → float32 (H, W, C) image in 0-255, or one such image when `attribute` is None.
    """
    if attribute is None:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(len(data), size=min(max_per_group, len(data)), replace=False))
        return data[idx].load_images().astype(np.float32).mean(axis=0)
    return {name: data[idx].load_images().astype(np.float32).mean(axis=0)
            for name, idx in group_indices(data, attribute, max_per_group=max_per_group, seed=seed).items()}


def difference_maps(group_maps: dict) -> dict[str, np.ndarray]:
    """Pairwise differences of per-group mean heatmaps.

    Args:
        group_maps: group name → heatmap (H, W), as `group_heatmaps` returns.

    Returns:
        ``"a − b"`` → map a − b (values in [-1, 1]; positive where the model looks more at group a's
        faces) for every pair a before b in `group_maps` order.
    """
    if len(group_maps) < 2:
        raise ValueError(f"`group_maps` needs at least two groups to compare; got {list(group_maps)}.")
    shapes = {np.shape(m) for m in group_maps.values()}
    if len(shapes) != 1:
        raise ValueError(f"every map in `group_maps` must have the same shape; got {sorted(shapes)}.")
    maps = {name: np.asarray(m, np.float32) for name, m in group_maps.items()}
    return {f"{a}{DIFFERENCE_SEPARATOR}{b}": maps[a] - maps[b] for a, b in combinations(maps, 2)}


def _targets_for(target, subset):
    if target is None or isinstance(target, (int, np.integer)):
        return target
    if isinstance(target, str) and target == "label":
        if (subset.labels < 0).any():
            raise ValueError("target='label' needs every face labelled; some labels are unknown (-1).")
        return subset.labels
    raise ValueError(f"`target` must be None, an int (class or AU index) or 'label'; got {target!r}.")

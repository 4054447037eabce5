"""Intersectional groups of one or more protected attributes, in the data and in a batch.

Every group-aware part of kerasfer — label noise (one T_g per group), domain-independent heads (one
block per group), Group DRO (one weight per group × class cell) — names its attribute(s) the same
way: ``"skin"``, or a list such as ``["gender", "skin"]`` for their intersectional groups, indexed
row-major (``female/dark`` is gender 1 × 3 skin groups + skin 2 = 5).
"""

from __future__ import annotations

import itertools

import numpy as np
from keras import ops

from kerasfer.models.batch import group_indices


def default_attribute(names):
    """The protected attribute a group-aware method works on when none is named: ``"skin"`` when it is
    among `names`, else the first of them; None when there are none."""
    names = list(names)
    return "skin" if "skin" in names else (names[0] if names else None)


def attribute_names(spec, argument: str = "attribute") -> tuple[str, ...]:
    """The attribute(s) a setting names: ``"skin"`` → ``("skin",)``; a list → its tuple; None → ().

    Args:
        spec: None, an attribute name or a list of distinct names.
        argument: the parameter's name, for the error.

    Raises:
        ValueError: an empty list, a repeated name or a value that is not a name.
    """
    if spec is None:
        return ()
    names = (spec,) if isinstance(spec, str) else tuple(spec)
    if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise ValueError(f"`{argument}` must be None, an attribute name or a list of distinct attribute names; "
                         f"got {spec!r}.")
    return names


def group_sizes(spec, counts=None, argument: str = "attribute") -> tuple[int, ...]:
    """Groups of each attribute `spec` names, from `counts` or `kerasfer.ATTRIBUTES`.

    Args:
        spec: an attribute name, or several (their intersectional groups).
        counts: ``{attribute: groups}`` of the training data, if known (datasets group attributes
            their own way: RAF-DB has 5 age groups, SynthFaces 3).
        argument: the parameter's name, for the error.

    Returns:
        The number of groups of each attribute, in order.

    Raises:
        ValueError: an attribute is unknown.
    """
    from kerasfer.constants import ATTRIBUTES

    known = {**{name: len(groups) for name, groups in ATTRIBUTES.items()}, **(counts or {})}
    names = attribute_names(spec, argument)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"`{argument}` must name attributes among {sorted(known)}; got {unknown}.")
    return tuple(int(known[name]) for name in names)


def group_count(spec, counts=None, argument: str = "attribute") -> int:
    """Number of intersectional groups: the product of `group_sizes`."""
    return int(np.prod(group_sizes(spec, counts, argument)))


def group_index(batch, spec, sizes):
    """Each sample's intersectional group of the `spec` attributes (-1 where any is unknown).

    Args:
        batch: a batch dict with ``"attributes"``.
        spec: the attribute name(s).
        sizes: their group counts (`group_sizes`).

    Returns:
        (B,) int32 group indices in ``0..prod(sizes)-1``, row-major over the attributes.

    Raises:
        ValueError: the batch lacks one of the attributes.
    """
    attributes = batch.get("attributes", {}) if isinstance(batch, dict) else {}
    index, unknown = 0, None
    for name, size in zip(attribute_names(spec), sizes):
        if name not in attributes:
            raise ValueError(f"{spec!r} needs the batch attribute {name!r}; the batch has {sorted(attributes)} "
                             "(train on FaceData.dataset batches, which carry them).")
        group = group_indices(attributes[name], name, size)
        index = index * size + ops.maximum(group, 0)
        unknown = group < 0 if unknown is None else ops.logical_or(unknown, group < 0)
    return ops.where(unknown, -1, index)


def intersection_names(spec, group_names: dict, sizes) -> list[str]:
    """Names of the intersectional groups, in `group_index` order (``"dark"``, ``"female/dark"``).

    Args:
        spec: the attribute name(s).
        group_names: ``{attribute: names}`` of the data (`FaceData.group_names`); an attribute it lacks
            gets ``"0".."k"``.
        sizes: the group counts (`group_sizes`).

    Returns:
        One name per group.
    """
    columns = []
    for name, size in zip(attribute_names(spec), sizes):
        known = tuple(str(g) for g in group_names.get(name, ()))[:size]
        columns.append(known + tuple(str(g) for g in range(len(known), size)))  # unnamed groups: their index
    return ["/".join(combo) for combo in itertools.product(*columns)]


def intersection_label(spec) -> str:
    """The attribute(s) as one display name: ``"skin"`` or ``"gender×skin"``."""
    return "×".join(attribute_names(spec))

"""`FaceData`: the one container every reader returns and every model, audit and export consumes."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from kerasfer.constants import ACTION_UNITS, ATTRIBUTES, EMOTIONS, UNKNOWN
from kerasfer.data.errors import SkipReport


class FaceData:
    """Face images with emotion labels, Action Units and protected attributes.

    Build it from your own arrays, or get one from `make_synthfaces` or a dataset reader.
    Images are raw pixels (uint8, 0-255); models normalise inside their graph.

    Args:
        images: uint8 array of shape (N, H, W, C), C = 1 (grey) or 3 (RGB). May be None when
            `paths` is given: the images are then read from disk when needed.
        labels: int array (N,) of indices into `label_names`; -1 = unknown. None: all unknown.
        attributes: dict attribute name -> int array (N,) of group indices; -1 = unknown.
        aus: optional 0/1 array (N, K) of Action Unit labels in `au_names` order; -1 = unknown.
        paths: optional sequence of N image file paths (for data read lazily from disk).
        image_size: (H, W) of the images; required with `paths` and no `images`.
        channels: 1 or 3; required with `paths` and no `images`.
        group_names: dict attribute name -> tuple of group names. Defaults to
            `kerasfer.constants.ATTRIBUTES` for the known attributes, "0", "1", ... otherwise.
        label_names: names of the label indices, default `kerasfer.EMOTIONS`.
        au_names: names of the AU columns, default `kerasfer.ACTION_UNITS`.
        skipped: the `kerasfer.data.SkipReport` of the reader that built this data (what it left
            out under ``on_error="skip"``); an empty report by default. Kept by subsets.
        soft_labels: optional float array (N, len(label_names)) of label distributions, e.g. FER+'s
            ten annotators' votes (`kerasfer.data.read_ferplus` with ``labels="votes"``). Each
            row is normalised to sum to 1; a row of zeros means none is known (the hard `labels`
            are then used for that face). Models train on the distribution where it is given
            (Barsoum et al. 2016's cross-entropy mode).

    Example:
        >>> data = FaceData(images=np.zeros((2, 64, 64, 3), np.uint8), labels=[3, 6],
        ...                 attributes={"gender": [0, 1]})
        >>> len(data), data.image_shape
        (2, (64, 64, 3))
    """

    def __init__(
        self,
        images=None,
        labels=None,
        attributes: Mapping[str, Sequence[int]] | None = None,
        aus=None,
        *,
        paths: Sequence[str] | None = None,
        image_size: tuple[int, int] | None = None,
        channels: int | None = None,
        group_names: Mapping[str, Sequence[str]] | None = None,
        label_names: Sequence[str] = EMOTIONS,
        au_names: Sequence[str] = ACTION_UNITS,
        skipped=None,
        soft_labels=None,
    ):
        self.images = _check_images(images) if images is not None else None
        self.paths = None if paths is None else np.asarray([str(p) for p in paths], dtype=object)
        if self.images is None and self.paths is None:
            raise ValueError("FaceData needs `images` (an N×H×W×C uint8 array) or `paths`.")
        n = len(self.images) if self.images is not None else len(self.paths)
        if self.paths is not None and len(self.paths) != n:
            raise ValueError(f"`paths` has {len(self.paths)} entries but `images` has {n}.")
        if self.images is not None:
            self.image_size = tuple(self.images.shape[1:3])
            self.channels = int(self.images.shape[3])
        else:
            if image_size is None or channels not in (1, 3):
                raise ValueError(
                    "FaceData from `paths` needs `image_size=(H, W)` and `channels` (1 or 3); "
                    f"got image_size={image_size!r}, channels={channels!r}."
                )
            self.image_size = (int(image_size[0]), int(image_size[1]))
            self.channels = int(channels)
        self.label_names = tuple(label_names)
        self.au_names = tuple(au_names)
        self.labels = _check_int_array(
            "labels", np.full(n, UNKNOWN) if labels is None else labels, n, len(self.label_names)
        )
        self.attributes, self.group_names = _check_attributes(attributes or {}, group_names or {}, n)
        self.aus = None if aus is None else _check_aus(aus, n, len(self.au_names))
        self.skipped = SkipReport() if skipped is None else skipped
        self.soft_labels = None if soft_labels is None else _check_soft_labels(soft_labels, n, len(self.label_names))

    # ----------------------------------------------------------------------------------- basics
    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        attrs = ", ".join(f"{k}={len(v)} groups" for k, v in self.group_names.items())
        where = "in memory" if self.images is not None else "on disk"
        return (
            f"FaceData(n={len(self)}, image_shape={self.image_shape}, {where}, "
            f"labels={'yes' if (self.labels >= 0).any() else 'none'}, "
            f"aus={'yes' if self.aus is not None else 'none'}, "
            f"{'soft labels, ' if self.soft_labels is not None else ''}attributes: {attrs or 'none'})"
        )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every image."""
        return (*self.image_size, self.channels)

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Names of the protected attributes this data carries."""
        return tuple(self.attributes)

    def __getitem__(self, index) -> "FaceData":
        """A subset: `data[idx]` with an index array, boolean mask or slice."""
        index = np.arange(len(self))[index]
        return FaceData(
            images=None if self.images is None else self.images[index],
            labels=self.labels[index],
            attributes={k: v[index] for k, v in self.attributes.items()},
            aus=None if self.aus is None else self.aus[index],
            paths=None if self.paths is None else self.paths[index],
            image_size=self.image_size,
            channels=self.channels,
            group_names=self.group_names,
            label_names=self.label_names,
            au_names=self.au_names,
            skipped=self.skipped,
            soft_labels=None if self.soft_labels is None else self.soft_labels[index],
        )

    def group_labels(self, attribute: str) -> np.ndarray:
        """Group names of `attribute` per sample ("unknown" for -1), e.g. for pandas groupby."""
        self.check_attribute(attribute)
        names = np.asarray(self.group_names[attribute] + ("unknown",), dtype=object)
        return names[self.attributes[attribute]]  # index -1 picks "unknown"

    def check_attribute(self, attribute: str) -> None:
        """Raise ValueError naming the known attributes when `attribute` is not one of them."""
        if attribute not in self.attributes:
            raise ValueError(
                f"Unknown attribute {attribute!r}; this data has {sorted(self.attributes) or 'none'}."
            )

    def load_images(self) -> np.ndarray:
        """All images as one uint8 array (reads them from disk for lazily loaded data)."""
        if self.images is not None:
            return self.images
        from kerasfer.data.pipeline import read_image_files  # lazy: only path-based data needs it

        return read_image_files(self.paths, self.image_size, self.channels)

    # -------------------------------------------------------------------------------- tf.data
    def in_memory(self) -> "FaceData":
        """This data with its images in memory: itself if they are, else a copy with them read from disk once."""
        if self.images is not None:
            return self
        copy = self[:]
        copy.images = _check_images(self.load_images())
        return copy

    def dataset(
        self,
        batch_size: int,
        shuffle: bool = True,
        *,
        seed: int = 0,
        sample_weight=None,
        repeat: bool = False,
        drop_remainder: bool = False,
        augment=None,
        balance: str | None = None,
        cache=False,
    ):
        """A `tf.data.Dataset` of batch dicts ``{"image", "label", "aus", "attributes": {...}}``.

        Args:
            batch_size: samples per batch (> 0).
            shuffle: reshuffle every epoch (seeded by `seed`).
            seed: shuffle seed; same seed, same order.
            sample_weight: optional (N,) per-sample loss weights, added as ``"sample_weight"``
                (see `kerasfer.data.balanced_weights`).
            repeat: repeat forever (for step-based training).
            drop_remainder: drop the last incomplete batch.
            augment: optional Keras layer (or callable) applied to the float image batch in
                training, e.g. `kerasfer.data.default_augmentation()`.
            balance: None, or draw samples uniformly over cells: ``"label"`` (class-balanced),
                ``"group:ATTRIBUTE"`` (group-balanced) or ``"label+group:ATTRIBUTE"``; an epoch
                is still `len(data)` samples (see `kerasfer.data.sampling`).
            cache: cache decoded images of path-based data: True (in memory) or a file path
                prefix (on disk); False re-decodes every epoch.

        Returns:
            The dataset; images are float32 raw pixels 0-255, labels and attributes int32, AUs
            float32 (-1 where unknown).
        """
        from kerasfer.data.pipeline import make_dataset

        return make_dataset(
            self,
            batch_size,
            shuffle=shuffle,
            seed=seed,
            sample_weight=sample_weight,
            repeat=repeat,
            drop_remainder=drop_remainder,
            augment=augment,
            balance=balance,
            cache=cache,
        )

    def summary(self):
        """A pandas DataFrame of sample counts per attribute group and label."""
        import pandas as pd

        rows = []
        for name in self.attributes:
            groups = self.group_labels(name)
            for group in list(self.group_names[name]) + ["unknown"]:
                mask = groups == group
                if mask.any():
                    counts = np.bincount(self.labels[mask & (self.labels >= 0)], minlength=len(self.label_names))
                    rows.append({"attribute": name, "group": group, "count": int(mask.sum()),
                                 **dict(zip(self.label_names, counts.tolist()))})
        return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ validation
def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3:  # N×H×W grey
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"`images` must have shape (N, H, W, 1|3); got {images.shape}.")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.number):
            raise ValueError(f"`images` must be numeric pixel values; got dtype {images.dtype}.")
        finite = np.isfinite(images).reshape(len(images), -1).all(axis=1)
        if not finite.all():
            raise ValueError(f"`images[{np.flatnonzero(~finite)[0]}]` holds NaN or Inf; "
                             f"{int((~finite).sum())} image(s) in all are not finite.")
        outside = ((images < 0) | (images > 255)).reshape(len(images), -1).any(axis=1)
        if outside.any():
            raise ValueError(f"`images` must hold raw pixel values in 0..255 (uint8); `images[{np.flatnonzero(outside)[0]}]` "
                             "has values outside (did you pass normalised images? kerasfer models normalise inside).")
        images = np.round(images).astype(np.uint8)
    return images


def _check_int_array(name: str, values, n: int, num_values: int) -> np.ndarray:
    values = np.asarray(values)
    if values.shape != (n,):
        raise ValueError(f"`{name}` must have shape ({n},); got {values.shape}.")
    if values.size and not np.issubdtype(values.dtype, np.integer):
        try:
            numbers = values.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"`{name}` must hold integers; got {values.dtype} values.") from None
        bad = np.flatnonzero(~np.isfinite(numbers) | (numbers != np.round(numbers)))
        if bad.size:
            raise ValueError(f"`{name}` must hold integers; row {bad[0]} holds {numbers[bad[0]]} "
                             f"({bad.size} such row(s) in all).")
    values = values.astype(np.int32)
    bad = np.flatnonzero((values < UNKNOWN) | (values >= num_values))
    if bad.size:
        raise ValueError(
            f"`{name}` must be in -1..{num_values - 1}; row {bad[0]} holds {values[bad[0]]}."
        )
    return values


def _check_attributes(attributes, group_names, n):
    checked, names = {}, {}
    for name, values in attributes.items():
        values = np.asarray(values)
        if name in group_names:
            groups = tuple(group_names[name])
        elif name in ATTRIBUTES:
            groups = ATTRIBUTES[name]
        else:
            top = int(values.max()) if values.size else 0
            groups = tuple(str(i) for i in range(max(top + 1, 1)))
        checked[name] = _check_int_array(f"attributes[{name!r}]", values, n, len(groups))
        names[name] = groups
    return checked, names


def _check_soft_labels(soft, n: int, num_labels: int) -> np.ndarray:
    soft = np.asarray(soft, dtype=np.float64)
    if soft.shape != (n, num_labels):
        raise ValueError(f"`soft_labels` must have shape ({n}, {num_labels}); got {soft.shape}.")
    bad = np.flatnonzero(~np.isfinite(soft).all(axis=1) | (soft < 0).any(axis=1))
    if bad.size:
        raise ValueError(f"`soft_labels` must hold finite non-negative numbers; row {bad[0]} holds {soft[bad[0]].tolist()} "
                         f"({bad.size} such row(s) in all).")
    total = soft.sum(axis=1, keepdims=True)
    return np.divide(soft, total, out=np.zeros_like(soft), where=total > 0).astype(np.float32)


def _check_aus(aus, n: int, num_aus: int) -> np.ndarray:
    aus = np.asarray(aus)
    if aus.shape != (n, num_aus):
        raise ValueError(f"`aus` must have shape ({n}, {num_aus}); got {aus.shape}.")
    if not np.isin(aus, (-1, 0, 1)).all():
        raise ValueError("`aus` must hold 0 (absent), 1 (present) or -1 (unknown).")
    return aus.astype(np.int8)

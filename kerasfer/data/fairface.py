"""FairFace (Kärkkäinen & Joo, 2021) as released: face images with age, gender and race, no emotions.

Layout (``fairface-img-margin025-trainval`` or the 1.25 margin version, with the label CSVs)::

    train/1.jpg ...  val/1.jpg ...
    fairface_label_train.csv   fairface_label_val.csv
        columns file,age,gender,race,service_test   e.g. "train/1.jpg,50-59,Male,East Asian,True"

Labels are all unknown (-1): FairFace serves to train or audit an *attribute* classifier, e.g. to
estimate demographics for a FER dataset that has none (see `as_attribute_task`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasfer.data.errors import ErrorPolicy
from kerasfer.data.facedata import FaceData
from kerasfer.data.files import check_images, read_csv_rows
from kerasfer.data.sampling import split_indices

# FairFace's values exactly as its CSVs spell them, in group-index order.
FAIRFACE_CSV_VALUES = {
    "age": ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70"),
    "gender": ("Male", "Female"),
    "race": ("White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian", "Middle Eastern"),
}
# Group names in kerasfer (lower case, like kerasfer.ATTRIBUTES); CSV values match case-insensitively.
FAIRFACE_GROUPS = {k: tuple(v.lower() for v in values) for k, values in FAIRFACE_CSV_VALUES.items()}
FAIRFACE_FILES = {"train": "fairface_label_train.csv", "test": "fairface_label_val.csv"}


def read_fairface(root, split: str = "train", *, image_size: int = 64, channels: int = 3,
                  on_error: str = "raise", val_fraction: float = 0.0, seed: int = 0,
                  verify_images: bool = True) -> FaceData:
    """Read FairFace lazily (images stay on disk until the pipeline decodes them).

    Args:
        root: the folder holding ``train/``, ``val/`` and the two label CSVs.
        split: ``"train"`` (``fairface_label_train.csv``), ``"test"`` (FairFace's ``val`` set, its
            only held-out set), or ``"val"`` (a stratified, seeded part of train; needs
            `val_fraction` > 0).
        image_size: side of the images the pipeline yields.
        channels: 3 (RGB) or 1 (grey).
        on_error: ``"raise"`` or ``"skip"`` (see `kerasfer.data.errors`).
        val_fraction: share of train held out as ``"val"`` (stratified by gender × race).
        seed: seed of the val split.
        verify_images: decode every image once now, so corrupt files are caught here.

    Returns:
        A `FaceData` with `paths`, labels -1, attributes ``age``, ``gender``, ``race`` named as in
        `FAIRFACE_GROUPS`, and ``.skipped``.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"`split` must be 'train', 'val' or 'test'; got {split!r}.")
    if split == "val" and not val_fraction:
        raise ValueError("FairFace's held-out set is read as split='test'; pass val_fraction (e.g. 0.1) "
                         "to hold out a stratified part of train as split='val'.")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"FairFace folder not found: {root}")
    policy = ErrorPolicy(on_error, "FairFace")
    csv = root / FAIRFACE_FILES["test" if split == "test" else "train"]
    _, rows = read_csv_rows(csv, policy, required=("file", "age", "gender", "race"))
    lookup = {k: {v.lower(): i for i, v in enumerate(values)} for k, values in FAIRFACE_CSV_VALUES.items()}
    files, lines, codes = [], [], {k: [] for k in FAIRFACE_CSV_VALUES}
    for line, row in rows:
        bad = [k for k in lookup if row[k].lower() not in lookup[k]]
        if bad:
            k = bad[0]
            policy.fail(csv, line, "unknown attribute value",
                        f"{k} {row[k]!r} is not one of {list(FAIRFACE_CSV_VALUES[k])}")
            continue
        if not row["file"]:
            policy.fail(csv, line, "malformed row", "empty file name")
            continue
        files.append(row["file"])
        lines.append(line)
        for k in lookup:
            codes[k].append(lookup[k][row[k].lower()])
    lines = np.array(lines, np.int64)
    attributes = {k: np.array(v, np.int32) for k, v in codes.items()}
    if split != "test" and val_fraction:
        kept, held = split_indices(np.stack([attributes["gender"], attributes["race"]], 1), val_fraction, seed=seed)
        chosen = held if split == "val" else kept
        files, lines = [files[i] for i in chosen], lines[chosen]
        attributes = {k: v[chosen] for k, v in attributes.items()}
    paths = [root / f for f in files]
    ok = np.ones(len(paths), bool)
    if verify_images:
        ok = check_images(paths, lines, policy, sources=[csv] * len(paths), channels=channels)
    skipped = policy.finish()
    if not ok.any():
        raise ValueError(f"{csv}: no usable rows for split {split!r}.")
    return FaceData(paths=[str(p) for p, good in zip(paths, ok) if good], image_size=(image_size, image_size),
                    channels=channels, attributes={k: v[ok] for k, v in attributes.items()},
                    group_names=FAIRFACE_GROUPS, skipped=skipped)


def as_attribute_task(data: FaceData, attribute: str) -> FaceData:
    """The same faces with one attribute as the label, to train an attribute classifier.

    Args:
        data: a `FaceData` (e.g. from `read_fairface`).
        attribute: the attribute to predict, e.g. ``"gender"``.

    Returns:
        A `FaceData` whose labels are the attribute's groups (`label_names` = its group names).

    Example:
        >>> task = as_attribute_task(read_fairface(root), "race")            # doctest: +SKIP
        >>> model = EmotionClassifier(num_classes=len(task.label_names))     # doctest: +SKIP
    """
    data.check_attribute(attribute)
    return FaceData(images=data.images, labels=data.attributes[attribute], attributes=data.attributes,
                    paths=data.paths, image_size=data.image_size, channels=data.channels,
                    group_names=data.group_names, label_names=data.group_names[attribute],
                    skipped=data.skipped)

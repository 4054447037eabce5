"""Your own data as a folder of images + a CSV manifest, and AffectNet's CSVs, read into a `FaceData`.

Manifest columns (a header line is required; only the image path is mandatory):

- ``path`` (or ``pth``, ``file``, ``filename``, ``image``): image file, relative to the CSV's folder
  (or `root`) or absolute.
- ``label`` (or ``emotion``, ``expression``): an emotion name (``happy``, ``Happiness``,
  ``anger``... see `LABEL_ALIASES`) or an index 0..6 in `kerasfer.EMOTIONS` order; empty = unknown.
  ``contempt`` / ``none`` / ``uncertain`` rows are *excluded* (listed in ``data.skipped``).
- ``AU01``, ``AU2``, ``au12``...: Action Unit occurrence 0/1 (empty or -1 = unknown).
- ``split``: ``train`` / ``val`` / ``test`` (also ``training``, ``validation``, ``valid``, ``dev``,
  ``testing``). Without it, a seeded split stratified by label × first attribute is made.
- any other column: a protected attribute. For ``gender``, ``skin``, ``age`` the values are the
  group names of `kerasfer.ATTRIBUTES` or their indices (a value outside them is an error) —
  unless most of the column uses other values (e.g. age bins ``20-29``), which then become the
  groups. Other columns get their sorted distinct values (lower case) as groups, or ``"0".."k"``
  for integer codes. Empty, ``unknown``, ``-1``, ``nan`` = unknown.

AffectNet (``read_affectnet``): the official ``training.csv`` / ``validation.csv`` with
``subDirectory_filePath`` and ``expression`` (0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear,
5 disgust, 6 anger; 7 contempt, 8 none, 9 uncertain, 10 no-face are excluded), images under
``Manually_Annotated_Images/``. AffectNet's validation set is its only public held-out set and is
read as split ``"test"``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from kerasfer.constants import ACTION_UNITS, ATTRIBUTES, EMOTIONS
from kerasfer.data.errors import DataError, ErrorPolicy
from kerasfer.data.facedata import FaceData
from kerasfer.data.files import check_images, read_csv_rows
from kerasfer.data.sampling import split_indices

PATH_COLUMNS = ("path", "pth", "file", "filename", "image")
LABEL_COLUMNS = ("label", "emotion", "expression")
# Spellings of the 7 emotions found in public datasets -> canonical name (kerasfer.EMOTIONS).
LABEL_ALIASES = {
    **{name: name for name in EMOTIONS},
    "anger": "angry", "disgusted": "disgust", "fearful": "fear", "afraid": "fear", "happiness": "happy",
    "joy": "happy", "sadness": "sad", "surprised": "surprise", "neutrality": "neutral", "calm": "neutral",
}
# Valid labels that are not one of the 7 basic emotions: excluded, never errors.
EXCLUDED_LABELS = ("contempt", "none", "uncertain", "no-face", "non-face", "noface")
UNKNOWN_VALUES = ("", "unknown", "-1", "nan", "na", "n/a", "none")
SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "dev": "val", "test": "test", "testing": "test"}

# AffectNet code -> canonical emotion name (codes 7..10 are excluded).
AFFECTNET_EMOTIONS = {0: "neutral", 1: "happy", 2: "sad", 3: "surprise", 4: "fear", 5: "disgust", 6: "angry"}
AFFECTNET_TO_CANONICAL = {code: EMOTIONS.index(name) for code, name in AFFECTNET_EMOTIONS.items()}
AFFECTNET_EXCLUDED = {7: "contempt", 8: "none", 9: "uncertain", 10: "no-face"}
AFFECTNET_FILES = {"train": "training.csv", "test": "validation.csv"}

_AU = re.compile(r"^au\s*0*(\d{1,2})$", re.IGNORECASE)


def read_manifest(path, split: str = "train", *, root=None, image_size: int = 64, channels: int = 3,
                  attributes=None, on_error: str = "raise", val_fraction: float = 0.1, test_fraction: float = 0.2,
                  seed: int = 0, verify_images: bool = True) -> FaceData:
    """Read a manifest CSV of your own images (see the module docstring for the columns).

    Args:
        path: the CSV file.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        root: folder that relative image paths start from (default: the CSV's folder).
        image_size: side of the images the pipeline yields.
        channels: 3 (RGB) or 1 (grey).
        attributes: the columns to read as attributes (default: every column that is not path,
            label, split or an AU).
        on_error: ``"raise"`` or ``"skip"`` (see `kerasfer.data.errors`).
        val_fraction: without a ``split`` column, the share of rows in ``"val"``.
        test_fraction: without a ``split`` column, the share of rows in ``"test"``.
        seed: seed of that split (the same seed gives the same, disjoint splits).
        verify_images: decode every image of the split once now, so corrupt files are caught here.

    Returns:
        A lazily loaded `FaceData` with ``.skipped``; AUs in `kerasfer.ACTION_UNITS` order (-1 for
        the ones the CSV lacks) when every AU column is one of them, else in the CSV's order.

    Example:
        >>> data = read_manifest("my_faces/manifest.csv", "train")   # doctest: +SKIP
    """
    _check_split(split)
    path = Path(path)
    policy = ErrorPolicy(on_error, f"manifest {path.name}")
    columns, rows = read_csv_rows(path, policy)
    rows = list(rows)  # two passes: group names come from the whole file
    path_col = next((c for c in PATH_COLUMNS if c in columns), None)
    if path_col is None:
        raise DataError(path, 1, f"no image path column: the header needs one of {list(PATH_COLUMNS)}; got {columns}")
    label_col = next((c for c in LABEL_COLUMNS if c in columns), None)
    au_cols = {c: f"AU{int(m.group(1)):02d}" for c in columns if (m := _AU.match(c))}
    split_col = "split" if "split" in columns else None
    used = {path_col, label_col, split_col, *au_cols}
    if attributes is None:
        attributes = [c for c in columns if c not in used]
    missing = [a for a in attributes if a not in columns]
    if missing:
        raise ValueError(f"`attributes` {missing} are not columns of {path}; it has {columns}.")
    au_names = _au_names(list(au_cols.values()))
    group_names = {a: _groups(a, [row[a] for _, row in rows]) for a in attributes}

    records = []  # (line, image path, label, aus, {attribute: group}, split)
    for line, row in rows:
        record = _parse_row(row, line, path, policy, path_col=path_col, label_col=label_col, au_cols=au_cols,
                            au_names=au_names, split_col=split_col, group_names=group_names)
        if record is not None:
            records.append(record)
    base = Path(root) if root is not None else path.parent
    return _finish(records, split, base, path, policy, image_size=image_size, channels=channels,
                   group_names=group_names, au_names=au_names if au_cols else None, has_split=split_col is not None,
                   val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, verify_images=verify_images)


def read_affectnet(root, split: str = "train", *, image_size: int = 64, channels: int = 3, on_error: str = "raise",
                   val_fraction: float = 0.0, seed: int = 0, verify_images: bool = True) -> FaceData:
    """Read AffectNet's manually annotated set, or an AffectNet-style CSV (then as `read_manifest`).

    Args:
        root: the AffectNet folder (``training.csv``, ``validation.csv``,
            ``Manually_Annotated_Images/``), or a CSV file in manifest format.
        split: ``"train"`` (training.csv), ``"test"`` (validation.csv), or ``"val"`` (a seeded
            part of training.csv stratified by label; needs `val_fraction` > 0).
        image_size: side of the images the pipeline yields.
        channels: 3 (RGB) or 1 (grey).
        on_error: ``"raise"`` or ``"skip"`` (see `kerasfer.data.errors`).
        val_fraction: share of training.csv held out as ``"val"``.
        seed: seed of that split.
        verify_images: decode every image of the split once now.

    Returns:
        A lazily loaded `FaceData` with canonical labels and ``.skipped`` (which also lists the
        excluded contempt / none / uncertain / no-face rows).
    """
    _check_split(split)
    root = Path(root)
    if root.is_file():
        return read_manifest(root, split, image_size=image_size, channels=channels, on_error=on_error,
                             seed=seed, verify_images=verify_images)
    if not root.is_dir():
        raise FileNotFoundError(f"AffectNet folder not found: {root}")
    if split == "val" and not val_fraction:
        raise ValueError("AffectNet's validation.csv is read as split='test'; pass val_fraction (e.g. 0.1) "
                         "to hold out a stratified part of training.csv as split='val'.")
    policy = ErrorPolicy(on_error, "AffectNet")
    csv = root / AFFECTNET_FILES["test" if split == "test" else "train"]
    _, rows = read_csv_rows(csv, policy, required=("subDirectory_filePath", "expression"))
    records = []
    for line, row in rows:
        code = row["expression"]
        if not (code.isascii() and code.isdigit()) or int(code) not in {**AFFECTNET_EMOTIONS, **AFFECTNET_EXCLUDED}:
            policy.fail(csv, line, "unknown label", f"expression {code!r} is not an AffectNet code 0..10")
            continue
        if int(code) in AFFECTNET_EXCLUDED:
            policy.exclude(csv, line, f"excluded: {AFFECTNET_EXCLUDED[int(code)]}")
            continue
        records.append((line, row["subDirectory_filePath"], AFFECTNET_TO_CANONICAL[int(code)], None, {}, None))
    return _finish(records, "train" if split == "all" else split, root / "Manually_Annotated_Images", csv, policy,
                   image_size=image_size, channels=channels, group_names={}, au_names=None,
                   has_split=split == "test" or not val_fraction,
                   val_fraction=val_fraction, test_fraction=0.0, seed=seed, verify_images=verify_images,
                   fixed_split="test" if split == "test" else "train")


# -------------------------------------------------------------------------------------- helpers
def _check_split(split):
    if split not in ("train", "val", "test", "all"):
        raise ValueError(f"`split` must be 'train', 'val', 'test' or 'all'; got {split!r}.")


def _au_names(found):
    if len(set(found)) != len(found):
        raise ValueError(f"the manifest names the same Action Unit twice: {found}.")
    if all(au in ACTION_UNITS for au in found):
        return ACTION_UNITS
    return tuple(found)


def _groups(attribute, values):
    known = [v.lower() for v in values if v.lower() not in UNKNOWN_VALUES]
    if attribute in ATTRIBUTES:
        # A known attribute in kerasfer's vocabulary (typos are then errors), unless the column
        # mostly uses its own (e.g. age bins "20-29"): then its values become the groups.
        names = ATTRIBUTES[attribute]
        fits = sum(v in names or (v.isascii() and v.isdigit() and int(v) < len(names)) for v in known)
        if 2 * fits >= len(known):
            return names
    if known and all(v.isascii() and v.isdigit() for v in known):
        return tuple(str(i) for i in range(max(int(v) for v in known) + 1))
    return tuple(sorted({v.lower() for v in known})) or ("0",)


def _group_index(attribute, value, groups):
    value = value.lower()
    if value in UNKNOWN_VALUES:
        return -1
    if value in groups:
        return groups.index(value)
    if value.isascii() and value.isdigit() and int(value) < len(groups):
        return int(value)
    return None


def _parse_label(text):
    """Canonical index, -1 (unknown), 'excluded', or None (not a label)."""
    value = text.strip().lower()
    if value in ("", "-1", "unknown", "nan"):
        return -1
    if value in LABEL_ALIASES:
        return EMOTIONS.index(LABEL_ALIASES[value])
    if value in EXCLUDED_LABELS:
        return "excluded"
    if value.isascii() and value.isdigit() and int(value) < len(EMOTIONS):
        return int(value)
    return None


def _parse_row(row, line, path, policy, *, path_col, label_col, au_cols, au_names, split_col, group_names):
    image = row[path_col]
    if not image:
        policy.fail(path, line, "malformed row", f"empty {path_col!r}")
        return None
    label = -1
    if label_col is not None:
        label = _parse_label(row[label_col])
        if label is None:
            policy.fail(path, line, "unknown label",
                        f"{row[label_col]!r} is neither one of {list(EMOTIONS)} (or an alias) nor an index 0..6")
            return None
        if label == "excluded":
            policy.exclude(path, line, f"excluded: {row[label_col].strip().lower()}")
            return None
    aus = None
    if au_cols:
        aus = np.full(len(au_names), -1, np.int8)
        for column, au in au_cols.items():
            value = row[column].strip().lower()
            if value in ("1", "1.0"):
                aus[au_names.index(au)] = 1
            elif value in ("0", "0.0"):
                aus[au_names.index(au)] = 0
            elif value not in ("", "-1", "9", "nan"):
                policy.fail(path, line, "bad AU value", f"{column} = {row[column]!r}; use 0, 1 or empty/-1 (unknown)")
                return None
    groups = {}
    for attribute, names in group_names.items():
        index = _group_index(attribute, row[attribute], names)
        if index is None:
            policy.fail(path, line, "unknown attribute value",
                        f"{attribute} = {row[attribute]!r} is not one of {list(names)} (or an index)")
            return None
        groups[attribute] = index
    split = None
    if split_col is not None:
        split = SPLIT_ALIASES.get(row[split_col].lower())
        if split is None:
            policy.fail(path, line, "unknown split", f"split {row[split_col]!r} is not train / val / test")
            return None
    return line, image, label, aus, groups, split


def _finish(records, split, base: Path, source: Path, policy, *, image_size, channels, group_names, au_names,
            has_split, val_fraction, test_fraction, seed, verify_images, fixed_split=None):
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels!r}.")
    n = len(records)
    if has_split:
        splits = np.array([fixed_split or r[5] for r in records], dtype=object)
    else:
        splits = _make_splits(records, group_names, val_fraction, test_fraction, seed, fixed_split)
    chosen = np.flatnonzero((splits == split) | (split == "all")) if n else np.zeros(0, int)
    records = [records[i] for i in chosen]
    if not records:
        policy.finish()
        raise ValueError(f"{source}: no usable rows for split {split!r}.")
    lines = np.array([r[0] for r in records], np.int64)
    paths = [base / r[1] if not Path(r[1]).is_absolute() else Path(r[1]) for r in records]
    ok = np.ones(len(records), bool)
    if verify_images:
        ok = check_images(paths, lines, policy, sources=[source] * len(paths), channels=channels)
    skipped = policy.finish()
    if not ok.any():
        raise ValueError(f"{source}: none of the images of split {split!r} could be read; see the errors above.")
    keep = [r for r, good in zip(records, ok) if good]
    return FaceData(
        paths=[str(p) for p, good in zip(paths, ok) if good],
        image_size=(image_size, image_size),
        channels=channels,
        labels=[r[2] for r in keep],
        attributes={a: [r[4][a] for r in keep] for a in group_names},
        aus=None if au_names is None else np.stack([r[3] for r in keep]),
        group_names=group_names,
        au_names=au_names or ACTION_UNITS,
        skipped=skipped,
    )


def _make_splits(records, group_names, val_fraction, test_fraction, seed, fixed_split):
    """Seeded train/val/test assignment stratified by label × first attribute."""
    n = len(records)
    splits = np.full(n, fixed_split or "train", dtype=object)
    if n < 2:
        return splits
    first = next(iter(group_names), None)
    keys = np.array([[r[2]] + ([r[4][first]] if first else []) for r in records])
    rest = np.arange(n)
    if test_fraction:
        kept, held = split_indices(keys, test_fraction, seed=seed)
        splits[held] = "test"
        rest = kept
    if val_fraction and len(rest) >= 2:
        share = val_fraction / (1.0 - test_fraction)
        if not 0 < share < 1:
            raise ValueError(f"val_fraction + test_fraction must be below 1; got {val_fraction} + {test_fraction}.")
        kept, held = split_indices(keys[rest], share, seed=seed)
        splits[rest[held]] = "val"
    return splits

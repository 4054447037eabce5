"""A folder of class sub-folders (Keras' ``image_dataset_from_directory`` layout) read into a `FaceData`.

Layouts::

    faces/happy/001.jpg  faces/sad/...                    one folder per class: a seeded split
                                                          stratified by label is made
    faces/train/happy/001.jpg  faces/test/happy/...       split folders (Kaggle's FER2013 folder)
    faces/val/...                                         optional: without it, "val" is a seeded
                                                          stratified part of train/

Split folders may also be spelt ``training``, ``valid``, ``validation``, ``dev``, ``testing``.
Class folder names are emotion names or their aliases in any case (``Happy``, ``anger``,
``happiness``... see `kerasfer.data.manifest.LABEL_ALIASES`); ``contempt``, ``none``, ``uncertain``
and no-face folders are *excluded* image by image (listed in ``data.skipped``); any other folder
name is an error, so a mislabelled folder is never read as a class. Numbered folders (``0``..``6``)
are refused too: datasets number their classes differently (AffectNet's 0 is neutral). Image files
inside a class folder may sit in sub-folders; other files are listed as "not an image". Files
outside any class folder are ignored, as Keras does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasfer.constants import EMOTIONS
from kerasfer.data.errors import ErrorPolicy
from kerasfer.data.facedata import FaceData
from kerasfer.data.files import IMAGE_SUFFIXES, check_images
from kerasfer.data.manifest import EXCLUDED_LABELS, LABEL_ALIASES, SPLIT_ALIASES
from kerasfer.data.sampling import split_indices

# PIL modes of single-channel images (1-bit, 8-bit, with alpha, 16- and 32-bit grey).
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def read_folder(path, split: str = "train", *, image_size: int | None = 64, channels: int | None = None,
                on_error: str = "raise", val_fraction: float = 0.1, test_fraction: float = 0.2,
                seed: int = 0) -> FaceData:
    """Read a folder of class sub-folders into memory, every image decoded once now.

    See the module docstring for the layouts. Images are checked (`check_images`) and decoded
    into one uint8 array, so training never decodes them again.

    Args:
        path: the folder (holding class folders, or ``train/``, ``val/``, ``test/`` folders of them).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        image_size: side of the returned images (area averaging when shrinking, bilinear when
            enlarging); None: the images' own size, which must then be the same for all.
        channels: 1 (grey) or 3 (RGB); None: 1 when every image of the folder (all splits, so
            that they agree) is stored grey, else 3.
        on_error: ``"raise"`` or ``"skip"``: unknown class folders, missing or corrupt images
            (see `kerasfer.data.errors`).
        val_fraction: without a ``val/`` folder, the share of train (or of everything, without
            split folders) held out as ``"val"``; what ``"train"`` returns is then the rest.
        test_fraction: without split folders, the share of the images held out as ``"test"``.
        seed: seed of those splits (the same seed gives the same, disjoint splits).

    Returns:
        A `FaceData` with in-memory images, canonical labels, the image paths and ``.skipped``.

    Raises:
        FileNotFoundError: `path` is not a folder, or the split folder asked for is missing.

    Example:
        >>> train = read_folder("fer2013_kaggle", "train", image_size=48)   # doctest: +SKIP
        >>> val = read_folder("fer2013_kaggle", "val", image_size=48)       # doctest: +SKIP
    """
    if split not in ("train", "val", "test", "all"):
        raise ValueError(f"`split` must be 'train', 'val', 'test' or 'all'; got {split!r}.")
    if channels not in (None, 1, 3):
        raise ValueError(f"`channels` must be 1, 3 or None (from the images); got {channels!r}.")
    if image_size is not None and (not isinstance(image_size, (int, np.integer)) or image_size <= 0):
        raise ValueError(f"`image_size` must be a positive number of pixels or None; got {image_size!r}.")
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= fraction < 1:
            raise ValueError(f"`{name}` must be in [0, 1); got {fraction!r}.")
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    policy = ErrorPolicy(on_error, f"folder {root.name}")

    split_dirs = _split_folders(root, policy)
    if split_dirs:
        if split in ("train", "test") and split not in split_dirs:
            found = sorted(d.name for d in split_dirs.values())
            raise FileNotFoundError(f"no {split}/ folder in {root}; it has {found}")
        records = []  # (image path, label, split)
        for name, folder in split_dirs.items():
            records += [(p, y, name) for p, y in _class_images(folder, policy)]
        labels = np.array([r[1] for r in records], np.int64)
        splits = np.array([r[2] for r in records], dtype=object)
        if "val" not in split_dirs:
            train = np.flatnonzero(splits == "train")
            _hold_out(splits, train, labels, val_fraction, "val", seed, root)
    else:
        records = [(p, y, "train") for p, y in _class_images(root, policy)]
        labels = np.array([r[1] for r in records], np.int64)
        splits = np.array([r[2] for r in records], dtype=object)
        _hold_out(splits, np.arange(len(records)), labels, test_fraction, "test", seed, root)
        rest = np.flatnonzero(splits == "train")
        _hold_out(splits, rest, labels, val_fraction / (1.0 - test_fraction), "val", seed, root)

    if split == "val" and not (splits == "val").any():
        policy.finish()
        raise ValueError(f"{root}: no images for split 'val': without a val/ folder it is carved from train, "
                         f"so `val_fraction` must be > 0 (got {val_fraction}) and train must hold 2+ images.")
    if image_size is None or channels is None:
        size, grey = _sniff([r[0] for r in records])
        if image_size is None:
            if size is None:
                raise ValueError(f"{root}: the images are not all square and of one size; pass `image_size`.")
            image_size = size
        if channels is None:
            channels = 1 if grey else 3

    chosen = [r for r, s in zip(records, splits) if split in ("all", s)]
    if not chosen:
        policy.finish()
        raise ValueError(f"{root}: no usable images for split {split!r}.")
    paths = [str(r[0]) for r in chosen]
    ok = check_images(paths, None, policy, channels=channels)
    skipped = policy.finish()
    if not ok.any():
        raise ValueError(f"{root}: none of the images of split {split!r} could be read; see the errors above.")
    from kerasfer.data.pipeline import read_image_files

    paths = [p for p, good in zip(paths, ok) if good]
    return FaceData(
        images=read_image_files(paths, (int(image_size), int(image_size)), channels),
        labels=[r[1] for r, good in zip(chosen, ok) if good],
        paths=paths,
        skipped=skipped,
    )


# -------------------------------------------------------------------------------------- helpers
def _split_folders(root: Path, policy) -> dict:
    """{split: folder} of `root`'s split folders; empty when `root` holds class folders."""
    folders = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    splits = {}
    for folder in folders:
        name = SPLIT_ALIASES.get(folder.name.lower())
        if name is None:
            continue
        if name in splits:
            raise ValueError(f"{root} has two {name} folders: {splits[name].name}/ and {folder.name}/.")
        splits[name] = folder
    if splits:
        for folder in folders:
            if folder.name.lower() not in SPLIT_ALIASES:
                policy.fail(folder, 0, "unknown folder",
                            f"{folder.name!r} is not a split folder (train / val / test) beside {sorted(splits)}")
    return splits


def _class_images(folder: Path, policy) -> list:
    """``[(image path, canonical label)]`` of the class folders in `folder`, in sorted order."""
    images = []
    classes = [d for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    if not classes:
        raise ValueError(f"{folder} holds no class folders (e.g. {folder}/happy/*.jpg).")
    for class_dir in classes:
        name = class_dir.name.strip().lower()
        files = sorted(p for p in class_dir.rglob("*") if p.is_file())
        if name in LABEL_ALIASES:
            label = EMOTIONS.index(LABEL_ALIASES[name])
        elif name in EXCLUDED_LABELS:
            for p in files:
                policy.exclude(p, 0, f"excluded: {name}")
            continue
        else:
            policy.fail(class_dir, 0, "unknown folder",
                        f"{class_dir.name!r} is neither one of {list(EMOTIONS)} (or an alias) nor one of "
                        f"{list(EXCLUDED_LABELS)}; its {len(files)} file(s) are left out")
            continue
        for p in files:
            if p.suffix.lower() in IMAGE_SUFFIXES:
                images.append((p, label))
            else:
                policy.exclude(p, 0, "not an image", f"{p.name}: suffix not one of {list(IMAGE_SUFFIXES)}")
    return images


def _hold_out(splits, index, labels, fraction, name, seed, root) -> None:
    """Mark a seeded part of `index`, stratified by label, as split `name` (in place)."""
    if not fraction or len(index) < 2:
        return
    if not 0 < fraction < 1:
        raise ValueError(f"{root}: val_fraction + test_fraction must be below 1.")
    _, held = split_indices(labels[index][:, None], fraction, seed=seed)
    splits[index[held]] = name


def _sniff(paths):
    """``(common size or None, all grey)`` from the image headers (PIL reads no pixels here)."""
    from PIL import Image

    sizes, grey = set(), True
    for p in paths:
        try:
            with Image.open(p) as image:
                sizes.add(image.size)
                grey &= image.mode in GREY_MODES
        except Exception:  # unreadable: `check_images` reports it if it is in the split read
            continue
    square = {w for w, h in sizes if w == h}
    return (square.pop() if len(sizes) == 1 and square else None), grey

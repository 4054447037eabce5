"""FER2013 (Kaggle, ICML 2013 challenge) as released: 48×48 grey faces, no demographics.

Layouts:

- ``fer2013.csv`` with columns ``emotion,pixels,Usage`` (Kaggle's ``icml_face_data.csv`` writes
  `` Usage`` and `` pixels`` with a leading space; both are read). ``pixels`` holds 2304
  space-separated values 0..255; ``Usage`` is ``Training``, ``PublicTest`` or ``PrivateTest``.
- Kaggle's folder of JPEGs: ``train/<emotion>/*.jpg`` (the Training rows) and
  ``test/<emotion>/*.jpg`` (PublicTest and PrivateTest together), read with `kerasfer.data.read_folder`. It has no validation set: split ``"val"`` is then a
  seeded stratified 10% of ``train/``, which ``"train"`` leaves out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasfer.constants import EMOTIONS
from kerasfer.data.errors import ErrorPolicy
from kerasfer.data.facedata import FaceData
from kerasfer.data.files import read_csv_rows
from kerasfer.data.folder import read_folder

# FER2013 code -> canonical emotion name: FER2013's order *is* the canonical order.
FER2013_EMOTIONS = dict(enumerate(EMOTIONS))
FER2013_TO_CANONICAL = {code: EMOTIONS.index(name) for code, name in FER2013_EMOTIONS.items()}

# kerasfer split -> FER2013 Usage value (PublicTest is the customary validation set).
FER2013_SPLITS = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
NATIVE_SIZE = 48


def read_fer2013(path, split: str = "train", *, image_size: int | None = None, channels: int = 1,
                 on_error: str = "raise") -> FaceData:
    """Read FER2013 into memory (35,887 faces of 48×48 take 83 MB).

    Args:
        path: the ``fer2013.csv`` file, or Kaggle's folder with ``train/`` and ``test/`` (see the
            module docstring).
        split: ``"train"`` (Usage Training), ``"val"`` (PublicTest), ``"test"`` (PrivateTest) or
            ``"all"``. For the folder: ``train/`` less the ``"val"`` share, a seeded stratified
            10% of ``train/`` (the folder has no validation set), or ``test/``.
        image_size: side of the returned images (default 48; resized with area averaging).
        channels: 1 (grey, as released) or 3 (grey copied to RGB).
        on_error: ``"raise"`` or ``"skip"``: malformed rows, bad pixel strings, unknown emotion
            codes or Usage values; for the folder, unknown class folders and missing or corrupt
            images (see `kerasfer.data.errors`).

    Returns:
        A `FaceData` with in-memory images, canonical labels, no attributes and ``.skipped``.

    Example:
        >>> train = read_fer2013("fer2013.csv", "train")   # doctest: +SKIP
        >>> val = read_fer2013("fer2013_kaggle/", "val")     # doctest: +SKIP
    """
    if split not in (*FER2013_SPLITS, "all"):
        raise ValueError(f"`split` must be one of {[*FER2013_SPLITS, 'all']}; got {split!r}.")
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels!r}.")
    if Path(path).is_dir():
        return read_folder(path, split, image_size=image_size, channels=channels, on_error=on_error)
    policy = ErrorPolicy(on_error, "FER2013")
    _, rows = read_csv_rows(path, policy, required=("emotion", "pixels", "Usage"))
    images, labels = [], []
    for line, row in rows:
        usage = row["Usage"]
        if usage not in FER2013_SPLITS.values():
            policy.fail(path, line, "unknown split", f"Usage {usage!r} is not one of {list(FER2013_SPLITS.values())}")
            continue
        if split != "all" and usage != FER2013_SPLITS[split]:
            continue
        code = row["emotion"]
        if not (code.isascii() and code.isdigit()) or int(code) not in FER2013_TO_CANONICAL:
            policy.fail(path, line, "unknown label", f"emotion {code!r} is not a FER2013 code 0..6")
            continue
        pixels = _pixels(row["pixels"])
        if pixels is None:
            policy.fail(path, line, "bad pixels",
                        f"expected {NATIVE_SIZE * NATIVE_SIZE} integers 0..255 separated by spaces")
            continue
        images.append(pixels)
        labels.append(FER2013_TO_CANONICAL[int(code)])
    skipped = policy.finish()
    if not images:
        raise ValueError(f"{path}: no usable rows for split {split!r}.")
    images = np.stack(images).reshape(-1, NATIVE_SIZE, NATIVE_SIZE, 1)
    images = _resize(images, int(image_size or NATIVE_SIZE))
    if channels == 3:
        images = np.repeat(images, 3, axis=-1)
    return FaceData(images=images, labels=labels, skipped=skipped)


def _pixels(text: str):
    values = text.split()
    if len(values) != NATIVE_SIZE * NATIVE_SIZE or not all(v.isascii() and v.isdigit() for v in values):
        return None
    pixels = np.array(values, dtype=np.int64)
    if pixels.max() > 255:
        return None
    return pixels.astype(np.uint8)


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    if size == images.shape[1]:
        return images
    import cv2

    interpolation = cv2.INTER_AREA if size < images.shape[1] else cv2.INTER_LINEAR
    return np.stack([cv2.resize(img[..., 0], (size, size), interpolation=interpolation) for img in images])[..., None]

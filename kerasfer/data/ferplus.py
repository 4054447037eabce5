"""FER+ (Microsoft's relabelling of FER2013 by 10 annotators per face) as released, read into a `FaceData`.

Layout (what Microsoft's ``generate_training_data.py`` writes)::

    FER2013Train/  FER2013Valid/  FER2013Test/       splits "train", "val", "test"
        fer0000000.png ...                           48×48 grey PNGs
        label.csv                                    no header; one row per face:
            fer0000000.png,"(0, 0, 48, 48)",4,0,0,1,3,2,0,0,0,0

After the file name and the face box come the 10 annotators' vote counts for neutral, happiness,
surprise, sadness, anger, disgust, fear, contempt, unknown and NF (not a face), in that order.

Label modes (``labels=``):

- ``"majority"``: the plurality of the 10 votes. A face is excluded when the top count is tied
  ("tie"), when the top is unknown ("unknown majority") or NF ("not a face"), or when it is
  contempt ("contempt", outside the 7 emotions as in `read_affectnet`). Kept: 26,775 train,
  3,370 val and 3,344 test faces.
- ``"votes"``: the votes as label distributions (``data.soft_labels``, Barsoum et al. 2016).
  Every face is kept except those whose top count (ties included) is unknown or NF and those
  whose unique top is contempt; contempt / unknown / NF votes are dropped from the distribution.
  ``data.labels`` is the majority label where there is one, else -1. Kept: 27,985 train, 3,500
  val and 3,495 test faces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasfer.constants import EMOTIONS
from kerasfer.data.errors import ErrorPolicy
from kerasfer.data.facedata import FaceData
from kerasfer.data.files import check_images, read_csv_rows

# label.csv's vote columns, in file order; the first 7 are the basic emotions.
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                   "unknown", "NF")
FERPLUS_EMOTIONS = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
                    "anger": "angry", "disgust": "disgust", "fear": "fear"}
# Vote column -> canonical emotion index (kerasfer.EMOTIONS); contempt, unknown and NF have none.
FERPLUS_TO_CANONICAL = {FERPLUS_COLUMNS.index(name): EMOTIONS.index(canonical)
                        for name, canonical in FERPLUS_EMOTIONS.items()}
CONTEMPT, UNKNOWN_VOTE, NOT_A_FACE = 7, 8, 9

FERPLUS_SPLITS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
LABEL_MODES = ("majority", "votes")
NATIVE_SIZE = 48

_ROW = ("image", "box", *FERPLUS_COLUMNS)


def read_ferplus(path, split: str = "train", *, labels: str = "majority", image_size: int | None = None,
                 channels: int = 1, on_error: str = "raise") -> FaceData:
    """Read FER+ into memory, every image decoded once now (28,558 training PNGs take a few seconds).

    See the module docstring for the layout and for what each label mode keeps.

    Args:
        path: the folder holding ``FER2013Train/``, ``FER2013Valid/`` and ``FER2013Test/``.
        split: ``"train"``, ``"val"`` (FER2013Valid), ``"test"`` or ``"all"`` (the three in that order).
        labels: ``"majority"`` (hard plurality labels; ties, unknown, not-a-face and contempt
            faces are excluded) or ``"votes"`` (the 7 emotions' votes as ``soft_labels``, hard
            labels where a unique majority exists, else -1).
        image_size: side of the returned images (default 48; area averaging when shrinking,
            bilinear when enlarging).
        channels: 1 (grey, as released) or 3 (grey copied to RGB).
        on_error: ``"raise"`` or ``"skip"``: malformed rows, bad or missing votes, missing or
            corrupt images, each named by label.csv and line (see `kerasfer.data.errors`).

    Returns:
        A `FaceData` with in-memory uint8 images, canonical labels, ``soft_labels`` (with
        ``labels="votes"``) and ``.skipped``, which lists every face left out — the excluded ones
        with reason ``"tie"``, ``"unknown majority"``, ``"not a face"`` or ``"contempt"``.

    Raises:
        FileNotFoundError: the folder, a split folder or its label.csv is missing.

    Example:
        >>> train = read_ferplus("FERPlus/data", "train")                    # doctest: +SKIP
        >>> soft = read_ferplus("FERPlus/data", "train", labels="votes")     # doctest: +SKIP
        >>> soft.soft_labels.shape                                            # doctest: +SKIP
        (27985, 7)
    """
    if split not in (*FERPLUS_SPLITS, "all"):
        raise ValueError(f"`split` must be one of {[*FERPLUS_SPLITS, 'all']}; got {split!r}.")
    if labels not in LABEL_MODES:
        raise ValueError(f"`labels` must be one of {LABEL_MODES}; got {labels!r}.")
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels!r}.")
    size = int(image_size or NATIVE_SIZE)
    if size <= 0:
        raise ValueError(f"`image_size` must be a positive number of pixels; got {image_size!r}.")
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"FER+ folder not found: {root}")
    folders = [root / FERPLUS_SPLITS[s] for s in (FERPLUS_SPLITS if split == "all" else [split])]
    for folder in folders:
        if not folder.is_dir():
            raise FileNotFoundError(f"FER+ split folder not found: {folder} (expected {list(FERPLUS_SPLITS.values())})")
        if not (folder / "label.csv").is_file():
            raise FileNotFoundError(f"FER+ label file not found: {folder / 'label.csv'}")

    policy = ErrorPolicy(on_error, "FER+")
    records = []  # (label.csv, line, image path, hard label, votes of the 7 emotions in canonical order)
    for folder in folders:
        label_csv = folder / "label.csv"
        _, rows = read_csv_rows(label_csv, policy, names=_ROW)
        for line, row in rows:
            record = _parse_row(row, line, label_csv, policy, labels)
            if record is not None:
                records.append((label_csv, line, folder / record[0], *record[1:]))
    if not records:
        policy.finish()
        raise ValueError(f"{root}: no usable faces for split {split!r}; see data.skipped or the errors above.")

    sources = [r[0] for r in records]
    lines = np.array([r[1] for r in records], np.int64)
    paths = [str(r[2]) for r in records]
    images, ok = _decode(paths, lines, sources, policy, size, channels)
    skipped = policy.finish()
    if not ok.any():
        raise ValueError(f"{root}: none of the images of split {split!r} could be read; see the errors above.")
    kept = [r for r, good in zip(records, ok) if good]
    return FaceData(
        images=images,
        labels=[r[3] for r in kept],
        paths=[p for p, good in zip(paths, ok) if good],
        soft_labels=np.stack([r[4] for r in kept]) if labels == "votes" else None,
        skipped=skipped,
    )


# -------------------------------------------------------------------------------------- helpers
def _parse_row(row, line, label_csv, policy, mode):
    """``(image name, hard label, canonical votes)`` of one label.csv row, or None (reported to `policy`)."""
    if not row["image"]:
        policy.fail(label_csv, line, "malformed row", "empty image file name")
        return None
    texts = [row[c] for c in FERPLUS_COLUMNS]
    if not all(t.isascii() and t.isdigit() for t in texts):
        policy.fail(label_csv, line, "bad votes",
                    f"the 10 vote counts must be integers >= 0 ({', '.join(FERPLUS_COLUMNS)}); got {texts}")
        return None
    votes = np.array(texts, dtype=np.int64)
    top = votes.max()
    if top == 0:
        policy.fail(label_csv, line, "no votes", f"{row['image']}: all 10 vote counts are 0")
        return None
    tops = np.flatnonzero(votes == top)
    names = ", ".join(FERPLUS_COLUMNS[i] for i in tops)
    reason = None
    if mode == "majority" and len(tops) > 1:
        reason = "tie"
    elif NOT_A_FACE in tops:  # in "votes" mode ties count too: half the annotators saw no face
        reason = "not a face"
    elif UNKNOWN_VOTE in tops:
        reason = "unknown majority"
    elif tops.tolist() == [CONTEMPT]:
        reason = "contempt"
    if reason is not None:
        policy.exclude(label_csv, line, reason, f"{row['image']}: top count {top} of 10 for {names}")
        return None
    label = FERPLUS_TO_CANONICAL[int(tops[0])] if len(tops) == 1 else -1
    soft = np.zeros(len(EMOTIONS), np.float32)
    for column, index in FERPLUS_TO_CANONICAL.items():
        soft[index] = votes[column]
    # Every face still here has an emotion vote: its top is one of the 7 (a tie with contempt at
    # most), so no soft label row is all zeros.
    return row["image"], label, soft


def _decode(paths, lines, sources, policy, size: int, channels: int):
    """Decode and resize every image once, in parallel, with the pipeline's own decoder.

    Only the images that fail are decoded again (by `check_images`) for an error naming the
    label file, the line and the cause.

    Returns:
        ``(images, ok)``: uint8 array (n_ok, size, size, channels) and the (N,) mask of the
        images that decoded.
    """
    import tensorflow as tf

    from kerasfer.data.pipeline import _path_decoder  # the pipeline's decode + area/bilinear resize

    n = len(paths)
    ds = tf.data.Dataset.from_tensor_slices({"index": np.arange(n), "path": np.asarray(paths, dtype=str)})
    ds = ds.map(_path_decoder((size, size), channels), num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    images = np.empty((n, size, size, channels), np.uint8)
    ok = np.zeros(n, bool)
    for batch in ds.batch(512).as_numpy_iterator():
        images[batch["index"]] = batch["image"]
        ok[batch["index"]] = True
    failed = np.flatnonzero(~ok)
    if failed.size:
        readable = check_images([paths[i] for i in failed], lines[failed], policy,
                                sources=[sources[i] for i in failed], channels=channels)
        for i in failed[readable]:  # decodes, yet failed above: nothing known does this, but never drop silently
            policy.fail(sources[i], lines[i], "corrupt image", f"{paths[i]} cannot be decoded and resized")
    return images[ok], ok

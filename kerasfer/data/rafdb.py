"""RAF-DB (Real-world Affective Faces, basic emotion subset) as released, read into a `FaceData`.

Layout (the ``basic/`` folder of the release; `root` may be that folder or its parent)::

    EmoLabel/list_patition_label.txt        (sic; list_partition_label.txt is accepted too)
                                            rows "<image_name> <label 1..7>", e.g. "train_00001.jpg 5"
    Image/aligned/train_00001_aligned.jpg   100×100 aligned faces (5 digits for train, 4 for test)
    Image/aligned.zip                       ... or the zip as released (members aligned/*.jpg)
    Image/original/train_00001.jpg          the original photos (optional)
    Annotation/manual/train_00001_manu_attri.txt
    Annotation/manual.zip                   ... or the zip as released
        5 lines "x<TAB>y" (left eye, right eye, nose, left and right mouth corner, in the
        original image), then gender (0 male, 1 female, 2 unsure), race (0 Caucasian,
        1 African-American, 2 Asian), age (0: 0-3, 1: 4-19, 2: 20-39, 3: 40-69, 4: 70+).

Zips: an image zip is extracted once, on the first read, next to the zip (``Image/aligned/``,
exactly what ``unzip`` would make) or into `extract_dir`; it is extracted into a scratch folder
that is renamed when complete, so an interrupted extraction is redone, never half-used. The
pipeline then reads plain files in parallel. Annotation zips are small and read in place.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import numpy as np

from kerasfer.constants import EMOTIONS
from kerasfer.data.errors import DataError, ErrorPolicy
from kerasfer.data.facedata import FaceData
from kerasfer.data.files import check_images
from kerasfer.data.sampling import split_indices

# RAF-DB code -> canonical emotion name (kerasfer.EMOTIONS).
RAFDB_EMOTIONS = {1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "angry", 7: "neutral"}
RAFDB_TO_CANONICAL = {code: EMOTIONS.index(name) for code, name in RAFDB_EMOTIONS.items()}

# The attributes of RAF-DB's manual annotations, in their code order (gender 2 "unsure" -> -1).
RAFDB_GROUPS = {
    "gender": ("male", "female"),
    "race": ("caucasian", "african-american", "asian"),
    "age": ("0-3", "4-19", "20-39", "40-69", "70+"),
}

LABEL_FILES = ("list_patition_label.txt", "list_partition_label.txt")
NATIVE_SIZE = 100

# Where the 5 RAF-DB landmarks sit in a 112×112 aligned face (the ArcFace / InsightFace template);
# `align_face` scales it to the output size.
FIVE_POINT_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    np.float32,
) / 112.0

_NAME = re.compile(r"^(train|test)_\d+\.(jpg|jpeg|png)$", re.IGNORECASE)


def read_rafdb(root, split: str = "train", *, variant: str = "aligned", align: bool = False,
               image_size: int | None = None, channels: int = 3, attributes: bool = True,
               on_error: str = "raise", val_fraction: float = 0.0, seed: int = 0,
               verify_images: bool = True, extract_dir=None, cache_dir=None) -> FaceData:
    """Read RAF-DB basic, lazily (images stay on disk until the pipeline decodes them).

    Args:
        root: the RAF-DB ``basic`` folder (or a folder holding ``basic/``).
        split: ``"train"`` or ``"test"`` (RAF-DB's own partition), ``"val"`` (a stratified,
            seeded part of train; needs `val_fraction` > 0) or ``"all"``.
        variant: ``"aligned"`` (``Image/aligned``, 100×100) or ``"original"`` (``Image/original``).
        align: with ``variant="original"``, re-align each photo with its 5 manual landmarks
            (similarity transform, `align_face`) into `cache_dir` and read those.
        image_size: side of the images the pipeline yields (default 100, RAF-DB's own).
        channels: 3 (RGB) or 1 (grey).
        attributes: read gender / race / age from ``Annotation/manual``; False skips them.
        on_error: ``"raise"`` or ``"skip"`` (see `kerasfer.data.errors`).
        val_fraction: share of RAF-DB's train partition held out as ``"val"`` (stratified by
            label × race); with 0 (default) ``"train"`` is the full official partition.
        seed: seed of the val split.
        verify_images: decode every image once now, so corrupt files are caught here.
        extract_dir: where to extract image zips (default: beside the zip).
        cache_dir: where re-aligned images go (default ``Image/realigned`` under `root`); files
            already there are reused, delete the folder to re-align.

    Returns:
        A `FaceData` with `paths`, canonical `labels`, attributes ``gender``, ``race`` and ``age``
        with `RAFDB_GROUPS` names (-1 = unknown / unsure) and ``.skipped``.

    Example:
        >>> train = read_rafdb("/data/RAF-DB/basic", "train", image_size=64)   # doctest: +SKIP
    """
    if split not in ("train", "val", "test", "all"):
        raise ValueError(f"`split` must be 'train', 'val', 'test' or 'all'; got {split!r}.")
    if variant not in ("aligned", "original"):
        raise ValueError(f"`variant` must be 'aligned' or 'original'; got {variant!r}.")
    if align and variant != "original":
        raise ValueError("`align=True` re-aligns the original photos; use it with variant='original'.")
    if split == "val" and not val_fraction:
        raise ValueError("RAF-DB has no validation partition; pass val_fraction (e.g. 0.1) to hold out "
                         "a stratified part of train as split='val'.")
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels!r}.")
    root = _find_root(Path(root))
    policy = ErrorPolicy(on_error, "RAF-DB")
    label_file, names, codes, lines = _read_labels(root, policy)
    labels = np.array([RAFDB_TO_CANONICAL[c] for c in codes], np.int32)

    keep = np.array([split == "all" or n.lower().startswith("test_" if split == "test" else "train_") for n in names],
                    dtype=bool)
    names, labels, lines = [names[i] for i in np.flatnonzero(keep)], labels[keep], lines[keep]

    attrs, landmarks = {}, None
    if attributes or align:
        attrs, landmarks, ok = _read_annotations(root, names, policy)
        names, labels, lines = [names[i] for i in np.flatnonzero(ok)], labels[ok], lines[ok]
        attrs = {k: v[ok] for k, v in attrs.items()} if attributes else {}
        landmarks = landmarks[ok]

    if split in ("train", "val") and val_fraction:
        keys = np.stack([labels] + ([attrs["race"]] if "race" in attrs else []), axis=1)
        kept, held = split_indices(keys, val_fraction, seed=seed)
        chosen = held if split == "val" else kept
        names, labels, lines = [names[i] for i in chosen], labels[chosen], lines[chosen]
        attrs = {k: v[chosen] for k, v in attrs.items()}
        landmarks = None if landmarks is None else landmarks[chosen]

    folder = _image_folder(root, variant, extract_dir)
    stems = [Path(n).stem for n in names]
    if variant == "aligned":
        paths = [folder / f"{s}_aligned.jpg" for s in stems]
    else:
        paths = [folder / n for n in names]
    ok = np.ones(len(paths), bool)
    if verify_images or align:
        ok = check_images(paths, lines, policy, sources=[label_file] * len(paths), channels=channels)
    if align:
        out = Path(cache_dir) if cache_dir is not None else root / "Image" / "realigned"
        paths = _realign(paths, landmarks, ok, out, policy, label_file, lines)
        ok &= np.array([p is not None for p in paths])

    index = np.flatnonzero(ok)
    size = int(image_size or NATIVE_SIZE)
    return FaceData(
        paths=[str(paths[i]) for i in index],
        image_size=(size, size),
        channels=channels,
        labels=labels[index],
        attributes={k: v[index] for k, v in attrs.items()},
        group_names=RAFDB_GROUPS,
        skipped=policy.finish(),
    )


def align_face(image: np.ndarray, landmarks, size: int = NATIVE_SIZE) -> np.ndarray:
    """Warp a face so its 5 landmarks land on `FIVE_POINT_TEMPLATE` (similarity transform).

    Args:
        image: H×W×C uint8 photo.
        landmarks: (5, 2) x, y of left eye, right eye, nose tip, left and right mouth corner.
        size: side of the square output.

    Returns:
        The aligned size×size×C face.
    """
    import cv2

    landmarks = np.asarray(landmarks, np.float32).reshape(5, 2)
    matrix, _ = cv2.estimateAffinePartial2D(landmarks, FIVE_POINT_TEMPLATE * size, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError(f"cannot fit a similarity transform to landmarks {landmarks.tolist()}.")
    out = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(size, size, -1) if image.ndim == 3 else out


# -------------------------------------------------------------------------------------- helpers
def _find_root(root: Path) -> Path:
    if not root.is_dir():
        raise FileNotFoundError(f"RAF-DB folder not found: {root}")
    for candidate in (root, root / "basic"):
        if any((candidate / "EmoLabel" / f).is_file() for f in LABEL_FILES):
            return candidate
    raise FileNotFoundError(f"{root} is not a RAF-DB folder: expected EmoLabel/{LABEL_FILES[0]} "
                            f"(or {LABEL_FILES[1]}) in it or in {root / 'basic'}.")


def _read_labels(root: Path, policy: ErrorPolicy):
    label_file = next(root / "EmoLabel" / f for f in LABEL_FILES if (root / "EmoLabel" / f).is_file())
    names, codes, lines, seen = [], [], [], {}
    try:
        text = label_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:  # a binary label file is unusable as a whole, whatever on_error says
        raise DataError(label_file, 0, f"not a UTF-8 text file ({err.reason} at byte {err.start})") from None
    for line, row in enumerate(text.splitlines(), start=1):
        fields = row.split()
        if not fields:
            continue
        if len(fields) != 2:
            policy.fail(label_file, line, "malformed row", f"expected '<image_name> <label 1..7>', got {row.strip()!r}")
            continue
        name, code = fields
        if not _NAME.match(name):
            policy.fail(label_file, line, "malformed row",
                        f"image name {name!r} is not train_NNNNN.jpg / test_NNNN.jpg")
            continue
        if code not in {str(c) for c in RAFDB_EMOTIONS}:
            policy.fail(label_file, line, "unknown label", f"{code!r} is not a RAF-DB label 1..7")
            continue
        if name in seen:
            policy.fail(label_file, line, "duplicate image", f"{name} is already listed on line {seen[name]}")
            continue
        seen[name] = line
        names.append(name)
        codes.append(int(code))
        lines.append(line)
    return label_file, names, codes, np.array(lines, np.int64)


def _read_annotations(root: Path, names, policy: ErrorPolicy):
    folder, archive = root / "Annotation" / "manual", root / "Annotation" / "manual.zip"
    if folder.is_dir():
        def read(member):
            path = folder / member
            return (path.read_bytes() if path.is_file() else None), path
    elif archive.is_file():
        try:
            zf = zipfile.ZipFile(archive)
        except zipfile.BadZipFile as err:
            raise DataError(archive, 0, f"not a valid zip file ({err})") from None
        members = {Path(m).name: m for m in zf.namelist() if not m.endswith("/")}

        def read(member):
            where = f"{archive}:{members.get(member, member)}"
            return (zf.read(members[member]) if member in members else None), where
    else:
        raise FileNotFoundError(f"RAF-DB attributes not found: neither {folder} nor {archive} exists "
                                "(pass attributes=False to read labels only).")
    n = len(names)
    attrs = {k: np.full(n, -1, np.int32) for k in RAFDB_GROUPS}
    landmarks = np.zeros((n, 5, 2), np.float32)
    ok = np.ones(n, bool)
    for i, name in enumerate(names):
        raw, where = read(f"{Path(name).stem}_manu_attri.txt")
        if raw is None:
            policy.fail(where, 0, "missing attribute file", f"no annotation for {name}")
            ok[i] = False
            continue
        parsed = _parse_annotation(raw, where, policy)
        if parsed is None:
            ok[i] = False
            continue
        landmarks[i], (gender, race, age) = parsed
        attrs["gender"][i] = gender if gender < 2 else -1  # 2 = "unsure"
        attrs["race"][i], attrs["age"][i] = race, age
    return attrs, landmarks, ok


def _parse_annotation(raw: bytes, where, policy: ErrorPolicy):
    try:
        rows = [(line, r.split()) for line, r in enumerate(raw.decode("utf-8").splitlines(), start=1) if r.split()]
    except UnicodeDecodeError:
        policy.fail(where, 0, "malformed attribute file", "not a text file")
        return None
    if len(rows) < 8:
        policy.fail(where, len(rows), "malformed attribute file",
                    f"expected 5 landmark lines and gender, race, age; got {len(rows)} line(s)")
        return None
    points = []
    for line, fields in rows[:5]:
        try:
            x, y = (float(v) for v in fields)
            if not (np.isfinite(x) and np.isfinite(y)):
                raise ValueError
        except ValueError:
            policy.fail(where, line, "malformed attribute file", f"expected a landmark 'x<TAB>y', got {fields}")
            return None
        points.append((x, y))
    codes = []
    for (line, fields), (name, limit) in zip(rows[5:8], (("gender", 2), ("race", 2), ("age", 4))):
        if len(fields) != 1 or not fields[0].isdigit() or int(fields[0]) > limit:
            policy.fail(where, line, "malformed attribute file", f"{name} must be 0..{limit}; got {' '.join(fields)!r}")
            return None
        codes.append(int(fields[0]))
    return np.array(points, np.float32), codes


def _image_folder(root: Path, variant: str, extract_dir) -> Path:
    folder, archive = root / "Image" / variant, root / "Image" / f"{variant}.zip"
    target = (Path(extract_dir) if extract_dir is not None else root / "Image") / variant
    for candidate in (folder, target):
        if candidate.is_dir():
            return candidate
    if not archive.is_file():
        raise FileNotFoundError(f"RAF-DB images not found: neither {folder} nor {archive} exists.")
    # Extract into a scratch folder and rename it when complete: a folder that exists is whole.
    partial = target.with_name(f"{variant}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            nested = all(m.startswith(f"{variant}/") for m in zf.namelist())
            zf.extractall(partial)  # zipfile drops absolute and ".." parts of member names
        (partial / variant if nested else partial).rename(target)
    except OSError as err:
        raise OSError(f"cannot extract {archive} into {target.parent} ({err}); pass extract_dir=") from err
    except zipfile.BadZipFile as err:
        raise DataError(archive, 0, f"not a valid zip file ({err})") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def _realign(paths, landmarks, ok, out: Path, policy: ErrorPolicy, label_file, lines):
    import cv2

    out.mkdir(parents=True, exist_ok=True)
    result = []
    for i, path in enumerate(paths):
        if not ok[i]:
            result.append(None)
            continue
        target = out / f"{Path(path).stem}_realigned.png"
        if not target.exists():
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                policy.fail(label_file, lines[i], "corrupt image", f"{path} cannot be read by OpenCV")
                result.append(None)
                continue
            try:
                face = align_face(image, landmarks[i])
            except ValueError as err:
                policy.fail(label_file, lines[i], "malformed attribute file", str(err))
                result.append(None)
                continue
            cv2.imwrite(str(target), face)
        result.append(target)
    return result

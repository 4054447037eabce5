"""UTKFace (Zhang, Song & Qi, 2017) as released: faces with age, gender and race in the file names, no emotions.

Layout (one flat folder of images; `path` may be that folder or its parent)::

    UTKFace/26_0_2_20170104023102422.jpg                aligned and cropped faces, 200×200 JPEGs
    crop_part1/26_0_2_20170104023102422.jpg.chip.jpg    the first part, cropped ("chip"), 200×200
        [age]_[gender]_[race]_[date&time]: age 0..116 in years; gender 0 male, 1 female;
        race 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others; date&time of collection
        (yyyymmddHHMMSSFFF), which with the three codes names the face

A parent folder is read through *every* ``UTKFace/`` and ``crop_part1/`` sub-folder it holds (any
case), in sorted order; its other entries are ignored. The two folders share faces (crop_part1 is
part 1 cropped differently, under the same name plus ``.chip.jpg``): a face read from both comes
twice, once per folder, but always in the same split. In the image folder itself, files that are
not images (by suffix) and sub-folders are listed as "not an image" in ``data.skipped``, never
errors; images whose name is not ``age_gender_race_date&time`` (the released crop_part1 has two,
``61_1_20170109142408075.jpg.chip.jpg`` and ``61_3_20170109150557335.jpg.chip.jpg``, with a field
missing) are errors, "malformed name": read the release with ``on_error="skip"``.

Attributes: ``gender`` (male, female), ``race`` (`UTKFACE_GROUPS`) and ``age`` in the groups of
`kerasfer.ATTRIBUTES` (young, adult, senior) cut at `AGE_GROUP_CUTS`: young < 20 <= adult < 60 <=
senior. `FaceData` holds group indices only; the age in years stays in the file name, read back
with `parse_utkface_name` (``[parse_utkface_name(p)[0] for p in data.paths]``). Labels are all
unknown (-1): UTKFace serves to audit an emotion model's predictions across groups.

Splits: UTKFace has none. A seeded split of the faces stratified by race × gender (the same on
every call, for the same folder and seed; train, val and test are disjoint) is made from the
names alone, so `min_age`, `image_size` and `on_error` never move a face to another split.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from kerasfer.constants import ATTRIBUTES
from kerasfer.data.errors import ErrorPolicy
from kerasfer.data.facedata import FaceData
from kerasfer.data.files import IMAGE_SUFFIXES, check_images
from kerasfer.data.sampling import split_indices

# Group names of the codes in UTKFace's file names, in code order (gender as kerasfer.ATTRIBUTES).
UTKFACE_RACES = ("white", "black", "asian", "indian", "others")
UTKFACE_GROUPS = {"gender": ATTRIBUTES["gender"], "race": UTKFACE_RACES, "age": ATTRIBUTES["age"]}
# Ages (years) where kerasfer's age groups begin: young 0-19, adult 20-59, senior 60+.
AGE_GROUP_CUTS = (20, 60)
MAX_AGE = 116
UTKFACE_FOLDERS = ("utkface", "crop_part1")  # sub-folder names of the parent form, lower case
CHIP_SUFFIX = ".chip.jpg"
SPLITS = ("train", "val", "test", "all")

_FIELDS = "age_gender_race_date&time"


class _Face(NamedTuple):
    """One well-named image: its path, its name without suffixes (the face) and its codes."""

    path: Path
    stem: str
    age: int
    gender: int
    race: int


def read_utkface(path, split: str = "test", *, image_size: int = 64, channels: int = 3, on_error: str = "raise",
                 val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0,
                 min_age: int | None = None) -> FaceData:
    """Read UTKFace into memory, every image decoded once now (crop_part1's 9,778 faces: ~10 s on 2 cores).

    See the module docstring for the layout, the age groups and the split rule.

    Args:
        path: the image folder (``UTKFace/`` or ``crop_part1/``), or a folder holding one or both.
        split: ``"test"`` (default: the audit's use), ``"train"``, ``"val"`` or ``"all"`` (every face).
        image_size: side of the returned images (area averaging when shrinking, bilinear when
            enlarging; the released faces are 200×200).
        channels: 3 (RGB, as released) or 1 (grey).
        on_error: ``"raise"`` or ``"skip"``: malformed names, corrupt images (see
            `kerasfer.data.errors`).
        val_fraction: share of the faces held out as ``"val"``.
        test_fraction: share of the faces held out as ``"test"``; ``"train"`` is the rest.
        seed: seed of the split (the same seed gives the same, disjoint splits).
        min_age: keep only the faces aged `min_age` years or more (e.g. 18, as audits of emotion
            models on adults do); the others are listed as "under min_age" in ``data.skipped``.
            None keeps every age.

    Returns:
        A `FaceData` with in-memory uint8 images, labels -1, attributes ``gender``, ``race`` and
        ``age`` named as in `UTKFACE_GROUPS`, the image paths and ``.skipped``.

    Raises:
        FileNotFoundError: `path` is not a folder.
        ValueError: no face is left for `split`.

    Example:
        >>> test = read_utkface("UTKFace", "test", min_age=18, on_error="skip")   # doctest: +SKIP
        >>> test.summary()                                                          # doctest: +SKIP
    """
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {list(SPLITS)}; got {split!r}.")
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels!r}.")
    if not isinstance(image_size, (int, np.integer)) or isinstance(image_size, bool) or image_size <= 0:
        raise ValueError(f"`image_size` must be a positive number of pixels; got {image_size!r}.")
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= fraction < 1:
            raise ValueError(f"`{name}` must be in [0, 1); got {fraction!r}.")
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"`val_fraction` + `test_fraction` must be below 1; got {val_fraction} + {test_fraction}.")
    if min_age is not None and (not isinstance(min_age, (int, np.integer)) or isinstance(min_age, bool)
                                or not 0 <= min_age <= MAX_AGE):
        raise ValueError(f"`min_age` must be None or a whole number of years in 0..{MAX_AGE}; got {min_age!r}.")
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"UTKFace folder not found: {root}")
    policy = ErrorPolicy(on_error, "UTKFace")

    faces = []
    for folder in _image_folders(root):
        faces += _faces(folder, policy)
    if not faces:
        policy.finish()
        raise ValueError(f"{root}: no image named {_FIELDS}.jpg (or .jpg.chip.jpg); see data.skipped "
                         "or the errors above.")
    splits = _assign_splits([f.stem for f in faces], np.array([(f.race, f.gender) for f in faces]),
                            val_fraction, test_fraction, seed)
    chosen = [f for f, s in zip(faces, splits) if split in ("all", s)]
    if not chosen:
        policy.finish()
        raise ValueError(f"{root}: no faces for split {split!r} (val_fraction={val_fraction}, "
                         f"test_fraction={test_fraction}, {len(faces)} face(s) in all).")
    if min_age is not None:
        for f in chosen:
            if f.age < min_age:
                policy.exclude(f.path, 0, "under min_age", f"{f.path.name}: age {f.age} < min_age {min_age}")
        chosen = [f for f in chosen if f.age >= min_age]
        if not chosen:
            policy.finish()
            raise ValueError(f"{root}: no faces aged {min_age} or more in split {split!r}.")

    paths = [str(f.path) for f in chosen]
    ok = check_images(paths, None, policy, channels=channels)
    skipped = policy.finish()
    if not ok.any():
        raise ValueError(f"{root}: none of the images of split {split!r} could be read; see the errors above.")
    from kerasfer.data.pipeline import read_image_files

    kept = [f for f, good in zip(chosen, ok) if good]
    paths = [str(f.path) for f in kept]
    return FaceData(
        images=read_image_files(paths, (int(image_size), int(image_size)), channels),
        attributes={"gender": [f.gender for f in kept], "race": [f.race for f in kept],
                    "age": np.digitize([f.age for f in kept], AGE_GROUP_CUTS)},
        paths=paths,
        group_names=UTKFACE_GROUPS,
        skipped=skipped,
    )


def parse_utkface_name(name) -> tuple[int, int, int]:
    """``(age, gender, race)`` codes of a UTKFace file name, e.g. to get the ages of ``data.paths`` back.

    Args:
        name: a file name or path, ``age_gender_race_date&time.jpg`` or ``....jpg.chip.jpg``.

    Returns:
        The age in years (0..116), gender (0 male, 1 female) and race (0..4, `UTKFACE_RACES`).

    Raises:
        ValueError: the name is not ``age_gender_race_date&time``, saying what is wrong.

    Example:
        >>> parse_utkface_name("UTKFace/26_1_2_20170104023102422.jpg.chip.jpg")
        (26, 1, 2)
    """
    fields = _stem(Path(name).name).split("_")
    if len(fields) != 4:
        raise ValueError(f"expected 4 fields {_FIELDS}, got {len(fields)}: {fields}")
    codes = []
    for field, text, top, meaning in (("age", fields[0], MAX_AGE, "years"),
                                      ("gender", fields[1], 1, "0 male, 1 female"),
                                      ("race", fields[2], len(UTKFACE_RACES) - 1, ", ".join(UTKFACE_RACES))):
        if not (text.isascii() and text.isdigit()):
            raise ValueError(f"{field} {text!r} is not a whole number")
        if int(text) > top:
            raise ValueError(f"{field} {int(text)} is not in 0..{top} ({meaning})")
        codes.append(int(text))
    if not fields[3]:
        raise ValueError("empty date&time field")
    return tuple(codes)


# -------------------------------------------------------------------------------------- helpers
def _image_folders(root: Path) -> list:
    """The ``UTKFace/`` and ``crop_part1/`` sub-folders of `root`, or `root` itself when it has none."""
    subs = [d for d in sorted(root.iterdir()) if d.is_dir() and d.name.lower() in UTKFACE_FOLDERS]
    return subs or [root]


def _faces(folder: Path, policy) -> list:
    """The `_Face`s of `folder`'s well-named images, in sorted order; the other entries go to `policy`."""
    faces = []
    for p in sorted(folder.iterdir()):
        if p.is_dir():
            policy.exclude(p, 0, "not an image", f"{p.name}/ is a folder; UTKFace's images sit directly in {folder}")
        elif p.suffix.lower() not in IMAGE_SUFFIXES:
            policy.exclude(p, 0, "not an image", f"{p.name}: suffix not one of {list(IMAGE_SUFFIXES)}")
        else:
            try:
                codes = parse_utkface_name(p.name)
            except ValueError as err:
                policy.fail(p, 0, "malformed name", str(err))
                continue
            faces.append(_Face(p, _stem(p.name), *codes))
    return faces


def _stem(name: str) -> str:
    """`name` without ``.chip.jpg`` and its image suffix: the same for a face in both folders."""
    if name.lower().endswith(CHIP_SUFFIX):
        name = name[: -len(CHIP_SUFFIX)]
    suffix = Path(name).suffix
    return name[: -len(suffix)] if suffix.lower() in IMAGE_SUFFIXES else name


def _assign_splits(stems, keys, val_fraction, test_fraction, seed) -> np.ndarray:
    """The split of every face: a seeded split of the distinct names, stratified by race × gender.

    Distinct names are split (sorted, so the folders' order and the second copy of a face in the
    other folder change nothing), then every face takes its name's split.
    """
    names, first, inverse = np.unique(np.asarray(stems, dtype=str), return_index=True, return_inverse=True)
    keys = keys[first]
    splits = np.full(len(names), "train", dtype=object)
    if test_fraction and len(names) >= 2:
        _, held = split_indices(keys, test_fraction, seed=seed)
        splits[held] = "test"
    rest = np.flatnonzero(splits == "train")
    if val_fraction and len(rest) >= 2:
        _, held = split_indices(keys[rest], val_fraction / (1.0 - test_fraction), seed=seed)
        splits[rest[held]] = "val"
    return splits[inverse.ravel()]

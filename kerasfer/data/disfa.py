"""DISFA and BP4D per-frame Action Unit intensities, read as AU occurrence labels.

DISFA (Mavadati et al., 2013) layout, `read_disfa`::

    ActionUnit_Labels/SN001/SN001_au1.txt     rows "frame,intensity" (frame from 1, intensity 0..5)
                       ...  SN001_au26.txt    one file per DISFA AU (1 2 4 5 6 9 12 15 17 20 25 26)
    Images/SN001/00001.png                    frames you extracted from the videos; the frame
                                              number is the last run of digits in the file name
                                              (00001.png, frame_1.jpg, SN001_00001.jpg ...)

BP4D-Spontaneous (Zhang et al., 2014; FERA 2015 intensity labels) layout, `read_bp4d`::

    AU_INT/AU06/F001_T1_AU06.csv              rows "frame,intensity" (0..5; 9 = not coded)
    Sequences/F001/T1/0001.jpg                frames; frame = last number in the file name

BP4D subject ids start with F (female) or M (male): `read_bp4d` returns that as ``gender``.

An AU counts as **present when its intensity is >= 2** (FACS level B or more; the convention of
most DISFA AU-detection papers, e.g. DRML and JAA-Net), absent below; set `threshold` to change
it. Frames are split by *subject* (no subject in two splits).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from kerasfer.data.errors import ErrorPolicy
from kerasfer.data.facedata import FaceData
from kerasfer.data.files import IMAGE_SUFFIXES, check_images

BP4D_AUS = ("AU06", "AU10", "AU12", "AU14", "AU17")  # the AUs with FERA 2015 intensity labels
DISFA_AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26")
PRESENT_THRESHOLD = 2
_DIGITS = re.compile(r"(\d+)(?!.*\d)")


def read_disfa(root, split: str = "train", *, threshold: int = PRESENT_THRESHOLD, au_names=DISFA_AUS,
               test_subjects=None, test_fraction: float = 0.25, seed: int = 0, image_size: int = 64,
               channels: int = 3, images_dir: str = "Images", on_error: str = "raise",
               verify_images: bool = True) -> FaceData:
    """Read DISFA frames with AU occurrence labels (intensity >= `threshold` -> present).

    Args:
        root: the DISFA folder (``ActionUnit_Labels/`` and ``Images/``).
        split: ``"train"``, ``"test"`` or ``"all"`` (subject-wise).
        threshold: intensity (1..5) from which an AU counts as present.
        au_names: the AU order of the result: `DISFA_AUS` (default) or e.g.
            `kerasfer.ACTION_UNITS` (AUs DISFA lacks are -1 = unknown; AU17/AU25 are dropped).
        test_subjects: subjects of the test split, e.g. ``("SN001", "SN002")``; default: a seeded
            `test_fraction` of the subjects.
        test_fraction: share of subjects in ``"test"`` when `test_subjects` is None.
        seed: seed of the subject split.
        image_size: side of the images the pipeline yields.
        channels: 3 or 1.
        images_dir: folder of the extracted frames under `root`.
        on_error: ``"raise"`` or ``"skip"`` (see `kerasfer.data.errors`).
        verify_images: decode every frame of the split once now.

    Returns:
        A lazily loaded `FaceData` with labels -1, `aus` (0/1/-1) in `au_names` order, no
        attributes, and ``.skipped``.
    """
    root = Path(root)
    labels_root = _labels_root(root, "ActionUnit_Labels", "DISFA", split, threshold)
    subjects = sorted(p.name for p in labels_root.iterdir() if p.is_dir())
    if not subjects:
        raise FileNotFoundError(f"no subject folders (SN001, ...) in {labels_root}.")
    chosen = _subjects_of(split, subjects, test_subjects, test_fraction, seed)
    au_names = tuple(au_names)
    policy = ErrorPolicy(on_error, "DISFA")
    paths, aus, lines, sources = [], [], [], []
    for subject in chosen:
        table = _read_subject(labels_root / subject, subject, threshold, policy)
        if table is None:
            continue
        frames = _frame_files(root / images_dir / subject)
        for frame, (present, line, source) in sorted(table.items()):
            paths.append(frames.get(frame, root / images_dir / subject / f"{frame:05d}.png"))
            aus.append([present.get(au, -1) for au in au_names])
            lines.append(line)
            sources.append(source)
    return _frames_data(root, split, paths, aus, au_names, lines, sources, policy, {}, image_size=image_size,
                        channels=channels, verify_images=verify_images)


def read_bp4d(root, split: str = "train", *, threshold: int = PRESENT_THRESHOLD, au_names=None,
              test_subjects=None, test_fraction: float = 0.25, seed: int = 0, image_size: int = 64,
              channels: int = 3, on_error: str = "raise", verify_images: bool = True) -> FaceData:
    """Read BP4D frames with AU occurrence from its intensity files (intensity >= `threshold`).

    Args:
        root: the BP4D folder (``AU_INT/`` and ``Sequences/``).
        split: ``"train"``, ``"test"`` or ``"all"`` (subject-wise).
        threshold: intensity (1..5) from which an AU counts as present; 9 (not coded) is unknown.
        au_names: AU order of the result; default: the AU folders found in ``AU_INT``.
        test_subjects: subjects of the test split, e.g. ``("F001", "M003")``; default: a seeded
            `test_fraction` of the subjects.
        test_fraction: share of subjects in ``"test"`` when `test_subjects` is None.
        seed: seed of the subject split.
        image_size: side of the images the pipeline yields.
        channels: 3 or 1.
        on_error: ``"raise"`` or ``"skip"`` (see `kerasfer.data.errors`).
        verify_images: decode every frame of the split once now.

    Returns:
        A lazily loaded `FaceData` with labels -1, `aus` (0/1/-1), attribute ``gender`` (from the
        subject id: F female, M male) and ``.skipped``.
    """
    root = Path(root)
    labels_root = _labels_root(root, "AU_INT", "BP4D", split, threshold)
    folders = {f"AU{int(m.group(1)):02d}": p for p in labels_root.iterdir()
               if p.is_dir() and (m := re.fullmatch(r"AU0*(\d+)", p.name, re.IGNORECASE))}
    found = sorted(folders)
    au_names = tuple(au_names or found)
    policy = ErrorPolicy(on_error, "BP4D")
    table = {}  # (subject, task, frame) -> ({AU: 0/1/-1}, line, file)
    for au in found:
        for file in sorted(folders[au].glob("*.csv")):
            match = re.fullmatch(r"([FM]\d+)_(T\d+)_AU\d+", file.stem, re.IGNORECASE)
            if match is None:
                policy.fail(file, 0, "malformed label file", "name is not SUBJECT_TASK_AUxx.csv, e.g. F001_T1_AU06.csv")
                continue
            subject, task = match.group(1).upper(), match.group(2).upper()
            for line, fields in _int_rows(file, policy):
                frame, value = fields
                if value > 5 and value != 9:
                    policy.fail(file, line, "malformed row", f"intensity {value} is not 0..5 or 9 (not coded)")
                    continue
                present, _, _ = table.setdefault((subject, task, frame), ({}, line, str(file)))
                present[au] = -1 if value == 9 else int(value >= threshold)
    subjects = sorted({key[0] for key in table})
    if not subjects:
        raise ValueError(f"{labels_root}: no intensity files SUBJECT_TASK_AUxx.csv found.")
    chosen = set(_subjects_of(split, subjects, test_subjects, test_fraction, seed))
    paths, aus, genders, lines, sources, frame_files = [], [], [], [], [], {}
    for (subject, task, frame), (present, line, file) in sorted(table.items()):
        if subject not in chosen:
            continue
        if (subject, task) not in frame_files:
            frame_files[subject, task] = _frame_files(root / "Sequences" / subject / task)
        paths.append(frame_files[subject, task].get(frame, root / "Sequences" / subject / task / f"{frame:04d}.jpg"))
        aus.append([present.get(au, -1) for au in au_names])
        genders.append(1 if subject.startswith("F") else 0)
        lines.append(line)
        sources.append(file)
    return _frames_data(root, split, paths, aus, au_names, lines, sources, policy, {"gender": genders},
                        image_size=image_size, channels=channels, verify_images=verify_images)


def _labels_root(root: Path, folder: str, dataset: str, split: str, threshold) -> Path:
    """Check the arguments both readers share; return the label folder `root / folder`."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"`split` must be 'train', 'test' or 'all' ({dataset} is split by subject); got {split!r}.")
    if not (isinstance(threshold, int) and 1 <= threshold <= 5):
        raise ValueError(f"`threshold` must be an intensity 1..5; got {threshold!r}.")
    labels_root = root / folder
    if not labels_root.is_dir():
        raise FileNotFoundError(f"{root} is not a {dataset} folder: {labels_root} does not exist.")
    return labels_root


def _frames_data(root, split, paths, aus, au_names, lines, sources, policy, attributes, *, image_size, channels,
                 verify_images) -> FaceData:
    """The `FaceData` of the labelled frames, after decoding each once if `verify_images`.

    Args:
        root: the dataset folder (for messages).
        split: the split read (for messages).
        paths: frame files; `lines` and `sources` name the label row behind each.
        aus: per frame, 0/1/-1 per AU of `au_names`.
        au_names: AU order.
        lines: label-file line per frame.
        sources: label file per frame.
        policy: the reader's `ErrorPolicy` (finished here).
        attributes: name -> per-frame group codes.
        image_size: side of the images the pipeline yields.
        channels: 3 or 1.
        verify_images: decode every frame now.

    Returns:
        A lazily loaded `FaceData` with labels -1 and ``.skipped``.
    """
    if not paths:
        policy.finish()
        raise ValueError(f"{root}: no labelled frames for split {split!r}.")
    ok = np.ones(len(paths), bool)
    if verify_images:
        ok = check_images(paths, lines, policy, sources=sources, channels=channels)
    skipped = policy.finish()
    if not ok.any():
        raise ValueError(f"{root}: none of the frames of split {split!r} could be read.")
    return FaceData(paths=[str(p) for p, good in zip(paths, ok) if good], image_size=(image_size, image_size),
                    channels=channels, aus=np.asarray(aus, np.int8)[ok], au_names=au_names,
                    attributes={name: np.asarray(codes)[ok] for name, codes in attributes.items()}, skipped=skipped)


def _int_rows(file: Path, policy: ErrorPolicy):
    """(line, (frame, value)) of a 'frame,value' text file; bad rows go to `policy`."""
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        policy.fail(file, 0, "malformed label file", "not a text file")
        return
    for line, row in enumerate(text.splitlines(), start=1):
        fields = [f.strip() for f in row.replace("\t", ",").split(",")]
        if fields == [""]:
            continue
        if len(fields) != 2 or not all(f.isascii() and f.isdigit() for f in fields) or int(fields[0]) < 1:
            policy.fail(file, line, "malformed row", f"expected 'frame,intensity'; got {row!r}")
            continue
        yield line, (int(fields[0]), int(fields[1]))


def _subjects_of(split, subjects, test_subjects, test_fraction, seed):
    if test_subjects is None:
        if not 0 < test_fraction < 1:
            raise ValueError(f"`test_fraction` must be between 0 and 1; got {test_fraction!r}.")
        count = max(1, int(round(test_fraction * len(subjects))))
        test_subjects = np.random.default_rng(seed).permutation(subjects)[:count].tolist()
    unknown = sorted(set(test_subjects) - set(subjects))
    if unknown:
        raise ValueError(f"`test_subjects` {unknown} are not in this DISFA folder; it has {subjects}.")
    if split == "all":
        return subjects
    return [s for s in subjects if (s in test_subjects) == (split == "test")]


def _read_subject(folder: Path, subject: str, threshold: int, policy: ErrorPolicy):
    """{frame: ({AU: 0/1}, line, file)} for the frames every AU file of `subject` labels."""
    table = {}
    for au in DISFA_AUS:
        file = folder / f"{subject}_au{int(au[2:])}.txt"
        if not file.is_file():
            policy.fail(file, 0, "missing label file", f"no {au} intensities for {subject}; subject left out")
            return None
        for line, (frame, value) in _int_rows(file, policy):
            if value > 5:
                policy.fail(file, line, "malformed row", f"intensity {value} is not 0..5")
                continue
            present, _, _ = table.setdefault(frame, ({}, line, str(file)))
            present[au] = int(value >= threshold)
    complete = {f: v for f, v in table.items() if len(v[0]) == len(DISFA_AUS)}
    for frame in sorted(set(table) - set(complete)):
        _, line, file = table[frame]
        policy.fail(file, line, "incomplete labels", f"frame {frame} of {subject} lacks some AU intensities")
    return complete


def _frame_files(folder: Path) -> dict:
    if not folder.is_dir():
        return {}
    frames = {}
    for file in folder.iterdir():
        match = _DIGITS.search(file.stem)
        if match and file.suffix.lower() in IMAGE_SUFFIXES:
            frames[int(match.group(1))] = file
    return frames

"""Fabricated miniature copies of the public FER datasets, for tests, notebooks and CI.

Each function renders a few dozen SynthFaces and writes them as real JPEG/PNG files in the exact
directory, file-name and CSV/txt layout of the real dataset, with the dataset's own label codes.
It returns a `Miniature`: where it is, the ``--data`` spec that reads it, and the ground truth
(canonical labels and attribute codes) a reader must recover.

Example:
    >>> mini = make_mini_rafdb("/tmp/rafdb")                 # doctest: +SKIP
    >>> data = read_rafdb(mini.path, "train")                  # doctest: +SKIP
    >>> (data.labels == mini.truth.query("split == 'train'").label).all()   # doctest: +SKIP
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasfer.constants import ACTION_UNITS, EMOTIONS
from kerasfer.data.synthfaces import make_synthfaces


@dataclass
class Miniature:
    """A fabricated dataset on disk.

    Attributes:
        path: the folder or file to give the reader.
        spec: the ``--data`` string for the CLI, e.g. ``"rafdb:/tmp/rafdb"``.
        truth: pandas DataFrame, one row per record in file order: ``split``, canonical ``label``
            (-1 where the dataset has none) and the dataset's attribute codes.
    """

    path: Path
    spec: str
    truth: object


# ------------------------------------------------------------------------------------ RAF-DB
def make_mini_rafdb(root, n_train: int = 24, n_test: int = 12, *, seed: int = 0, zipped: bool = False,
                    original: bool = True) -> Miniature:
    """A miniature RAF-DB ``basic`` folder.

    Writes ``EmoLabel/list_patition_label.txt``, ``Image/aligned/*_aligned.jpg`` (100×100),
    ``Image/original/*.jpg`` (the same faces placed, scaled and rotated in a larger photo, so the
    landmarks matter) and ``Annotation/manual/*_manu_attri.txt``; with ``zipped=True`` the
    aligned images and annotations are written as ``Image/aligned.zip`` and
    ``Annotation/manual.zip`` instead, as released.

    Args:
        root: folder to create.
        n_train: training images (names ``train_00001.jpg``...).
        n_test: test images (names ``test_0001.jpg``...).
        seed: seed of faces and attributes.
        zipped: write the zips instead of the folders.
        original: also write ``Image/original``.

    Returns:
        A `Miniature`; truth columns ``name, split, label, gender, race, age`` (gender -1 = unsure).
    """
    import pandas as pd

    from kerasfer.data.rafdb import FIVE_POINT_TEMPLATE, RAFDB_TO_CANONICAL

    root = Path(root)
    n = n_train + n_test
    faces = make_synthfaces(n, seed=seed, image_size=100)
    rng = np.random.default_rng(seed)
    to_code = {canonical: code for code, canonical in RAFDB_TO_CANONICAL.items()}
    names = [f"train_{i + 1:05d}.jpg" for i in range(n_train)] + [f"test_{i + 1:04d}.jpg" for i in range(n_test)]
    gender_code = faces.attributes["gender"].copy()
    gender_code[rng.random(n) < 0.15] = 2  # "unsure"
    race, age = rng.integers(0, 3, n), rng.integers(0, 5, n)

    aligned, manual = {}, {}
    for i, name in enumerate(names):
        stem = Path(name).stem
        aligned[f"{stem}_aligned.jpg"] = _jpeg(faces.images[i])
        photo, points = _place_in_photo(faces.images[i], FIVE_POINT_TEMPLATE * 100, rng)
        if original:
            _write(root / "Image" / "original" / name, _jpeg(photo))
        lines = [f"{x:.2f}\t{y:.2f}" for x, y in points] + [str(gender_code[i]), str(race[i]), str(age[i])]
        manual[f"{stem}_manu_attri.txt"] = ("\n".join(lines) + "\n").encode()
    labels_txt = "".join(f"{name} {to_code[int(faces.labels[i])]}\n" for i, name in enumerate(names))
    _write(root / "EmoLabel" / "list_patition_label.txt", labels_txt.encode())
    if zipped:
        _zip(root / "Image" / "aligned.zip", "aligned", aligned)
        _zip(root / "Annotation" / "manual.zip", "manual", manual)
    else:
        for file, data in aligned.items():
            _write(root / "Image" / "aligned" / file, data)
        for file, data in manual.items():
            _write(root / "Annotation" / "manual" / file, data)
    truth = pd.DataFrame({
        "name": names, "split": ["train"] * n_train + ["test"] * n_test, "label": faces.labels,
        "gender": np.where(gender_code == 2, -1, gender_code), "race": race, "age": age,
    })
    return Miniature(root, f"rafdb:{root}", truth)


# ----------------------------------------------------------------------------------- FER2013
def make_mini_fer2013(path, n: int = 42, *, seed: int = 0) -> Miniature:
    """A miniature ``fer2013.csv``: columns ``emotion,pixels,Usage``, 48×48 grey faces.

    Rows cycle through Usage Training (4 of 6), PublicTest and PrivateTest.

    Returns:
        A `Miniature`; truth columns ``split, label, usage``.
    """
    import pandas as pd

    path = Path(path)
    faces = make_synthfaces(n, seed=seed, image_size=48, channels=1)
    usage = np.array(["Training", "Training", "PublicTest", "Training", "Training", "PrivateTest"])[np.arange(n) % 6]
    frame = pd.DataFrame({
        "emotion": faces.labels,  # FER2013's codes are the canonical order
        "pixels": [" ".join(map(str, img.ravel())) for img in faces.images],
        "Usage": usage,
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    split = pd.Series(usage).map({"Training": "train", "PublicTest": "val", "PrivateTest": "test"})
    return Miniature(path, f"fer2013:{path}", pd.DataFrame({"split": split, "label": faces.labels, "usage": usage}))


# ----------------------------------------------------------------------------------- FairFace
def make_mini_fairface(root, n_train: int = 24, n_val: int = 12, *, seed: int = 0) -> Miniature:
    """A miniature FairFace: ``train/N.jpg``, ``val/N.jpg``, ``fairface_label_{train,val}.csv``.

    CSV columns ``file,age,gender,race,service_test`` with FairFace's own group names.

    Returns:
        A `Miniature`; truth columns ``file, split, age, gender, race`` as group indices of
        `kerasfer.data.fairface.FAIRFACE_CSV_VALUES`.
    """
    import pandas as pd

    from kerasfer.data.fairface import FAIRFACE_CSV_VALUES

    root = Path(root)
    faces = make_synthfaces(n_train + n_val, seed=seed, image_size=96)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_train + n_val):
        split = "train" if i < n_train else "val"
        file = f"{split}/{i + 1 if i < n_train else i - n_train + 1}.jpg"
        _write(root / file, _jpeg(faces.images[i]))
        codes = {"age": int(rng.integers(0, 9)), "gender": int(faces.attributes["gender"][i]),
                 "race": int(rng.integers(0, 7))}
        rows.append({"file": file, "split": split, **codes})
    truth = pd.DataFrame(rows)
    for split in ("train", "val"):
        part = truth[truth.split == split]
        csv = pd.DataFrame({
            "file": part.file,
            **{k: [FAIRFACE_CSV_VALUES[k][c] for c in part[k]] for k in ("age", "gender", "race")},
            "service_test": rng.random(len(part)) < 0.5,
        })
        csv.to_csv(root / f"fairface_label_{split}.csv", index=False)
    truth["label"] = -1
    return Miniature(root, f"fairface:{root}", truth)


# ------------------------------------------------------------------------ generic manifest CSV
def make_mini_manifest(root, n: int = 40, *, seed: int = 0, label_as: str = "name", split_column: bool = False,
                       aus: bool = True, image_format: str = "png") -> Miniature:
    """A folder of images with ``manifest.csv``: ``path,label,AU01..AU26,gender,skin,age[,split]``.

    Args:
        root: folder to create (images go to ``root/images/``; paths in the CSV are relative).
        n: number of images.
        seed: seed.
        label_as: ``"name"`` (``happy``) or ``"index"`` (``3``).
        split_column: add a ``split`` column (train / val / test).
        aus: add the 13 AU columns (0/1).
        image_format: ``"png"`` or ``"jpg"``.

    Returns:
        A `Miniature` whose path is the CSV; truth columns ``path, split, label, gender, skin, age``
        and the AU columns.
    """
    import pandas as pd

    from kerasfer.constants import ATTRIBUTES

    root = Path(root)
    faces = make_synthfaces(n, seed=seed, image_size=64)
    paths = [f"images/face_{i:04d}.{image_format}" for i in range(n)]
    for i, p in enumerate(paths):
        _write(root / p, _jpeg(faces.images[i]) if image_format == "jpg" else _png(faces.images[i]))
    labels = faces.labels
    frame = pd.DataFrame({"path": paths,
                          "label": [EMOTIONS[y] for y in labels] if label_as == "name" else labels})
    if aus:
        for j, au in enumerate(ACTION_UNITS):
            frame[au] = faces.aus[:, j]
    for name in ("gender", "skin", "age"):
        frame[name] = [ATTRIBUTES[name][g] for g in faces.attributes[name]]
    truth = frame.assign(label=labels, **{k: faces.attributes[k] for k in ("gender", "skin", "age")})
    if split_column:
        frame["split"] = np.array(["train", "train", "train", "val", "test"])[np.arange(n) % 5]
        truth["split"] = frame["split"]
    frame.to_csv(root / "manifest.csv", index=False)
    return Miniature(root / "manifest.csv", f"manifest:{root / 'manifest.csv'}", truth)


# --------------------------------------------------------------------------------- AffectNet
def make_mini_affectnet(root, n_train: int = 30, n_val: int = 14, *, seed: int = 0) -> Miniature:
    """A miniature AffectNet: ``Manually_Annotated_Images/<dir>/<file>.jpg``, ``training.csv``,
    ``validation.csv`` with the official columns (``subDirectory_filePath, face_x, face_y,
    face_width, face_height, facial_landmarks, expression, valence, arousal``).

    Every 7th row carries a code outside the basic emotions (7 contempt, 8 none, 9 uncertain).

    Returns:
        A `Miniature`; truth columns ``file, split, expression, label`` (label -1 for excluded rows).
    """
    import pandas as pd

    from kerasfer.data.manifest import AFFECTNET_TO_CANONICAL

    root = Path(root)
    n = n_train + n_val
    faces = make_synthfaces(n, seed=seed, image_size=96)
    to_code = {canonical: code for code, canonical in AFFECTNET_TO_CANONICAL.items()}
    rows = []
    for i in range(n):
        file = f"{100 + i % 3}/{i:06x}face.jpg"
        _write(root / "Manually_Annotated_Images" / file, _jpeg(faces.images[i]))
        code = to_code[int(faces.labels[i])] if i % 7 != 6 else 7 + (i // 7) % 3
        rows.append({"subDirectory_filePath": file, "face_x": 0, "face_y": 0, "face_width": 96,
                     "face_height": 96, "facial_landmarks": ";".join(["48.0"] * 136), "expression": code,
                     "valence": 0.1, "arousal": -0.2})
    table = pd.DataFrame(rows)
    table.iloc[:n_train].to_csv(root / "training.csv", index=False)
    table.iloc[n_train:].to_csv(root / "validation.csv", index=False)
    truth = pd.DataFrame({"file": table.subDirectory_filePath, "split": ["train"] * n_train + ["test"] * n_val,
                          "expression": table.expression,
                          "label": [AFFECTNET_TO_CANONICAL.get(c, -1) for c in table.expression]})
    return Miniature(root, f"affectnet:{root}", truth)


# ------------------------------------------------------------------------------------- DISFA
def make_mini_disfa(root, subjects=("SN001", "SN002", "SN003", "SN004"), frames: int = 6, *,
                    seed: int = 0) -> Miniature:
    """A miniature DISFA: ``ActionUnit_Labels/SNxxx/SNxxx_auK.txt`` (rows ``frame,intensity`` 0..5)
    and extracted frames ``Images/SNxxx/NNNNN.png``.

    Intensities of a drawn (present) AU are 2..5, of an absent one 0..1.

    Returns:
        A `Miniature`; truth columns ``subject, frame`` and one 0/1 column per DISFA AU.
    """
    import pandas as pd

    from kerasfer.data.disfa import DISFA_AUS

    root = Path(root)
    faces = make_synthfaces(len(subjects) * frames, seed=seed, image_size=64)
    rng = np.random.default_rng(seed)
    present = np.zeros((len(faces), len(DISFA_AUS)), np.int8)
    for j, au in enumerate(DISFA_AUS):
        present[:, j] = faces.aus[:, ACTION_UNITS.index(au)] if au in ACTION_UNITS else rng.integers(0, 2, len(faces))
    intensity = np.where(present == 1, rng.integers(2, 6, present.shape), rng.integers(0, 2, present.shape))
    rows = []
    for s, subject in enumerate(subjects):
        block = slice(s * frames, (s + 1) * frames)
        for f in range(frames):
            _write(root / "Images" / subject / f"{f + 1:05d}.png", _png(faces.images[s * frames + f]))
            rows.append({"subject": subject, "frame": f + 1, **dict(zip(DISFA_AUS, present[s * frames + f]))})
        for j, au in enumerate(DISFA_AUS):
            text = "".join(f"{f + 1},{v}\n" for f, v in enumerate(intensity[block, j]))
            _write(root / "ActionUnit_Labels" / subject / f"{subject}_au{int(au[2:])}.txt", text.encode())
    return Miniature(root, f"disfa:{root}", pd.DataFrame(rows))


def make_mini_bp4d(root, subjects=("F001", "M001", "F002", "M002"), tasks=("T1", "T2"), frames: int = 3, *,
                   seed: int = 0) -> Miniature:
    """A miniature BP4D: ``AU_INT/AUxx/SUBJECT_TASK_AUxx.csv`` (rows ``frame,intensity``, 0..5 and
    9 = not coded) and frames ``Sequences/SUBJECT/TASK/NNNN.jpg``.

    Returns:
        A `Miniature`; truth columns ``subject, task, frame, gender`` and one 0/1/-1 column per AU.
    """
    import pandas as pd

    from kerasfer.data.disfa import BP4D_AUS

    root = Path(root)
    n = len(subjects) * len(tasks) * frames
    faces = make_synthfaces(n, seed=seed, image_size=64)
    rng = np.random.default_rng(seed)
    present = np.stack([faces.aus[:, ACTION_UNITS.index(au)] if au in ACTION_UNITS else rng.integers(0, 2, n)
                        for au in BP4D_AUS], axis=1)
    intensity = np.where(present == 1, rng.integers(2, 6, present.shape), rng.integers(0, 2, present.shape))
    intensity[::7, 0] = 9  # not coded
    present[::7, 0] = -1
    rows, k = [], 0
    for subject in subjects:
        for task in tasks:
            block = slice(k, k + frames)
            for f in range(frames):
                _write(root / "Sequences" / subject / task / f"{f + 1:04d}.jpg", _jpeg(faces.images[k + f]))
                rows.append({"subject": subject, "task": task, "frame": f + 1, "gender": int(subject[0] == "F"),
                             **dict(zip(BP4D_AUS, present[k + f]))})
            for j, au in enumerate(BP4D_AUS):
                text = "".join(f"{f + 1},{v}\n" for f, v in enumerate(intensity[block, j]))
                _write(root / "AU_INT" / au / f"{subject}_{task}_{au}.csv", text.encode())
            k += frames
    return Miniature(root, f"bp4d:{root}", pd.DataFrame(rows))


# ----------------------------------------------------------------------------------- helpers
def _place_in_photo(face: np.ndarray, template_points: np.ndarray, rng):
    """Paste an aligned face into a larger 'photo' with a random similarity transform.

    Returns the photo and where the template landmarks land in it.
    """
    import cv2

    size = 160
    scale, angle = rng.uniform(1.0, 1.3), rng.uniform(-15, 15)
    centre = (face.shape[1] / 2, face.shape[0] / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    matrix[:, 2] += rng.uniform(20, 40, 2)
    background = rng.integers(40, 200, 3).astype(np.uint8)
    photo = np.empty((size, size, 3), np.uint8)
    photo[:] = background
    photo = cv2.warpAffine(face, matrix, (size, size), dst=photo, borderMode=cv2.BORDER_TRANSPARENT)
    points = np.c_[template_points, np.ones(5)] @ matrix.T
    return photo, points


def _jpeg(image: np.ndarray) -> bytes:
    return _encode(image, "JPEG", quality=95)


def _png(image: np.ndarray) -> bytes:
    return _encode(image, "PNG")


def _encode(image, fmt, **kwargs) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _zip(path: Path, folder: str, files: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(f"{folder}/{name}", data)

"""Faces in photos and videos → emotions: detect, crop, classify, and write the annotated results."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from kerasfer.predict.annotate import annotate
from kerasfer.predict.classifier import as_classifier
from kerasfer.predict.faces import DEFAULT_DETECTOR, MIN_NEIGHBORS, crop_faces, find_faces
from kerasfer.predict.tracking import IoUTracker
from kerasfer.predict.video import UnreadableFileError, collect_inputs, frame_count, is_video, read_frames, read_image

BOX_COLUMNS = ["file", "frame", "face", "track", "x", "y", "w", "h", "emotion", "probability"]


def _classify_frame(image, classifier, *, name, frame, detector, min_face, min_neighbors, margin, align,
                    faces=None, tracks=None) -> pd.DataFrame:
    """The rows (one per face) of one RGB image; `faces` = ``(boxes, eyes)`` found earlier skips detection."""
    boxes, eyes = faces if faces is not None else find_faces(image, detector=detector, min_face=min_face,
                                                             min_neighbors=min_neighbors)
    height, width, channels = classifier.input_shape
    probs = classifier.predict(crop_faces(image, boxes, size=(height, width), channels=channels, margin=margin,
                                          align=align, eyes=eyes, template=classifier.face_template))
    best = probs.argmax(axis=1) if len(probs) else np.zeros(0, int)
    rows = pd.DataFrame({
        "file": [name] * len(boxes), "frame": [frame] * len(boxes), "face": np.arange(len(boxes)),
        "track": np.arange(len(boxes)) if tracks is None else np.asarray(tracks),
        "x": boxes[:, 0], "y": boxes[:, 1], "w": boxes[:, 2], "h": boxes[:, 3],
        "emotion": [classifier.labels[i] for i in best],
        "probability": probs[np.arange(len(best)), best] if len(best) else np.zeros(0, np.float32),
    })
    for j, label in enumerate(classifier.labels):
        rows[f"p_{label}"] = probs[:, j]
    return rows


def _empty(classifier) -> pd.DataFrame:
    return pd.DataFrame(columns=BOX_COLUMNS + [f"p_{label}" for label in classifier.labels])


def predict_images(images, model, *, names=None, detector: str = DEFAULT_DETECTOR, min_face: int = 40,
                   min_neighbors: int = MIN_NEIGHBORS, margin: float = 0.2, align: bool = True) -> pd.DataFrame:
    """Emotions of every face in in-memory images.

    Args:
        images: uint8 RGB images (a list, or an array N×H×W×3); sizes may differ.
        model: a `.keras` / `.tflite` path, a Keras model or a `FaceClassifier`.
        names: one name per image for the ``file`` column (default ``"0"``, ``"1"``, ...).
        detector: ``"blazeface"`` (default), ``"haar"`` or ``"mtcnn"`` (`kerasfer.predict.faces.find_faces`).
        min_face: smallest face side in pixels.
        min_neighbors: Haar only: overlapping detections needed to keep a face (see `detect_faces`).
        margin: context around each face box, as a fraction of its side.
        align: level the eyes before classifying.

    Returns:
        A DataFrame, one row per face: ``file, frame, face, x, y, w, h, emotion, probability`` and
        ``p_<label>`` for every class (each row's ``p_*`` sum to 1).

    Example:
        >>> import skimage.data
        >>> predict_images([skimage.data.astronaut()], "runs/demo/model.keras")  # doctest: +SKIP
    """
    classifier = as_classifier(model)
    names = [str(i) for i in range(len(images))] if names is None else [str(n) for n in names]
    if len(names) != len(images):
        raise ValueError(f"`names` has {len(names)} entries but there are {len(images)} images.")
    frames = [_classify_frame(image, classifier, name=name, frame=0, detector=detector, min_face=min_face,
                              min_neighbors=min_neighbors, margin=margin, align=align)
              for image, name in zip(images, names)]
    return _concat(frames, classifier)


def _concat(frames, classifier) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else _empty(classifier)


def predict_paths(paths, model, *, out=None, every: int = 1, detect_every: int = 1, detector: str = DEFAULT_DETECTOR,
                  min_face: int = 40, min_neighbors: int = MIN_NEIGHBORS, margin: float = 0.2, align: bool = True,
                  progress: bool = True) -> pd.DataFrame:
    """Emotions of every face in photos, folders of photos and videos (every `every`-th frame).

    With `out`, writes ``predictions.csv`` (the returned table), ``metrics.json`` (counts) and an
    annotated image per photo / sampled video frame under ``annotated/``.

    Args:
        paths: photo files, video files and folders (searched recursively).
        model: a `.keras` / `.tflite` path, a Keras model or a `FaceClassifier`.
        out: output folder, or None to write nothing.
        every: for videos, classify frames 0, every, 2·every, ...
        detect_every: for videos, run the detector on every `detect_every`-th classified frame and
            classify the faces at their last boxes in between (detection is the costly step). A face
            keeps its ``track`` id across frames while its box overlaps its last one (`IoUTracker`).
        detector: ``"blazeface"`` (default), ``"haar"`` or ``"mtcnn"`` (`kerasfer.predict.faces.find_faces`).
        min_face: smallest face side in pixels.
        min_neighbors: Haar only: overlapping detections needed to keep a face (see `detect_faces`).
        margin: context around each face box, as a fraction of its side.
        align: level the eyes before classifying.
        progress: show progress bars (`tqdm.auto`: widgets in Jupyter; on a terminal only when
            stderr is one, so logs and captured output stay clean).

    Returns:
        The DataFrame of `predict_images` with ``file`` the path, ``frame`` the video frame index
        (0 for photos) and ``track`` the face's id within its video (the face index for photos). ``df.attrs["metrics"]`` holds the counts written to
        ``metrics.json``, including the files skipped in folders and why.

    Raises:
        FileNotFoundError: a path or the model does not exist.
        ValueError: a file named directly is not a readable photo or video, or bad arguments.
    """
    from tqdm.auto import tqdm

    if not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"--every must be a positive integer; got {every!r}.")
    if not isinstance(detect_every, (int, np.integer)) or detect_every < 1:
        raise ValueError(f"--detect-every must be a positive integer; got {detect_every!r}.")
    if isinstance(paths, (str, Path)):
        paths = [paths]
    start = time.perf_counter()
    files, skipped = collect_inputs(paths)
    named = {Path(p) for p in paths}
    classifier = as_classifier(model)
    out = None if out is None else Path(out)
    if out is not None:
        (out / "annotated").mkdir(parents=True, exist_ok=True)
    tables, counts, used_names = [], Counter(), set()
    for path in tqdm(files, desc="predict", unit="file", disable=None if progress else True):
        try:
            if is_video(path):
                total = -(-frame_count(path) // every) or None
                sampled = tqdm(read_frames(path, every), desc=path.name, unit="frame", total=total, leave=False,
                               disable=None if progress else True)
            else:
                sampled = [(0, read_image(path))]
            tracker, faces, tracks = IoUTracker(), None, None
            for index, (frame, image) in enumerate(sampled):
                if is_video(path) and index % detect_every == 0:
                    faces = find_faces(image, detector=detector, min_face=min_face, min_neighbors=min_neighbors)
                    tracks = tracker.update(faces[0])
                rows = _classify_frame(image, classifier, name=str(path), frame=frame, detector=detector,
                                       min_face=min_face, min_neighbors=min_neighbors, margin=margin, align=align,
                                       faces=faces, tracks=tracks)
                counts["frames"] += 1
                counts["frames_with_faces"] += bool(len(rows))
                tables.append(rows)
                if out is not None:
                    _write_annotated(out / "annotated", path, frame, annotate(image, rows), used_names)
            counts["videos" if is_video(path) else "photos"] += 1
        except UnreadableFileError as err:
            if path in named:  # a file the user named is an error; one found in a folder is skipped
                raise
            skipped.append({"file": str(path), "reason": str(err)})
    table = _concat(tables, classifier)
    table.attrs["metrics"] = {
        "model": classifier.source, "model_kind": classifier.kind, "labels": list(classifier.labels),
        "detector": detector,
        "inputs": counts["photos"] + counts["videos"], "photos": counts["photos"], "videos": counts["videos"],
        "every": every, "detect_every": detect_every,
        "tracks": int(table.groupby("file")["track"].nunique().sum()) if len(table) else 0,
        "frames": counts["frames"], "frames_with_faces": counts["frames_with_faces"], "faces": len(table),
        "emotions": {label: int((table["emotion"] == label).sum()) for label in classifier.labels},
        "skipped": len(skipped), "skipped_files": skipped,
        "seconds": round(time.perf_counter() - start, 3),
    }
    if out is not None:
        from kerasfer.utils.io import atomic_write_bytes, write_json

        atomic_write_bytes(out / "predictions.csv", table.to_csv(index=False, float_format="%.6g").encode())
        write_json(out / "metrics.json", table.attrs["metrics"])
    return table


def _write_annotated(folder: Path, path: Path, frame: int, image, used: set) -> None:
    """Save one annotated RGB image as JPEG under a name unique within this run."""
    import cv2

    stem = f"{path.stem}_frame{frame:06d}" if is_video(path) else path.stem
    name, n = f"{stem}.jpg", 1
    while name in used:
        name, n = f"{stem}_{n}.jpg", n + 1
    used.add(name)
    if not cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {folder / name}")

"""Aligning a detected face to the geometry of the model's training faces (its *face template*).

`measure_face_template` finds where BlazeFace puts the eyes in a model's training images (the
median over up to `MAX_FACES` of them); `train_model` stores the result in the model
(`kerasfer.models.face_template`). `kerasfer.predict.faces.template_matrix` is then the similarity
(rotation, one scale, shift) that moves a detected face's two eyes onto those positions in the crop, so
the crop looks like the faces the model learned from: eyes level, at the same height and the same
distance apart. `kerasfer.predict.faces.crop_faces` falls back to the box crop when the eyes are
implausible: a profile, whose eyes nearly overlap, or a false eye far from the other.
"""

from __future__ import annotations

import hashlib

import numpy as np

from kerasfer.models.face_template import checked_template

MAX_FACES = 200  # training faces the template is measured on (about a second of BlazeFace)
MIN_FACES = 20  # fewer faces found than this: no template (the data is not face crops BlazeFace sees)

_measured: dict = {}


def measure_face_template(data, *, max_faces: int = MAX_FACES, seed: int = 0):
    """Where BlazeFace finds the eyes in `data`'s face images: the model's face template.

    Args:
        data: a `FaceData` of face crops (what the model trains on), or (N, H, W, C) uint8 images.
        max_faces: images looked at (drawn at random with `seed`).
        seed: seed of the draw.

    Returns:
        ``(template, found)``: (2, 2) median ``[[x, y] image-left eye, [x, y] image-right eye]`` in 0..1 of
        the image, or None when BlazeFace found fewer than `MIN_FACES` faces; and how many it found.
    """
    from kerasfer.predict.blazeface import shared_detector

    images = _sample(data, max_faces, seed)
    key = hashlib.sha1(images.tobytes()).hexdigest()
    if key in _measured:
        return _measured[key]
    detector = shared_detector()
    eyes = []
    for image in images:
        faces = detector.detect(image)  # grey (H, W, 1) images are taken as they are
        if len(faces):
            eyes.append(faces.eyes[0] / np.array([image.shape[1], image.shape[0]], np.float32))
    template = None
    if len(eyes) >= MIN_FACES:
        median = np.median(np.stack(eyes), axis=0)
        try:
            template = checked_template(median)
        except ValueError:  # eyes outside the crops: not face crops
            template = None
    _measured[key] = (template, len(eyes))
    return _measured[key]


def fit_face_template(model, data, *, seed: int = 0) -> dict:
    """Measure `data`'s face template and store it in `model` (``model.face_template``, saved with it).

    Call it after training on `data` when you train with `fit` yourself (`train_model` and
    `kerasfer demo` do it).

    Args:
        model: a kerasfer model.
        data: its training faces.
        seed: seed of the draw of faces.

    Returns:
        ``{"eyes": [[x, y], [x, y]] or None, "faces_found": n}`` for the run's metrics.
    """
    model.face_template, found = measure_face_template(data, seed=seed)
    eyes = None if model.face_template is None else model.face_template.round(4).tolist()
    return {"eyes": eyes, "faces_found": found}


def _sample(data, max_faces: int, seed: int) -> np.ndarray:
    """Up to `max_faces` uint8 images of `data`, drawn without replacement."""
    index = np.sort(np.random.default_rng(seed).choice(len(data), size=min(max_faces, len(data)), replace=False))
    images = data[index].load_images() if hasattr(data, "load_images") else np.asarray(data)[index]
    return np.clip(np.round(images), 0, 255).astype(np.uint8)

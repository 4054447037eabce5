"""Where a model's training faces have their eyes: the *face template* that aligns the crops it is shown.

A model learns the face geometry of its training images (aligned datasets put the eyes at fixed
places; SynthFaces has its own). `kerasfer.predict.alignment.measure_face_template` measures it
(BlazeFace's eyes, median over the training faces) and `train_model` stores it in the model;
`kerasfer predict` and the phone then warp each detected face so its eyes land there.

The template is saved inside the `.keras` file as an asset (``face_template.json``), so models
saved before it existed still load (with no template: the box-based crop).
"""

from __future__ import annotations

import json
import os

import numpy as np

TEMPLATE_FILE = "face_template.json"


def checked_template(template):
    """`template` as a float64 (2, 2) array ``[[x, y] image-left eye, [x, y] image-right eye]`` in 0..1 of the
    crop, or None; ValueError for anything else."""
    if template is None:
        return None
    points = np.asarray(template, np.float64)
    if points.shape != (2, 2) or not np.isfinite(points).all() or not ((points > 0) & (points < 1)).all() \
            or points[0, 0] >= points[1, 0]:
        raise ValueError("a face template must be [[x, y] of the image-left eye, [x, y] of the image-right eye], "
                         f"inside (0, 1) of the crop, left eye left of the right one; got {template!r}.")
    return points


class FaceTemplateMixin:
    """Gives a Keras model a saved ``face_template`` attribute (None until measured or set)."""

    @property
    def face_template(self):
        """(2, 2) eye positions in 0..1 of the crop (image-left eye first), or None."""
        return getattr(self, "_face_template", None)

    @face_template.setter
    def face_template(self, template):
        self._face_template = checked_template(template)

    def save_assets(self, dir_path):
        """Keras' saving hook: write the template (if any) into the `.keras` archive."""
        if self.face_template is not None:
            with open(os.path.join(dir_path, TEMPLATE_FILE), "w") as f:
                json.dump({"eyes": self.face_template.tolist()}, f)

    def load_assets(self, dir_path):
        """Keras' loading hook: read the template back (absent in older files: None)."""
        path = os.path.join(dir_path, TEMPLATE_FILE)
        if os.path.isfile(path):
            with open(path) as f:
                self.face_template = json.load(f)["eyes"]

"""MTCNN (Zhang et al. 2016; the `mtcnn` 1.0.0 package, MIT, weights in its wheel) behind `find_faces`.

`fer` finds faces with it. Measured here (`benchmarks/detect.py`): it finds the profiles BlazeFace
misses (composite recall 100 % against 73.9 %), but it is about 35× slower (150–169 ms per 640×480
frame on one thread), miscounts 2 of the 16 real photos where BlazeFace miscounts none, and is
TensorFlow, so the phone cannot run it. Hence an option (``detector="mtcnn"``), not the default. It
needs ``pip install mtcnn==1.0.0`` (the ``dev`` extra has it).
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=1)
def _model():
    try:
        from mtcnn import MTCNN
    except ImportError as err:
        raise ImportError("detector='mtcnn' needs the mtcnn package: pip install mtcnn==1.0.0") from err
    from kerasfer.utils.quiet import native_output_filtered

    with native_output_filtered():
        return MTCNN()


def mtcnn_faces(image, *, min_face: int = 40):
    """Faces and eyes found by MTCNN, best first.

    Args:
        image: uint8 RGB (H, W, 3) or grey image.
        min_face: smallest face side in pixels.

    Returns:
        ``(boxes, eyes)``: (K, 4) int ``(x, y, w, h)``; (K, 2, 2) float eye positions, image-left first.
    """
    from kerasfer.predict.blazeface import _rgb
    from kerasfer.utils.quiet import native_output_filtered

    rgb = np.ascontiguousarray(_rgb(image))
    with native_output_filtered():
        faces = _model().detect_faces(rgb)
    faces = sorted(faces, key=lambda f: -f["confidence"])
    faces = [f for f in faces if min(f["box"][2], f["box"][3]) >= min_face]
    boxes = np.array([f["box"] for f in faces], np.int64).reshape(-1, 4)
    eyes = np.array([sorted([f["keypoints"]["left_eye"], f["keypoints"]["right_eye"]]) for f in faces],
                    np.float32).reshape(-1, 2, 2)  # sorted by x: the image-left eye first
    return boxes, eyes

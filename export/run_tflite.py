#!/usr/bin/env python3
"""Reference runner for a kerasfer `.tflite` model: what a phone app must do, with no TensorFlow.

Depends only on ai-edge-litert, numpy and pillow (no kerasfer import), so it doubles as the
executable specification of the pre- and post-processing in README.md:

    python export/run_tflite.py model.tflite face1.png face2.jpg [--sidecar model.json] [--threads 1]

prints one line per image: ``path<TAB>label<TAB>probability``. With ``--detector
face_detector.tflite`` (written by `kerasfer export` beside the model, with its sidecar
``face_detector.json``) the images are whole photos: every face is found (BlazeFace), aligned (to
the model's face template when its sidecar has one, else eye-levelled) and classified, one line per face:
``path<TAB>face<TAB>x<TAB>y<TAB>w<TAB>h<TAB>label<TAB>probability`` — the boxes and labels of
`kerasfer predict` on the same photos.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

TFLITE_IDENTIFIER = b"TFL3"  # FlatBuffers file identifier of a TFLite model, at bytes 4..8


class NotATFLiteModel(ValueError):
    """The file given as a model is not a TFLite flatbuffer."""


def check_tflite_file(path) -> bytes:
    """Read `path` and check it is a TFLite flatbuffer ('TFL3' at bytes 4..8); returns its bytes."""
    payload = Path(path).read_bytes()
    if payload[4:8] != TFLITE_IDENTIFIER:
        raise NotATFLiteModel(f"{path} is not a TFLite model: bytes 4..8 are {payload[4:8]!r}, expected "
                              f"{TFLITE_IDENTIFIER!r}. Pass the .tflite file written by `kerasfer export`.")
    return payload


def load_sidecar(model_path, sidecar_path=None) -> dict:
    """The sidecar JSON beside the model (``model.tflite`` → ``model.json``) or at `sidecar_path`."""
    path = Path(sidecar_path) if sidecar_path else Path(model_path).with_suffix(".json")
    meta = json.loads(path.read_text())
    if meta.get("format") != "kerasfer-tflite-sidecar":
        raise ValueError(f"{path} is not a kerasfer sidecar (format={meta.get('format')!r}).")
    return meta


def preprocess(image_path, meta: dict) -> np.ndarray:
    """Decode → RGB → resize (`resize_bilinear`) to the sidecar size → grey if asked → raw 0..255 pixels in the input dtype.

    Returns:
        The input tensor (1, H, W, C), quantized with the sidecar's scale/zero-point when the
        input dtype is an integer type.
    """
    spec = meta["input"]
    with Image.open(image_path) as image:
        image = resize_bilinear(image.convert("RGB"), spec["width"], spec["height"])
        return input_tensor(np.asarray(image), meta)


def resize_bilinear(image: Image.Image, width: int, height: int) -> Image.Image:
    """Pillow's bilinear (antialiased) resize, the horizontal pass first, then the vertical one.

    One ``image.resize((width, height))`` call leaves the order of the two passes to Pillow, and
    Pillow 13 does the vertical pass first when the height shrinks much more than the width
    (which moves some pixels by one level). Two single-axis calls fix the order on every Pillow
    version; the browser page (``preprocess.js``) does the same arithmetic.
    """
    if image.width != width:
        image = image.resize((width, image.height), Image.BILINEAR)
    if image.height != height:
        image = image.resize((width, height), Image.BILINEAR)
    return image


def input_tensor(rgb: np.ndarray, meta: dict) -> np.ndarray:
    """An RGB uint8 crop of the model's size → the input tensor: grey if asked, raw pixels, quantized if int."""
    spec = meta["input"]
    pixels = np.asarray(rgb, dtype=np.float32)
    if spec["channels"] == 1:  # luminance as pillow's "L" and OpenCV's RGB2GRAY: 0.299 R + 0.587 G + 0.114 B
        pixels = np.asarray(Image.fromarray(np.asarray(rgb, np.uint8)).convert("L"), dtype=np.float32)
    pixels = pixels.reshape(1, spec["height"], spec["width"], spec["channels"])
    dtype = np.dtype(spec["dtype"])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        pixels = np.clip(np.round(pixels / spec["scale"] + spec["zero_point"]), info.min, info.max)
    return pixels.astype(dtype)


def postprocess(raw: np.ndarray, meta: dict) -> np.ndarray:
    """Output tensor → float probabilities (dequantized; the model applies softmax itself)."""
    spec = meta["output"]
    raw = np.asarray(raw).reshape(-1)
    if np.issubdtype(np.dtype(spec["dtype"]), np.integer):
        return (raw.astype(np.float32) - spec["zero_point"]) * spec["scale"]
    return raw.astype(np.float32)


class Runner:
    """A loaded model + sidecar: `classify(path)` → (label, probability, probabilities).

    Args:
        model_path: the `.tflite` file.
        sidecar_path: its sidecar JSON (default: beside the model).
        num_threads: interpreter threads.
    """

    def __init__(self, model_path, sidecar_path=None, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        payload = check_tflite_file(model_path)
        self.meta = load_sidecar(model_path, sidecar_path)
        self.interpreter = Interpreter(model_content=payload, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        if list(self.input["shape"]) != self.meta["input"]["shape"]:
            raise ValueError(f"sidecar input shape {self.meta['input']['shape']} does not match the model's "
                             f"{list(self.input['shape'])}: wrong sidecar for this model?")

    def probabilities(self, image_path) -> np.ndarray:
        """Class probabilities of one image file, in the sidecar's label order."""
        return self.probabilities_of(preprocess(image_path, self.meta))

    def probabilities_of(self, tensor: np.ndarray) -> np.ndarray:
        """Class probabilities of one input tensor (`input_tensor`)."""
        self.interpreter.set_tensor(self.input["index"], tensor)
        self.interpreter.invoke()
        return postprocess(self.interpreter.get_tensor(self.output["index"]), self.meta)

    def classify(self, image_path):
        """(label, probability, probabilities) of one image file."""
        probs = self.probabilities(image_path)
        best = int(np.argmax(probs))
        return self.meta["labels"][best], float(probs[best]), probs


# ------------------------------------------------------------------------------------ face detection
class FaceDetector:
    """The BlazeFace `.tflite` of ``kerasfer export`` and its sidecar: `detect(rgb)` → boxes and eyes.

    Args:
        model_path: ``face_detector.tflite``.
        sidecar_path: its sidecar (default: beside it, ``face_detector.json``).
        num_threads: interpreter threads.
    """

    def __init__(self, model_path, sidecar_path=None, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        payload = check_tflite_file(model_path)
        path = Path(sidecar_path) if sidecar_path else Path(model_path).with_suffix(".json")
        self.meta = json.loads(path.read_text())
        if self.meta.get("format") != "kerasfer-face-detector-sidecar":
            raise ValueError(f"{path} is not a kerasfer face-detector sidecar (format={self.meta.get('format')!r}).")
        self.interpreter = Interpreter(model_content=payload, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.size = int(self.meta["input"]["height"])
        outputs = {int(d["shape"][-1]): d["index"] for d in self.interpreter.get_output_details()}
        self._boxes, self._scores = outputs[16], outputs[1]
        self.anchors = self._anchors(self.meta["anchors"])

    def _anchors(self, spec) -> np.ndarray:
        """Anchor centres (N, 2): consecutive layers with one stride share a grid, row-major cells."""
        strides, centres, i = spec["strides"], [], 0
        while i < len(strides):
            j = i
            while j < len(strides) and strides[j] == strides[i]:
                j += 1
            cells = self.size // strides[i]
            grid = (np.arange(cells) + spec["offset"]) / cells
            ys, xs = np.meshgrid(grid, grid, indexing="ij")
            centres.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), (j - i) * spec["per_layer"], axis=0))
            i = j
        return np.concatenate(centres).astype(np.float32)

    def detect(self, rgb: np.ndarray, min_face: int = 40):
        """(boxes (K, 4) int x, y, w, h; eyes (K, 2, 2) image-left eye first) of the faces in an RGB uint8 image.

        The whole photo is searched, then (when it is larger than the sidecar's ``tiling.tile``)
        overlapping square tiles of it; the faces a tile's inner edges cut are dropped, and all
        windows' detections are merged by the same weighted NMS.
        """
        height, width = rgb.shape[:2]
        tiling = self.meta.get("tiling")
        found = []
        for x0, y0, side in _windows(height, width, tiling):
            corners, scores, keypoints = self._detect_window(rgb[y0:y0 + side, x0:x0 + side])
            if side < max(height, width):
                margin = tiling["edge_margin"] * side
                keep = np.ones(len(scores), bool)
                if x0 > 0:
                    keep &= corners[:, 0] > margin
                if y0 > 0:
                    keep &= corners[:, 1] > margin
                if x0 + side < width:
                    keep &= corners[:, 2] < side - margin
                if y0 + side < height:
                    keep &= corners[:, 3] < side - margin
                corners, scores, keypoints = corners[keep], scores[keep], keypoints[keep]
            shift = np.array([x0, y0], np.float64)
            found.append((corners + np.tile(shift, 2), scores, keypoints + shift))
        corners = np.concatenate([f[0] for f in found])
        scores = np.concatenate([f[1] for f in found])
        keypoints = np.concatenate([f[2] for f in found])
        if len(found) > 1:
            corners, scores, keypoints = _weighted_nms(corners, scores, keypoints, self.meta["nms_iou"])
        boxes = np.round(np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1)).astype(np.int64)
        eyes = keypoints[:, :2]
        eyes = np.where((eyes[:, 0, 0] <= eyes[:, 1, 0])[:, None, None], eyes, eyes[:, ::-1])
        large = np.minimum(boxes[:, 2], boxes[:, 3]) >= min_face
        return boxes[large], eyes[large].astype(np.float32)

    def _detect_window(self, rgb: np.ndarray):
        """One letterboxed pass: (corners (K, 4), scores (K,), keypoints (K, 6, 2)) in `rgb`'s pixels."""
        height, width = rgb.shape[:2]
        scale = self.size / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        pad_x, pad_y = (self.size - new_w) // 2, (self.size - new_h) // 2
        canvas = np.zeros((self.size, self.size, 3), np.float32)
        canvas[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = np.asarray(
            resize_bilinear(Image.fromarray(rgb), new_w, new_h), np.float32)
        self.interpreter.set_tensor(self.interpreter.get_input_details()[0]["index"], (canvas / 127.5 - 1.0)[None])
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self._boxes)[0]
        scores = 1 / (1 + np.exp(-np.clip(self.interpreter.get_tensor(self._scores)[0, :, 0], -80, 80)))
        keep = scores >= self.meta["min_score"]
        values, scores, anchors = raw[keep] / self.size, scores[keep], self.anchors[keep]
        centre, half = values[:, :2] + anchors, values[:, 2:4] / 2
        corners = np.concatenate([centre - half, centre + half], axis=1)
        keypoints = values[:, 4:].reshape(-1, 6, 2) + anchors[:, None, :]
        corners, scores, keypoints = _weighted_nms(corners, scores, keypoints, self.meta["nms_iou"])
        offset = np.array([pad_x, pad_y])
        return (corners * self.size - np.tile(offset, 2)) / scale, scores, (keypoints * self.size - offset) / scale


def _windows(height: int, width: int, tiling) -> list:
    """The whole photo, then tiles of side tile, 2 tile, … smaller than its longer side: [(x0, y0, side)]."""
    windows = [(0, 0, max(height, width))]
    side = tiling["tile"] if tiling else None
    while side is not None and side < max(height, width):
        step = max(1, int(side * (1 - tiling["overlap"])))
        starts = [sorted(set(range(0, n - side, step)) | {n - side}) if n > side else [0] for n in (height, width)]
        windows += [(x, y, side) for y in starts[0] for x in starts[1]]
        side *= 2
    return windows


def _weighted_nms(corners, scores, keypoints, iou):
    """Each cluster of overlapping detections (IoU > `iou` with its best) → its score-weighted mean (and
    its best score), best first."""
    order = np.argsort(-scores, kind="stable")
    corners, scores, keypoints = corners[order], scores[order], keypoints[order]
    left = np.ones(len(scores), bool)
    out_corners, out_scores, out_keypoints = [], [], []
    for i in range(len(scores)):
        if not left[i]:
            continue
        x0, y0 = np.maximum(corners[i, 0], corners[:, 0]), np.maximum(corners[i, 1], corners[:, 1])
        x1, y1 = np.minimum(corners[i, 2], corners[:, 2]), np.minimum(corners[i, 3], corners[:, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        areas = (corners[:, 2] - corners[:, 0]) * (corners[:, 3] - corners[:, 1])
        members = left & (inter / np.maximum(areas[i] + areas - inter, 1e-12) > iou)
        members[i] = True
        w = scores[members][:, None]
        out_corners.append((corners[members] * w).sum(axis=0) / w.sum())
        out_keypoints.append((keypoints[members] * w[:, :, None]).sum(axis=0) / w.sum())
        out_scores.append(scores[i])
        left &= ~members
    if not out_corners:
        return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 6, 2))
    return np.stack(out_corners), np.array(out_scores), np.stack(out_keypoints)


def align_crop(rgb: np.ndarray, box, eyes, *, margin: float, height: int, width: int, template=None,
               max_scale_ratio: float = 1.5, max_roll_degrees: float = 30.0) -> np.ndarray:
    """The aligned face crop, uint8 RGB: the pixels of `kerasfer.predict.crop_faces`.

    With the classifier's face `template` (its sidecar's ``input.face_template``: where its training
    faces have their eyes, 0..1 of the crop), the similarity that puts the two eyes there. Without
    one, or when that similarity's scale is more than `max_scale_ratio` away from the box crop's or
    it rolls the face more than `max_roll_degrees` (a profile, a false eye): the box's square grown
    by `margin` each side, rotated about the box centre so the eyes are level. Either way one affine
    map (bilinear) makes the crop; outside the photo the border pixels repeat.
    """
    x, y, w, h = (float(v) for v in box)
    (lx, ly), (rx, ry) = np.asarray(eyes, np.float64)
    side = max(w, h) * (1 + 2 * margin)
    s = min(height, width) / side
    forward = None
    if template is not None:
        (tlx, tly), (trx, try_) = np.asarray(template, np.float64) * np.array([width, height], np.float64)
        source, target = complex(rx - lx, ry - ly), complex(trx - tlx, try_ - tly)
        k = target / source if abs(source) >= 1e-6 else None  # crop point = k * photo point + c (complex)
        if k is not None and 1 / max_scale_ratio <= abs(k) / s <= max_scale_ratio and \
                abs(math.degrees(math.atan2(k.imag, k.real))) <= max_roll_degrees:
            c = complex(tlx, tly) - k * complex(lx, ly)
            forward = np.array([[k.real, -k.imag, c.real], [k.imag, k.real, c.imag], [0.0, 0.0, 1.0]])
    if forward is None:
        angle = math.radians(math.degrees(math.atan2(ry - ly, rx - lx)))  # through degrees, as kerasfer rounds it
        cx, cy = x + w / 2, y + h / 2
        a, b = s * math.cos(angle), s * math.sin(angle)
        # output (u, v) = M (x, y, 1), as OpenCV's getRotationMatrix2D + the move to the output centre
        forward = np.array([[a, b, (1 - a) * cx - b * cy + width / 2 - cx],
                            [-b, a, b * cx + (1 - a) * cy + height / 2 - cy], [0, 0, 1]])
    inverse = np.linalg.inv(forward)  # output pixel (u, v) -> photo pixel (x, y)
    corners = inverse @ np.array([[0, width, 0, width], [0, 0, height, height], [1, 1, 1, 1]], float)
    pad = int(np.ceil(max(0.0, -corners[0].min(), -corners[1].min(), corners[0].max() - rgb.shape[1],
                          corners[1].max() - rgb.shape[0]))) + 2
    padded = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")  # the border repeats, as OpenCV's REPLICATE
    # pillow samples output pixel (i, j) at (i + 0.5, j + 0.5) and puts input pixel centres at +0.5; OpenCV maps
    # integer positions: shift both ways (and by the padding) so the two sample the same points
    to_pillow = np.array([[1, 0, pad + 0.5], [0, 1, pad + 0.5], [0, 0, 1]])
    from_pillow = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    coefficients = (to_pillow @ inverse @ from_pillow)[:2].ravel()
    image = Image.fromarray(padded).transform((width, height), Image.AFFINE, tuple(coefficients),
                                              resample=Image.BILINEAR)
    return np.asarray(image)


def classify_faces(runner: "Runner", detector: FaceDetector, image_path, *, min_face: int = 40):
    """[(face, box, label, probability)] of every face in one photo: detect → align → crop → classify."""
    with Image.open(image_path) as image:
        rgb = np.asarray(image.convert("RGB"))
    boxes, eyes = detector.detect(rgb, min_face=min_face)
    crop_spec = detector.meta["crop"]
    spec = runner.meta["input"]
    rows = []
    for index, (box, pair) in enumerate(zip(boxes, eyes)):
        crop = align_crop(rgb, box, pair, margin=crop_spec["margin"], height=spec["height"], width=spec["width"],
                          template=spec.get("face_template"),
                          max_scale_ratio=crop_spec.get("max_scale_ratio", 1.5),
                          max_roll_degrees=crop_spec.get("max_roll_degrees", 30.0))
        probs = runner.probabilities_of(input_tensor(crop, runner.meta))
        best = int(np.argmax(probs))
        rows.append((index, tuple(int(v) for v in box), runner.meta["labels"][best], float(probs[best])))
    return rows


def main(argv=None) -> int:
    """Command line: classify image files; exit 2 on a bad model file."""
    parser = argparse.ArgumentParser(description="Classify face images with a kerasfer .tflite model (LiteRT).")
    parser.add_argument("model", help="the .tflite file")
    parser.add_argument("images", nargs="+", help="image files (any format pillow reads)")
    parser.add_argument("--sidecar", help="sidecar JSON (default: the model path with .json)")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (default: 1)")
    parser.add_argument("--detector", help="face_detector.tflite: find, align and classify every face of whole photos")
    parser.add_argument("--min-face", type=int, default=40, help="with --detector: smallest face side in pixels")
    args = parser.parse_args(argv)
    try:
        runner = Runner(args.model, args.sidecar, args.threads)
        detector = None if args.detector is None else FaceDetector(args.detector, num_threads=args.threads)
    except (NotATFLiteModel, ValueError, FileNotFoundError, KeyError) as err:
        print(f"run_tflite: error: {err}", file=sys.stderr)
        return 2
    if detector is not None:
        for path in args.images:
            for face, (x, y, w, h), label, prob in classify_faces(runner, detector, path, min_face=args.min_face):
                print(f"{path}\t{face}\t{x}\t{y}\t{w}\t{h}\t{label}\t{prob:.4f}")
        return 0
    for path in args.images:
        label, prob, _ = runner.classify(path)
        print(f"{path}\t{label}\t{prob:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

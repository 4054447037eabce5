#!/usr/bin/env python3
"""Reference runner for a kerasfer `.tflite` model: what a phone app must do, with no TensorFlow.

Depends only on ai-edge-litert, numpy and pillow (no kerasfer import), so it doubles as the
executable specification of the pre- and post-processing in README.md:

    python export/run_tflite.py model.tflite face1.png face2.jpg [--sidecar model.json] [--threads 1]

prints one line per image: ``path<TAB>label<TAB>probability``.
"""

from __future__ import annotations

import argparse
import json
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
    """Decode → grey or RGB → resize (bilinear) to the sidecar size → raw 0..255 pixels in the input dtype.

    Returns:
        The input tensor (1, H, W, C), quantized with the sidecar's scale/zero-point when the
        input dtype is an integer type.
    """
    spec = meta["input"]
    with Image.open(image_path) as image:
        image = image.convert("L" if spec["channels"] == 1 else "RGB")
        if image.size != (spec["width"], spec["height"]):
            image = image.resize((spec["width"], spec["height"]), Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32)
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
        self.interpreter.set_tensor(self.input["index"], preprocess(image_path, self.meta))
        self.interpreter.invoke()
        return postprocess(self.interpreter.get_tensor(self.output["index"]), self.meta)

    def classify(self, image_path):
        """(label, probability, probabilities) of one image file."""
        probs = self.probabilities(image_path)
        best = int(np.argmax(probs))
        return self.meta["labels"][best], float(probs[best]), probs


def main(argv=None) -> int:
    """Command line: classify image files; exit 2 on a bad model file."""
    parser = argparse.ArgumentParser(description="Classify face images with a kerasfer .tflite model (LiteRT).")
    parser.add_argument("model", help="the .tflite file")
    parser.add_argument("images", nargs="+", help="image files (any format pillow reads)")
    parser.add_argument("--sidecar", help="sidecar JSON (default: the model path with .json)")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (default: 1)")
    args = parser.parse_args(argv)
    try:
        runner = Runner(args.model, args.sidecar, args.threads)
    except (NotATFLiteModel, ValueError, FileNotFoundError) as err:
        print(f"run_tflite: error: {err}", file=sys.stderr)
        return 2
    for path in args.images:
        label, prob, _ = runner.classify(path)
        print(f"{path}\t{label}\t{prob:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

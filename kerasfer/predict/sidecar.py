"""The sidecar JSON beside every exported `.tflite`: what a phone app needs to feed and read the model.

Its format lives here, beside its reader `kerasfer.predict.FaceClassifier`; `kerasfer.export` writes it
(`build_sidecar`) and reads it back (`read_sidecar`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

SIDECAR_VERSION = 1
PIXEL_RANGE = (0.0, 255.0)  # the graph normalises inside: feed raw pixels


def sidecar_path(tflite_path) -> Path:
    """The sidecar's path for a model file: ``model.tflite`` → ``model.json``."""
    return Path(tflite_path).with_suffix(".json")


def weights_hash(model) -> str:
    """sha256 (hex) over the bytes of every weight of a Keras model, in order: the source model's id."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(weight), dtype=np.float32).tobytes())
    return digest.hexdigest()


def tensor_info(detail: dict) -> dict:
    """JSON description of one LiteRT input/output tensor: shape, dtype, quantization scale/zero-point."""
    scale, zero_point = detail["quantization"]
    return {
        "shape": [int(d) for d in detail["shape"]],
        "dtype": np.dtype(detail["dtype"]).name,
        "scale": float(scale),
        "zero_point": int(zero_point),
    }


def build_sidecar(*, labels, input_info: dict, output_info: dict, mode: str, source_hash: str,
                  thresholds=None, int8_rewrite: bool = False, face_template=None) -> dict:
    """The sidecar dict (see export/README.md for the contract it documents).

    Args:
        labels: class names in output order.
        input_info: `tensor_info` of the input tensor.
        output_info: `tensor_info` of the output tensor.
        mode: export mode.
        source_hash: `weights_hash` of the Keras model.
        thresholds: per-output decision thresholds of a multi-label (AU) model, or None.
        int8_rewrite: whether the graph was rewritten for int8 first (`rewrite_for_int8`).
        face_template: the model's (2, 2) eye positions in 0..1 of the crop, or None (then the app
            crops by the detector's box).

    Returns:
        A JSON-ready dict.
    """
    _, height, width, channels = input_info["shape"]
    return {
        "format": "kerasfer-tflite-sidecar",
        "version": SIDECAR_VERSION,
        "labels": list(labels),
        "input": {**input_info, "height": height, "width": width, "channels": channels,
                  "color": "grey" if channels == 1 else "rgb", "pixel_range": list(PIXEL_RANGE),
                  **({"face_template": np.asarray(face_template, float).round(6).tolist()}
                     if face_template is not None else {})},
        "output": {**output_info, "kind": "probabilities",
                   **({"thresholds": [float(t) for t in thresholds]} if thresholds is not None else {})},
        "mode": mode,
        "int8_rewrite": bool(int8_rewrite),
        "source_model_sha256": source_hash,
    }


def read_sidecar(path) -> dict:
    """Read and check a sidecar JSON file (or the sidecar of a `.tflite` path).

    Args:
        path: the sidecar `.json`, or the `.tflite` it sits beside.

    Returns:
        The sidecar dict.
    """
    path = Path(path)
    if path.suffix != ".json":
        path = sidecar_path(path)
    meta = json.loads(path.read_text())
    if meta.get("format") != "kerasfer-tflite-sidecar":
        raise ValueError(f"{path} is not a kerasfer sidecar (format={meta.get('format')!r}).")
    return meta

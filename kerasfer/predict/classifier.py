"""`FaceClassifier`: one interface over a `.keras` model and an exported `.tflite` model for face crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasfer.constants import EMOTIONS


class FaceClassifier:
    """A saved emotion classifier that maps raw-pixel face crops to probabilities.

    `.keras` files load with `kerasfer.models.load_model` (Keras safe mode, no code from the file
    runs); a kerasfer model contributes its `classifier_model()`. `.tflite` files run in LiteRT
    (`kerasfer.predict.litert.LiteRTModel`, which applies the quantized IO's scale and zero-point)
    and take their labels from the sidecar JSON beside them.

    Args:
        model: a `.keras` / `.tflite` path, or an in-memory Keras model (image → probabilities).

    Attributes:
        input_shape: (height, width, channels) the model takes.
        labels: class names in output order.
        kind: ``"keras"`` or ``"tflite"``.
        source: the file name, or the Keras model's name.
        face_template: (2, 2) eye positions the model's training faces have (0..1 of the crop), or None
            (`kerasfer.predict.alignment`): from the kerasfer model, or the `.tflite` sidecar.
    """

    def __init__(self, model):
        if isinstance(model, (str, Path)):
            path = Path(model)
            if not path.is_file():
                raise FileNotFoundError(f"--model: no such file: {path}")
            if path.suffix == ".tflite":
                self._init_tflite(path)
            elif path.suffix == ".keras":
                from kerasfer.models import load_model

                self._init_keras(load_model(path, compile=False), str(path))
            else:
                raise ValueError(f"--model must be a .keras or .tflite file; got {path}.")
        else:
            self._init_keras(model, getattr(model, "name", type(model).__name__))

    def _init_keras(self, model, source: str) -> None:
        functional = model.classifier_model() if hasattr(model, "classifier_model") else model
        self.face_template = getattr(model, "face_template", None)
        self._keras = functional
        self.kind, self.source, self.labels = "keras", source, tuple(EMOTIONS)
        self.input_shape = tuple(int(d) for d in functional.input_shape[1:])
        outputs = tuple(functional.output_shape[1:])
        if outputs != (len(self.labels),):
            raise ValueError(f"{source}: predict needs an emotion classifier with {len(self.labels)} outputs "
                             f"({', '.join(self.labels)}); this model outputs {outputs}.")

    def _init_tflite(self, path: Path) -> None:
        from kerasfer.predict.litert import LiteRTModel
        from kerasfer.predict.sidecar import read_sidecar, sidecar_path

        if not sidecar_path(path).is_file():
            raise FileNotFoundError(f"{path}: its sidecar {sidecar_path(path)} (labels, input format) is missing; "
                                    "export with `kerasfer export`, which writes both")
        meta = read_sidecar(path)
        self._lite = LiteRTModel(path, num_threads=1)
        self.kind, self.source, self.labels = "tflite", str(path), tuple(meta["labels"])
        self.input_shape = (int(meta["input"]["height"]), int(meta["input"]["width"]), int(meta["input"]["channels"]))
        self.face_template = meta["input"].get("face_template")

    def predict(self, crops) -> np.ndarray:
        """Probabilities of face crops.

        Args:
            crops: uint8 (N, H, W, C) raw-pixel crops of `input_shape` (e.g. from `crop_faces`).

        Returns:
            float32 (N, len(labels)); each row sums to 1 (int8 outputs are renormalised, since
            quantization rounds each probability to a multiple of the output scale).
        """
        crops = np.asarray(crops)
        if crops.ndim != 4 or tuple(crops.shape[1:]) != self.input_shape:
            raise ValueError(f"`crops` must be (N, {', '.join(map(str, self.input_shape))}); got {crops.shape}.")
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        if self.kind == "tflite":
            probs = self._lite.predict(crops.astype(np.float32))
        else:
            probs = np.asarray(self._keras(crops.astype(np.float32), training=False))
        probs = np.clip(probs.astype(np.float32), 0, None)
        return probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)

    def __repr__(self) -> str:
        return f"FaceClassifier({self.kind}, {self.source!r}, input={self.input_shape}, labels={len(self.labels)})"


def as_classifier(model) -> FaceClassifier:
    """`model` as a `FaceClassifier` (a path or Keras model is wrapped; a `FaceClassifier` is returned as is)."""
    return model if isinstance(model, FaceClassifier) else FaceClassifier(model)

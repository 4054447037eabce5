"""An exported `.tflite` in MediaPipe Tasks' `ImageClassifier`: the runtime Android, iOS and web apps load it in.

MediaPipe reads the model's TFLite Model Metadata (`kerasfer.export.metadata`) for the labels and
the input normalisation; nothing else is configured. Faces are given at the model's input size, so
MediaPipe's resize is the identity and its scores are comparable one to one with LiteRT's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasfer.utils.quiet import native_output_filtered

# A uint8 output is dequantized by each runtime: they may differ by at most one step (1/256).
SCORE_TOLERANCE = 1 / 256 + 1e-6
INSTALL_HINT = ("pip install 'kerasfer[phone]' && pip install --no-deps 'mediapipe>=1.2.3,<2' "
                "(`make install` does both)")


def mediapipe_available() -> bool:
    """Whether MediaPipe Tasks (the `mediapipe` package) can be imported."""
    import importlib.util

    return importlib.util.find_spec("mediapipe") is not None


def mediapipe_version() -> str:
    """The installed mediapipe version."""
    from importlib.metadata import version

    return version("mediapipe")


def mediapipe_scores(tflite_path, pixels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Every class score MediaPipe Tasks' `ImageClassifier` gives each face, and the label names it read.

    Args:
        tflite_path: a `.tflite` with TFLite Model Metadata.
        pixels: (N, H, W, 3) uint8 RGB faces at the model's input size (MediaPipe's ImageClassifier
            refuses grey models: "Only RGB color space is supported for now").

    Returns:
        (scores (N, num_classes) in output order, category names by output index).
    """
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import image_classifier
    from mediapipe.tasks.python.vision.core.image import Image, ImageFormat

    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[-1] != 3:
        raise ValueError(f"`pixels` must be (N, H, W, 3) uint8; got {pixels.shape} {pixels.dtype}.")
    options = image_classifier.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=str(tflite_path)), max_results=-1)
    with native_output_filtered():
        classifier = image_classifier.ImageClassifier.create_from_options(options)
    scores, names = None, {}
    with classifier:
        for i, face in enumerate(pixels):
            result = classifier.classify(Image(image_format=ImageFormat.SRGB, data=np.ascontiguousarray(face)))
            categories = result.classifications[0].categories
            if scores is None:
                scores = np.zeros((len(pixels), len(categories)), np.float32)
            for category in categories:
                scores[i, category.index] = category.score
                names[category.index] = category.category_name
    return scores, [names.get(i, "") for i in range(scores.shape[1])]


def check_in_mediapipe(tflite_path, pixels: np.ndarray, litert_scores: np.ndarray, keras_pred: np.ndarray,
                       labels) -> dict:
    """Compare MediaPipe Tasks' scores with LiteRT's and its top-1 with Keras's, on the same faces.

    Args:
        tflite_path: the exported `.tflite` (with metadata).
        pixels: (N, H, W, C) uint8 faces at the model's input size.
        litert_scores: LiteRT's (N, num_classes) scores of the same `pixels`.
        keras_pred: the Keras model's top-1 class of each face.
        labels: the label names the export should carry.

    Returns:
        ``{"runtime", "n", "agreement_litert", "agreement_keras", "max_score_difference",
        "within_one_step", "labels_match"}``; or ``{"runtime": None, "skipped": reason}`` when
        mediapipe is not installed.
    """
    if not mediapipe_available():
        return {"runtime": None, "skipped": f"mediapipe is not installed: {INSTALL_HINT}"}
    if not Path(tflite_path).is_file():
        raise FileNotFoundError(f"no such .tflite file: {tflite_path}")
    scores, names = mediapipe_scores(tflite_path, pixels)
    litert_scores = np.asarray(litert_scores, np.float32)
    if scores.shape != litert_scores.shape:
        raise ValueError(f"MediaPipe gave scores of shape {scores.shape}; LiteRT gave {litert_scores.shape}.")
    difference = float(np.abs(scores - litert_scores).max())
    return {
        "runtime": f"MediaPipe Tasks ImageClassifier {mediapipe_version()}",
        "n": int(len(pixels)),
        "agreement_litert": float((scores.argmax(1) == litert_scores.argmax(1)).mean()),
        "agreement_keras": float((scores.argmax(1) == np.asarray(keras_pred)).mean()),
        "max_score_difference": difference,
        "within_one_step": bool(difference <= SCORE_TOLERANCE),
        "labels_match": names == list(labels),
    }

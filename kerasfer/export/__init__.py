"""Export: kerasfer models → TFLite for phones (+ sidecar JSON), verified in LiteRT."""

from kerasfer.export.representative import balanced_sample, representative_images
from kerasfer.export.tflite import MODES, to_tflite
from kerasfer.export.verify import verify
from kerasfer.predict.sidecar import read_sidecar, sidecar_path

__all__ = [
    "MODES",
    "balanced_sample",
    "read_sidecar",
    "representative_images",
    "sidecar_path",
    "to_tflite",
    "verify",
]

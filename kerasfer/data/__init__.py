"""Data: the `FaceData` container, the SynthFaces renderer, bias knobs and the tf.data pipeline."""

from kerasfer.data.bias import AU_SKIN_BIAS, DEMO_BIAS, BiasSpec
from kerasfer.data.facedata import FaceData
from kerasfer.data.weights import balanced_weights
from kerasfer.data.synthfaces import au_prototype_matrix, make_synthfaces

__all__ = [
    "AU_SKIN_BIAS",
    "BiasSpec",
    "DEMO_BIAS",
    "FaceData",
    "au_prototype_matrix",
    "balanced_weights",
    "make_synthfaces",
]

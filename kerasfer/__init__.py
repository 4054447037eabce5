"""kerasfer: fairness-aware facial expression recognition with Keras 3."""

__version__ = "0.1.0"

from kerasfer.constants import ACTION_UNITS, ATTRIBUTES, EMOTIONS
from kerasfer.data import BiasSpec, FaceData, make_synthfaces
from kerasfer.training import train_model  # light: TensorFlow is imported when it is called

__all__ = [
    "ACTION_UNITS",
    "ATTRIBUTES",
    "EMOTIONS",
    "BiasSpec",
    "FaceData",
    "make_synthfaces",
    "train_model",
]

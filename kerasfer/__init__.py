"""kerasfer: fairness-aware facial expression recognition with Keras 3."""

__version__ = "0.1.0"

from kerasfer.utils.quiet import quiet_tensorflow_import, set_verbose

quiet_tensorflow_import()  # before anything imports TensorFlow: its C++ start-up lines stay out of the output


from kerasfer.constants import ACTION_UNITS, ATTRIBUTES, EMOTIONS
from kerasfer.data import BiasSpec, FaceData, make_synthfaces
from kerasfer.training import train_model  # light: TensorFlow is imported when it is called
from kerasfer.comparison import compare  # light too

__all__ = [
    "ACTION_UNITS",
    "ATTRIBUTES",
    "EMOTIONS",
    "BiasSpec",
    "FaceData",
    "compare",
    "make_synthfaces",
    "set_verbose",
    "audit",
    "train_model",
]


def __getattr__(name):
    """`kerasfer.audit` (`kerasfer.fairness.audit`), imported on first use: it loads fairlearn and pandas."""
    if name == "audit":
        from kerasfer.fairness import audit

        return audit
    raise AttributeError(f"module 'kerasfer' has no attribute {name!r}")

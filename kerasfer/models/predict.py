"""Batched prediction of any Keras image → probabilities model over a `FaceData`."""

from __future__ import annotations

import numpy as np

from kerasfer.models.batch import images_of


def predict_proba(model, data, batch_size: int = 256) -> np.ndarray:
    """Probabilities of `model` on every image of `data`, in order.

    Args:
        model: a kerasfer model or any Keras model image (raw pixels) → probabilities.
        data: a `FaceData` (images in memory or on disk).
        batch_size: images per forward pass.

    Returns:
        float32 array (N, num_outputs).
    """
    ds = data.dataset(batch_size, shuffle=False)
    outputs = [np.asarray(model(images_of(batch), training=False)) for batch in ds]
    return np.concatenate(outputs).astype(np.float32)

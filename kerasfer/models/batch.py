"""The typed batch: every model reads ``{"image", "label", "aus", "attributes": {...}}`` through here."""

from __future__ import annotations

import tensorflow as tf


def as_batch(data) -> dict:
    """Normalise what `fit`/`evaluate` hand a step into the documented batch dict.

    Accepts the dicts of `FaceData.dataset` as they are, and the Keras conventions
    ``(images, labels)`` / ``(images, labels, sample_weight)`` for users with plain arrays.

    Args:
        data: a batch dict, or a tuple as above, or images alone.

    Returns:
        A dict with at least ``"image"``; ``"label"``, ``"aus"``, ``"attributes"`` and
        ``"sample_weight"`` when the input had them.
    """
    if isinstance(data, dict):
        if "image" not in data:
            raise ValueError(f"A kerasfer batch needs an 'image' entry; got keys {sorted(data)}.")
        return data
    if isinstance(data, (tuple, list)):
        batch = {"image": data[0]}
        if len(data) > 1 and data[1] is not None:
            batch["label"] = data[1]
        if len(data) > 2 and data[2] is not None:
            batch["sample_weight"] = data[2]
        return batch
    return {"image": data}


def images_of(inputs):
    """The image tensor of a model input that may be a batch dict."""
    return inputs["image"] if isinstance(inputs, dict) else inputs


def sample_weight_of(batch, batch_size) -> tf.Tensor:
    """The batch's per-sample weights as float32 (ones when it has none)."""
    if "sample_weight" in batch:
        return tf.cast(tf.reshape(batch["sample_weight"], [-1]), tf.float32)
    return tf.ones([batch_size], tf.float32)

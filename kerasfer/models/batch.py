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


def group_indices(values, name: str, groups: int) -> tf.Tensor:
    """An attribute's batch entries as int32 (B,), checked to lie in -1..groups-1.

    Datasets group attributes their own way (RAF-DB has 5 age groups, SynthFaces 3), so a model
    is built with the data's group counts, and a batch that does not fit them stops training with
    the attribute's name instead of being one-hot encoded to zeros or failing in a gather.

    Args:
        values: (B,) or (B, 1) group indices of attribute `name`, -1 unknown.
        name: the attribute (for the error).
        groups: its number of groups in the model.

    Returns:
        (B,) int32 indices.
    """
    values = tf.cast(tf.reshape(values, [-1]), tf.int32)
    check = tf.debugging.assert_less(values, groups, message=f"attribute {name!r} has a group index >= {groups}, "
                                     "the number of groups the model was built with; build it with the data's "
                                     "group counts")
    with tf.control_dependencies([check]):
        return tf.identity(values)

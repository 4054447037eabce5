"""Loss helpers shared by the models' train steps."""

from __future__ import annotations

import keras
import tensorflow as tf


def replica_mean(per_example, weights) -> tf.Tensor:
    """Weighted mean of a per-example loss, scaled for `tf.distribute` replicas.

    Gradients of every replica are *summed* when applied, so a hand-written step must divide
    its local mean by the number of replicas (else gradients come out N× too large). On one
    device this is the plain weighted mean.

    Args:
        per_example: (B,) losses.
        weights: (B,) non-negative weights (0 masks a sample out).

    Returns:
        Scalar loss to differentiate.
    """
    return weighted_mean(per_example, weights) / tf.cast(
        tf.distribute.get_strategy().num_replicas_in_sync, per_example.dtype
    )


def weighted_mean(per_example, weights) -> tf.Tensor:
    """sum(w·l) / sum(w), 0 when every weight is 0."""
    per_example = tf.cast(per_example, tf.float32)
    weights = tf.cast(weights, tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(per_example * weights), tf.reduce_sum(weights))


def emotion_loss(labels, probs, label_smoothing: float = 0.0, soft_labels=None):
    """Per-example cross-entropy for integer labels or label distributions, masking unknown ones.

    With `soft_labels` (FER+'s annotator votes as distributions), a face whose row sums to more
    than 0 is scored against its distribution — Barsoum et al. 2016's "cross-entropy" mode, which
    they measured 1.2 points above majority labels — and the others against their integer label.

    Args:
        labels: (B,) int labels, -1 = unknown.
        probs: (B, C) predicted probabilities.
        label_smoothing: Keras' label smoothing factor (applied to either target).
        soft_labels: optional (B, C) distributions; a row of zeros = none known.

    Returns:
        (per_example_loss, known_mask) — the loss is 0 where neither label is known.
    """
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    known = labels >= 0
    target = tf.one_hot(tf.maximum(labels, 0), tf.shape(probs)[-1])
    if soft_labels is not None:
        soft_labels = tf.cast(soft_labels, probs.dtype)
        has_soft = tf.reduce_sum(soft_labels, axis=-1) > 0
        target = tf.where(has_soft[:, None], soft_labels, target)
        known = known | has_soft
    loss = keras.losses.categorical_crossentropy(target, probs, label_smoothing=label_smoothing)
    return tf.where(known, loss, 0.0), tf.cast(known, tf.float32)


def au_loss(aus, probs):
    """Per-example binary cross-entropy over Action Units, ignoring unknown entries (-1).

    Args:
        aus: (B, K) 0/1 targets, -1 = unknown.
        probs: (B, K) predicted probabilities.

    Returns:
        (per_example_loss, known_mask) — the loss averages the known AUs of each sample; the mask
        is 1 for samples with at least one known AU.
    """
    aus = tf.cast(aus, tf.float32)
    known = tf.cast(aus >= 0, tf.float32)
    bce = keras.ops.binary_crossentropy(tf.maximum(aus, 0.0), probs)
    per_example = tf.math.divide_no_nan(tf.reduce_sum(bce * known, -1), tf.reduce_sum(known, -1))
    return per_example, tf.cast(tf.reduce_sum(known, -1) > 0, tf.float32)

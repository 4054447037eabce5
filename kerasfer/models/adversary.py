"""The attribute adversary D: predicts a protected attribute from the latent."""

from __future__ import annotations

import keras
from keras import layers


def build_adversary(latent_dim: int, num_groups: int, *, num_classes: int = 0, units: int = 64,
                    name: str = "adversary") -> keras.Model:
    """Latent (and optionally the one-hot emotion label) → attribute-group probabilities.

    With `num_classes` > 0 the adversary also sees the label, so the encoder is pushed to make z
    independent of the attribute *given the class* (equalised-odds style) rather than marginally:
    under stereotypical bias, marginal independence would fight the label.

    Args:
        latent_dim: size of z.
        num_groups: number of groups of the attribute.
        num_classes: > 0 to condition on the one-hot label of that many classes.
        units: hidden units.
        name: model name.

    Returns:
        A Functional model ``z`` or ``[z, label_one_hot]`` → (num_groups,) probabilities.
    """
    z = keras.Input((latent_dim,), name="z")
    inputs = [z]
    x = z
    if num_classes:
        label = keras.Input((num_classes,), name="label_one_hot")
        inputs.append(label)
        x = layers.Concatenate(name="z_and_label")([z, label])
    x = layers.Dense(units, activation="relu", name="hidden1")(x)
    x = layers.Dense(units, activation="relu", name="hidden2")(x)
    out = layers.Dense(num_groups, activation="softmax", name="group")(x)
    return keras.Model(inputs if num_classes else z, out, name=name)

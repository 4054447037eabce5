"""Task heads that sit on the latent: emotion (softmax) and Action Units (sigmoid)."""

from __future__ import annotations

import keras


def build_emotion_head(latent_dim: int, num_classes: int = 7, *, units: int = 64, dropout: float = 0.2,
                       name: str = "emotion_head", keras_module=keras) -> keras.Model:
    """Latent → emotion probabilities: Dense-ReLU, dropout, Dense-softmax (``units=0``: Dense-softmax alone).

    Args:
        latent_dim: size of the latent it reads.
        num_classes: number of emotions.
        units: hidden units; 0: no hidden layer (and no dropout), the output layer reads the latent.
        dropout: dropout rate in training (after the hidden layer).
        name: model name.
        keras_module: `keras` (default) or `tf_keras` (the export twin, see `build_encoder`).

    Returns:
        A Functional `keras.Model` (latent_dim,) → (num_classes,) probabilities.
    """
    return _mlp_head(latent_dim, num_classes, "softmax", units, dropout, name, output_name="emotion",
                     keras_module=keras_module)


def build_au_head(latent_dim: int, num_aus: int, *, units: int = 64, dropout: float = 0.2,
                  name: str = "au_head", keras_module=keras) -> keras.Model:
    """Latent → per-AU presence probabilities (multi-label, one sigmoid per Action Unit).

    Args:
        latent_dim: size of the latent it reads.
        num_aus: number of Action Units.
        units: hidden units; 0: no hidden layer (and no dropout), the output layer reads the latent.
        dropout: dropout rate in training (after the hidden layer).
        name: model name.
        keras_module: `keras` (default) or `tf_keras` (the export twin, see `build_encoder`).

    Returns:
        A Functional `keras.Model` (latent_dim,) → (num_aus,) probabilities.
    """
    return _mlp_head(latent_dim, num_aus, "sigmoid", units, dropout, name, output_name="aus",
                     keras_module=keras_module)


def _mlp_head(latent_dim, outputs, activation, units, dropout, name, output_name, keras_module):
    if outputs < 1 or units < 0 or not 0 <= dropout < 1:
        raise ValueError(
            f"{name}: outputs must be positive, units >= 0 and dropout in [0, 1); got {outputs}, {units}, {dropout}."
        )
    layers = keras_module.layers
    z = keras_module.Input(shape=(latent_dim,), name="latent")
    x = z
    if units:  # units=0: a linear read-out of the latent (e.g. fer's logits under an identity head)
        x = layers.Dense(units, activation="relu", name="hidden")(x)
        x = layers.Dropout(dropout, name="dropout")(x)
    out = layers.Dense(outputs, activation=activation, name=output_name)(x)
    return keras_module.Model(z, out, name=name)

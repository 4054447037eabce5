"""Small custom layers of the kerasfer models."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasfer")
class GradientReversal(keras.layers.Layer):
    """Identity forward, gradient multiplied by -`scale` backward (Ganin & Lempitsky, 2015).

    Keras 3 has no gradient-reversal layer; ``(1 + s)·stop_gradient(x) - s·x`` equals x forward
    and has gradient -s, on every backend.

    Args:
        scale: the factor of the reversed gradient (>= 0).
    """

    def __init__(self, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if scale < 0:
            raise ValueError(f"`scale` must be >= 0; got {scale!r}.")
        self.scale = float(scale)

    def call(self, x):
        return (1.0 + self.scale) * ops.stop_gradient(x) - self.scale * x

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="kerasfer")
class Sampling(keras.layers.Layer):
    """Reparameterised sample z = mean + exp(log_var / 2)·ε, ε ~ N(0, I).

    Args:
        seed: seed of the layer's `keras.random.SeedGenerator`.
    """

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}

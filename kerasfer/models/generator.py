"""The generator G: latent + protected-attribute codes → reconstructed face."""

from __future__ import annotations

import keras
from keras import layers


def build_generator(latent_dim: int, condition_dim: int, image_shape, *, width: int = 16,
                    name: str = "generator") -> keras.Model:
    """A light decoder: concat(z, one-hot attributes) → Dense → 3 × (upsample, conv) → image.

    Conditioning on the attributes (fader-network / VFAE style) lets `z` drop them and still
    reconstruct the face.

    Args:
        latent_dim: size of z.
        condition_dim: total size of the concatenated one-hot attribute codes (0 for none).
        image_shape: (H, W, C) of the output; H, W divisible by 8.
        width: channels of the last conv block (the first has 4·width).
        name: model name.

    Returns:
        A Functional model [z, condition] → image in [0, 1] (pixels / 255).
    """
    h, w, c = image_shape
    z = keras.Input((latent_dim,), name="z")
    condition = keras.Input((max(condition_dim, 1),), name="condition")
    x = layers.Concatenate(name="z_and_condition")([z, condition])
    x = layers.Dense((h // 8) * (w // 8) * width * 4, activation="relu", name="project")(x)
    x = layers.Reshape((h // 8, w // 8, width * 4), name="to_grid")(x)
    for i, filters in enumerate((width * 4, width * 2, width)):
        x = layers.UpSampling2D(name=f"up{i + 1}")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
    image = layers.Conv2D(c, 3, padding="same", activation="sigmoid", name="image")(x)
    return keras.Model([z, condition], image, name=name)

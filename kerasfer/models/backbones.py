"""Standard image backbones from `keras.applications` as kerasfer encoders (raw pixels in, latent out).

Each application model is built without its classifier and with its own in-graph preprocessing, so
the encoder still takes raw 0–255 pixels (the phone contract does not change). Grey images are
repeated to three channels, which ImageNet weights need. The backbone's last feature map passes
through an identity layer named ``feature_map``, so Grad-CAM finds it as on the kerasfer encoder.
"""

from __future__ import annotations

from pathlib import Path

import keras

from kerasfer.models.encoder import FEATURE_MAP_LAYER, check_input_shape

#: backbone name -> `keras.applications` constructor name
APPLICATIONS = {
    "mobilenet_v3_small": "MobileNetV3Small",
    "efficientnet_b0": "EfficientNetB0",
    "efficientnetv2_b0": "EfficientNetV2B0",
}
BACKBONES = ("kerasfer", *APPLICATIONS)


def build_backbone_encoder(input_shape, backbone: str, *, weights=None, latent_dim: int = 64,
                           variational: bool = False, name: str = "encoder") -> keras.Model:
    """A `keras.applications` backbone → global average pooling → dense latent (raw pixels in).

    Args:
        input_shape: (H, W, C) of the images, C = 1 or 3; H and W multiples of 16, at least 32.
        backbone: one of `APPLICATIONS`.
        weights: None (random initialisation), ``"imagenet"`` (downloaded by Keras: needs the
            internet) or the path of a ``.weights.h5`` file saved from the same backbone.
        latent_dim: size of the latent vector.
        variational: output ``[z_mean, z_log_var]`` (FairVAE) instead of one latent.
        name: model name.

    Returns:
        A Functional `keras.Model` with a ``"feature_map"`` layer.

    Example:
        >>> encoder = build_backbone_encoder((64, 64, 3), "mobilenet_v3_small")  # doctest: +SKIP
    """
    if backbone not in APPLICATIONS:
        raise ValueError(f"`backbone` must be one of {BACKBONES}; got {backbone!r}.")
    check_input_shape(input_shape)
    height, width, channels = tuple(input_shape)
    if min(height, width) < 32:
        raise ValueError(f"backbone {backbone!r} needs images of at least 32×32; got {input_shape!r}.")
    if weights is not None and weights != "imagenet" and not Path(weights).is_file():
        raise ValueError(f"`weights` must be None, 'imagenet' or a .weights.h5 file; {weights!r} is not a file.")
    layers = keras.layers
    inputs = keras.Input(shape=(height, width, channels), name="image")
    x = inputs if channels == 3 else layers.Concatenate(name="grey_to_rgb")([inputs] * 3)
    constructor = getattr(keras.applications, APPLICATIONS[backbone])
    base = constructor(include_top=False, weights="imagenet" if weights == "imagenet" else None,
                       input_shape=(height, width, 3))  # its `name` selects EfficientNetV2 variants: keep
    if weights not in (None, "imagenet"):
        base.load_weights(weights)
    features = layers.Identity(name=FEATURE_MAP_LAYER)(base(x))
    x = layers.GlobalAveragePooling2D(name="pool")(features)
    if variational:
        return keras.Model(inputs, [layers.Dense(latent_dim, name="z_mean")(x),
                                    layers.Dense(latent_dim, name="z_log_var")(x)], name=name)
    return keras.Model(inputs, layers.Dense(latent_dim, name="latent")(x), name=name)

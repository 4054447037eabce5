"""QAT and pruning at export: a tf_keras twin of the inference graph, fine-tuned with tensorflow-model-optimization.

tfmot only accepts flat tf_keras Sequential/Functional models, so the twin is built by the same
builders (`build_encoder`, `build_emotion_head` with ``keras_module=tf_keras``), flattened into one
Functional chain, and given the Keras 3 model's weights by layer name. Imported only when QAT or
pruning is asked for.
"""

from __future__ import annotations

import numpy as np

from kerasfer.models.encoder import build_encoder
from kerasfer.models.heads import build_emotion_head


def _require_qat():
    try:
        import tensorflow_model_optimization as tfmot
        import tf_keras
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("QAT and pruning need the qat extra: pip install 'kerasfer[qat]'") from err
    return tfmot, tf_keras


def build_twin(model, tf_keras):
    """A flat tf_keras Functional copy of `model.classifier_model()` with the same weights and pixel scaling.

    Args:
        model: a kerasfer model built from `build_encoder` + `build_emotion_head` (it exposes
            `image_shape`, `width`, `latent_dim`, `head_units`, `dropout`, `num_classes`, `encoder`, `head`).
        tf_keras: the tf_keras module.

    Returns:
        A tf_keras Functional model image → probabilities.
    """
    needed = ("image_shape", "width", "latent_dim", "head_units", "dropout", "num_classes", "encoder", "head")
    missing = [a for a in needed if not hasattr(model, a)]
    if missing:
        raise ValueError(f"QAT/pruning need a kerasfer model built from build_encoder + build_emotion_head; "
                         f"`model` ({type(model).__name__}) lacks {missing}.")
    encoder = build_encoder(model.image_shape, size=getattr(model, "size", "phone"), width=model.width,
                            latent_dim=model.latent_dim, keras_module=tf_keras)
    head = build_emotion_head(model.latent_dim, model.num_classes, units=model.head_units, dropout=model.dropout,
                              keras_module=tf_keras)
    inputs = tf_keras.Input(shape=tuple(model.image_shape), name="image")
    x = inputs
    for part in (encoder, head):  # both are single chains: replaying their layers flattens them
        for layer in part.layers[1:]:
            x = layer(x)
    twin = tf_keras.Model(inputs, x, name="emotion_classifier_twin")
    source = {layer.name: layer for part in (model.encoder, model.head) for layer in part.layers[1:]}
    for layer in twin.layers[1:]:
        weights = source[layer.name].get_weights()
        if len(weights) != len(layer.get_weights()):
            raise ValueError(f"twin layer {layer.name!r} has {len(layer.get_weights())} weights, source {len(weights)}.")
        layer.set_weights(weights)
        if isinstance(layer, tf_keras.layers.Rescaling):  # weightless: models saved before build_encoder's
            layer.scale, layer.offset = source[layer.name].scale, source[layer.name].offset  # (x-128)/128 differ
    return twin


def fine_tune_twin(model, functional, images, *, qat_epochs: int, prune, seed: int = 0):
    """Prune and/or quantization-aware fine-tune the tf_keras twin; returns the model to convert.

    The twin is distilled from the Keras model's own probabilities (KL divergence): the goal is a
    phone model that agrees with it, and an unlabelled image array works as well as a `FaceData`.
    BatchNormalization statistics stay frozen during QAT.

    Args:
        model: the kerasfer model (see `build_twin`).
        functional: its Keras 3 inference model (for targets).
        images: float32 fine-tuning images (the balanced representative set).
        qat_epochs: QAT epochs (0: no QAT).
        prune: None or ``{"sparsity": s, "epochs": e}``.
        seed: seed.

    Returns:
        A tf_keras model ready for `TFLiteConverter.from_keras_model`.
    """
    tfmot, tf_keras = _require_qat()
    tf_keras.utils.set_random_seed(seed)
    targets = np.asarray(functional.predict(images, verbose=0))
    twin = build_twin(model, tf_keras)
    np.testing.assert_allclose(twin.predict(images[:4], verbose=0), functional.predict(images[:4], verbose=0),
                               atol=1e-4, err_msg="the tf_keras twin does not compute the Keras model's function")
    loss = tf_keras.losses.KLDivergence()  # distil the full distribution, not only the top-1
    batch = min(32, len(images))
    if prune is not None:
        schedule = tfmot.sparsity.keras.ConstantSparsity(float(prune["sparsity"]), begin_step=0, frequency=1)
        prunable = (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D, tf_keras.layers.Dense)
        twin = tf_keras.models.clone_model(  # only layers with kernels: Rescaling, BN, pooling have none to prune
            twin, clone_function=lambda layer: tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
            if isinstance(layer, prunable) else layer)
        twin.compile(optimizer=tf_keras.optimizers.Adam(1e-4), loss=loss)
        twin.fit(images, targets, batch_size=batch, epochs=int(prune.get("epochs", 1)), verbose=0,
                 callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
        twin = tfmot.sparsity.keras.strip_pruning(twin)
    if qat_epochs:
        for layer in twin.layers:  # keep the trained BN statistics: a short run on a small set would re-estimate them
            if isinstance(layer, tf_keras.layers.BatchNormalization):
                layer.trainable = False
        quantize = tfmot.quantization.keras
        # Rescaling (the in-graph pixel normalisation) has no QAT config: left float, the converter
        # calibrates it from the representative images like post-training quantization does.
        annotated = tf_keras.models.clone_model(
            twin, clone_function=lambda layer: layer if isinstance(layer, tf_keras.layers.Rescaling)
            else quantize.quantize_annotate_layer(layer))
        twin = quantize.quantize_apply(annotated)
        twin.compile(optimizer=tf_keras.optimizers.Adam(1e-4), loss=loss)
        twin.fit(images, targets, batch_size=batch, epochs=qat_epochs, verbose=0)
    return twin

"""Post-hoc erasure: LEACE on a trained encoder's latent, then a refit of the head (Belrose et al., NeurIPS 2023).

"LEACE: Perfect linear concept erasure in closed form" (Belrose, Schneider-Joseph, Ravfogel,
Cotterell, Raff, Biderman, NeurIPS 2023). The ``erasure`` method trains the baseline as usual, then
fits the closed-form eraser of the protected attribute(s) on its training latents
(`kerasfer.models.erasure.refit_erasure`) and refits the head for a few epochs on the erased latents
— no encoder pass is repeated, so it costs seconds. No linear probe then predicts the attribute from
the latent better than chance; the MLP probe of `kerasfer.fairness.leakage` says what nonlinear
information is left. The eraser is a frozen Dense layer between encoder and head, so the exported
model is the baseline's graph.

`erase_and_refit` works on any trained kerasfer emotion model with an encoder → latent → head path
(`EmotionClassifier`, `FairVAE`), also one loaded from ``model.keras``. The in-training variant
(``erasure=`` on the model, refitted every epoch by `train_model`) is
`kerasfer.training.callbacks.ErasureRefit`.
"""

from __future__ import annotations

import numpy as np

#: epochs of the head refit on the erased latents
REFIT_EPOCHS = 5
#: learning rate of the head refit (Adam)
REFIT_LEARNING_RATE = 1e-3


def erase_and_refit(model, data, attribute=None, *, epochs: int = REFIT_EPOCHS, batch_size: int = 64,
                    learning_rate: float = REFIT_LEARNING_RATE, sample_weight=None, seed: int = 0) -> dict:
    """Erase `attribute` from `model`'s latent (LEACE) and refit its head on `data`'s erased latents.

    Args:
        model: a trained `EmotionClassifier` or `FairVAE` (changed in place; an eraser is added when
            it has none).
        data: the training `FaceData` (labels and the attribute(s)).
        attribute: attribute name(s) to erase; None: the model's own ``erasure``.
        epochs: head-refit epochs (0: erase only).
        batch_size: latents per refit step.
        learning_rate: Adam's learning rate for the refit.
        sample_weight: optional (N,) loss weights of the refit (e.g. `kerasfer.data.balanced_weights`).
        seed: seed of the eraser's fitting subsample and of the refit's batch order.

    Returns:
        ``{"attributes", "n", "rank", "epochs", "head_loss"}``: what was erased, from how many faces,
        the rank of the removed subspace, and the refit's last-epoch mean loss (None with 0 epochs).

    Raises:
        ValueError: a model without an encoder → latent → emotion head path, an attribute the data
            lacks, no known labels, or bad arguments.
    """
    from kerasfer.models.erasure import build_eraser, check_erasure, refit_erasure
    from kerasfer.models.predict import predict_proba

    if not all(hasattr(model, name) for name in ("head", "eraser", "pre_erasure_model", "encoder_model")):
        raise ValueError(f"erase_and_refit needs a kerasfer emotion model (EmotionClassifier, FairVAE); got "
                         f"{type(model).__name__}.")
    if model.head.output_shape[-1] != getattr(model, "num_classes", None):
        raise ValueError(f"erase_and_refit refits a head of one score per emotion; {type(model).__name__}'s head has "
                         f"{model.head.output_shape[-1]} outputs (its served prediction is not the head's).")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"`epochs` must be an integer >= 0; got {epochs!r}.")
    names = check_erasure(attribute if attribute is not None else (model.erasure or None))
    if not names:
        raise ValueError("name the attribute(s) to erase: erase_and_refit(model, data, 'skin').")
    for name in names:
        data.check_attribute(name)
    if model.eraser is None:
        model.eraser = build_eraser(model.latent_dim)
    model.erasure = names
    report = refit_erasure(model, data, seed=seed)
    head_loss = None
    if epochs:
        latents = predict_proba(model.encoder_model(), data)
        head_loss = _refit_head(model.head, latents, data.labels, epochs=epochs, batch_size=batch_size,
                                learning_rate=learning_rate, sample_weight=sample_weight, seed=seed)
    return {**report, "epochs": epochs, "head_loss": head_loss}


def _refit_head(head, latents, labels, *, epochs, batch_size, learning_rate, sample_weight, seed) -> float:
    """Train `head` (latent → probabilities) on fixed latents with a fresh Adam; the last epoch's mean loss."""
    import keras
    import tensorflow as tf

    known = np.flatnonzero(np.asarray(labels) >= 0)
    if len(known) == 0:
        raise ValueError("the head refit needs known emotion labels; the data has none.")
    weights = np.ones(len(labels), np.float32) if sample_weight is None else np.asarray(sample_weight, np.float32)
    if weights.shape != (len(labels),):
        raise ValueError(f"`sample_weight` must have one weight per face ({len(labels)}); got shape {weights.shape}.")
    optimizer = keras.optimizers.Adam(learning_rate)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)

    @tf.function
    def step(x, y, w):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(loss_fn(y, head(x, training=True)) * w) / tf.reduce_sum(w)
        optimizer.apply(tape.gradient(loss, head.trainable_weights), head.trainable_weights)
        return loss

    rng = np.random.default_rng([seed, 1])
    for _ in range(epochs):
        order = rng.permutation(known)
        losses = [float(step(latents[b], labels[b].astype(np.int32), weights[b]))
                  for b in np.array_split(order, max(1, -(-len(order) // batch_size)))]
    return round(float(np.mean(losses)), 4)

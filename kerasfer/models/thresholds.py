"""Per-Action-Unit decision thresholds: tuned on validation data, stored in the model as a weight.

A sigmoid AU head outputs one probability per AU; 0.5 is rarely the best cut for rare AUs or after a
biased training set, so every AU gets its own threshold, the one that maximises its F1 on held-out
data. The thresholds live in a non-trainable weight ``au_thresholds`` of the model, so a `.keras`
round trip keeps them; `AUClassifier` and `FairVAE(head="au")` both carry it.
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.metrics import precision_recall_curve

DEFAULT_THRESHOLD = 0.5
THRESHOLD_WEIGHT = "au_thresholds"


def add_threshold_weight(model: keras.Model, num_aus: int):
    """Create the model's non-trainable ``au_thresholds`` weight (every AU at 0.5).

    Args:
        model: the model (or layer) that owns the weight; call from its constructor.
        num_aus: number of Action Units.

    Returns:
        The `keras.Variable`.
    """
    return model.add_weight(name=THRESHOLD_WEIGHT, shape=(num_aus,),
                            initializer=keras.initializers.Constant(DEFAULT_THRESHOLD), trainable=False)


def best_thresholds(aus, probs) -> np.ndarray:
    """For each AU, the probability cut (predict present when p ≥ cut) with the highest F1.

    Args:
        aus: (N, A) labels, 1 present, 0 absent, -1 unknown (left out).
        probs: (N, A) predicted probabilities.

    Returns:
        float32 (A,) thresholds; 0.5 for an AU without any known positive (F1 is undefined there).
    """
    aus, probs = np.asarray(aus), np.asarray(probs, np.float64)
    if aus.ndim != 2 or aus.shape != probs.shape:
        raise ValueError(f"`aus` and `probs` must both have shape (N, A); got {aus.shape} and {probs.shape}.")
    out = np.full(aus.shape[1], DEFAULT_THRESHOLD, np.float32)
    for a in range(aus.shape[1]):
        known = aus[:, a] >= 0
        truth = aus[known, a]
        if not truth.any():
            continue
        precision, recall, cuts = precision_recall_curve(truth, probs[known, a])
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.nan_to_num(2 * precision * recall / (precision + recall))[:-1]  # last point has no cut
        out[a] = cuts[int(np.argmax(f1))]
    return out


def tune_thresholds(model, data, *, batch_size: int = 256) -> np.ndarray:
    """Tune `model`'s per-AU thresholds for F1 on `data` and store them in the model.

    Args:
        model: a multi-label AU model with an ``au_thresholds`` weight (`AUClassifier`,
            `FairVAE(head="au")`); any other image → AU-probabilities model gets the thresholds
            returned only.
        data: validation `FaceData` with ``aus`` (not the test set: that would overfit the cut).
        batch_size: images per forward pass.

    Returns:
        float32 (A,) thresholds, in `data.au_names` order.
    """
    from kerasfer.models.predict import predict_proba

    if data.aus is None:
        raise ValueError("tune_thresholds needs validation data with Action Unit labels (`aus`); "
                         "this FaceData has none.")
    probs = predict_proba(model, data, batch_size)
    if probs.shape[1] != data.aus.shape[1]:
        raise ValueError(f"the model outputs {probs.shape[1]} AUs but `data` has {data.aus.shape[1]} AU columns.")
    thresholds = best_thresholds(data.aus, probs)
    variable = thresholds_of(model, default=None)
    if variable is not None:
        variable.assign(thresholds)
    return thresholds


def thresholds_of(model, default=DEFAULT_THRESHOLD):
    """The model's ``au_thresholds`` variable, or `default` when it has none."""
    return getattr(model, THRESHOLD_WEIGHT, default)


def apply_thresholds(probs, thresholds) -> np.ndarray:
    """0/1 AU predictions: present where p ≥ the AU's threshold.

    Args:
        probs: (N, A) probabilities.
        thresholds: (A,) thresholds or one number.

    Returns:
        int8 (N, A).
    """
    # Both in float32 (the model's precision, and how the thresholds are stored): a float64 0.3 is
    # below its float32 0.30000001, which would drop the sample at the cut.
    return (np.asarray(probs, np.float32) >= np.asarray(thresholds, np.float32)).astype(np.int8)


def rescale_to_threshold(probs, thresholds) -> np.ndarray:
    """Map each AU's probabilities monotonically so that its threshold lands on 0.5.

    p ↦ 0.5·p/t below t and 0.5 + 0.5·(p − t)/(1 − t) above: the order of the scores (so ROC AUC)
    is unchanged and "≥ 0.5" after the map is "≥ t" before it, so tools that cut at 0.5 (e.g.
    `kerasfer.fairness.audit`) score the tuned decisions.

    Args:
        probs: (N, A) probabilities.
        thresholds: (A,) thresholds in (0, 1).

    Returns:
        float32 (N, A) in [0, 1].
    """
    p = np.asarray(probs, np.float64)
    t = np.clip(np.broadcast_to(np.asarray(thresholds, np.float64), p.shape[-1:]), 1e-6, 1 - 1e-6)
    return np.where(p < t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1 - t)).astype(np.float32)

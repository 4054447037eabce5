"""`FairnessMonitor`: per-group validation accuracy and fairness gaps in every epoch's logs."""

from __future__ import annotations

import warnings

import keras
import numpy as np

from kerasfer.fairness.confusion import gap_metrics, group_confusion, group_metrics
from kerasfer.fairness.multilabel import au_group_metrics

_LOGGED_GAPS = ("equalized_odds_difference", "demographic_parity_difference", "fairness_ratio",
                "worst_group_accuracy")


class FairnessMonitor(keras.callbacks.Callback):
    """Log per-group accuracy and the fairness gaps on validation data at the end of every epoch.

    The values go into the epoch's `logs`, so they appear in `History.history` and, when this
    callback comes before `keras.callbacks.TensorBoard` in the callbacks list, in TensorBoard.
    Keys (prefix ``val_`` by default): ``val_<attribute>_<group>_accuracy`` and
    ``val_<attribute>_equalized_odds_difference``, ``..._demographic_parity_difference``,
    ``..._fairness_ratio``, ``..._worst_group_accuracy`` (same definitions as `audit`, no CIs).
    For Action Unit models: ``val_<attribute>_<group>_mean_f1`` and ``val_<attribute>_mean_f1_difference``.
    With ``leakage=True``: ``val_<attribute>_leakage``, the held-out linear probe's balanced accuracy on
    the latent the head reads (`kerasfer.fairness.probe_leakage`). A model with learned label noise
    (``label_noise=...``) also logs ``label_noise_<group>_diagonal``: the mean diagonal of its T_g, the
    share of that group's labels the model takes as right (1 = the annotators made no errors).

    Args:
        data: validation `FaceData` (labels for emotion models, `aus` for AU models).
        attributes: attributes to monitor; default all of `data`'s.
        every: log every `every` epochs (other epochs log nothing new).
        min_count: groups with fewer known samples are logged but left out of the gaps.
        batch_size: images per forward pass.
        prefix: prefix of every key.
        leakage: also log the latent's linear leakage of each attribute.

    Example:
        >>> model.fit(train.dataset(64), epochs=10,  # doctest: +SKIP
        ...           callbacks=[FairnessMonitor(val), keras.callbacks.TensorBoard("logs")])
    """

    def __init__(self, data, attributes=None, *, every: int = 1, min_count: int = 30, batch_size: int = 256,
                 prefix: str = "val_", leakage: bool = False):
        super().__init__()
        self.attributes = list(attributes or data.attribute_names)
        if not self.attributes:
            raise ValueError("FairnessMonitor needs data with at least one protected attribute.")
        for name in self.attributes:
            data.check_attribute(name)
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` must be a positive integer; got {every!r}.")
        self.data, self.every, self.min_count = data, every, int(min_count)
        self.batch_size, self.prefix, self.leakage = int(batch_size), prefix, bool(leakage)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or (epoch + 1) % self.every:
            return
        from kerasfer.models.predict import predict_proba

        probs = predict_proba(self.model, self.data, self.batch_size)
        if probs.shape[1] == len(self.data.label_names) and getattr(self.model, "head_kind", "emotion") != "au":
            logs.update(self._emotion_logs(probs.argmax(axis=1)))
        elif self.data.aus is not None and probs.shape[1] == len(self.data.au_names):
            logs.update(self._au_logs(probs))
        else:
            raise ValueError(f"FairnessMonitor: the model outputs {probs.shape[1]} values; expected "
                             f"{len(self.data.label_names)} emotions or {len(self.data.au_names)} AUs with `data.aus`.")
        if self.leakage:
            logs.update(self._leakage_logs())
        transition = getattr(self.model, "transition", None)
        if transition is not None:
            from kerasfer.models.groups import intersection_names

            matrices = keras.ops.convert_to_numpy(transition.transitions())
            names = intersection_names(self.model.label_noise, self.data.group_names, self.model.noise_sizes)
            logs.update({f"label_noise_{group}_diagonal": float(np.diagonal(matrices[g]).mean())
                         for g, group in enumerate(names)})

    def _leakage_logs(self) -> dict:
        from kerasfer.fairness.leakage import probe_leakage, stratifiable
        from kerasfer.models.predict import predict_proba

        if not hasattr(self.model, "encoder_model"):
            raise ValueError("FairnessMonitor(leakage=True) needs a kerasfer model with encoder_model().")
        latents = predict_proba(self.model.encoder_model(), self.data, self.batch_size)
        out = {}
        for name in self.attributes:
            groups = self.data.attributes[name]
            usable = stratifiable(groups)
            if len(np.unique(groups[usable])) >= 2:
                out[f"{self.prefix}{name}_leakage"] = probe_leakage(latents[usable], groups[usable], name,
                                                                    n_boot=0)["balanced_accuracy"]
        return out

    def _emotion_logs(self, y_pred) -> dict:
        out = {}
        labels = self.data.labels
        for name in self.attributes:
            groups, names = self.data.attributes[name], self.data.group_names[name]
            known = (groups >= 0) & (labels >= 0)
            point = group_metrics(group_confusion(labels[known], y_pred[known], groups[known], len(names),
                                                  len(self.data.label_names)))
            for g, group in enumerate(names):
                if point["count"][g]:
                    out[f"{self.prefix}{name}_{group}_accuracy"] = float(point["accuracy"][g])
            gaps = gap_metrics(point, point["count"] >= self.min_count)
            out.update({f"{self.prefix}{name}_{key}": float(gaps[key]) for key in _LOGGED_GAPS})
        return out

    def _au_logs(self, probs) -> dict:
        out = {}
        for name in self.attributes:
            groups, names = self.data.attributes[name], self.data.group_names[name]
            known = groups >= 0
            metrics = au_group_metrics(self.data.aus[known], probs[known], groups[known], len(names))
            with warnings.catch_warnings():  # a group without any positive AU has no F1: NaN, logged as such
                warnings.simplefilter("ignore", RuntimeWarning)
                mean_f1 = np.nanmean(metrics["f1"][0], axis=-1)
            kept = mean_f1[metrics["count"][0] >= self.min_count]
            for g, group in enumerate(names):
                if metrics["count"][0, g]:
                    out[f"{self.prefix}{name}_{group}_mean_f1"] = float(mean_f1[g])
            out[f"{self.prefix}{name}_mean_f1_difference"] = float(np.ptp(kept)) if len(kept) >= 2 else float("nan")
        return out

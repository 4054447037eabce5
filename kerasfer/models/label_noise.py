"""Group-conditional label noise: a per-group transition matrix between the true and the annotated emotion.

Annotators' biases put group-dependent errors into the labels ("this group's faces get labelled
angry"). Invariance of the latent cannot undo that: the head still learns the annotators' errors. The
forward correction of Patrini et al. (CVPR 2017) trains the head's *clean* prediction p(true | x)
through a transition matrix, p(annotated | x, g) = p(true | x) · T_g, with
T_g[i, j] = P(annotated = j | true = i, group = g). Here T_g is learned jointly with the model
(rows are softmaxes of free logits), starting near the identity and pulled towards it by a prior
(the cross-entropy of each row against its diagonal), so a group's matrix moves only as far as its
labels demand. Inference and export use the clean head alone; T_g is an audit finding.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasfer.models.groups import intersection_label, intersection_names

#: diagonal of T_g at initialisation (the rest of each row spread evenly)
INITIAL_DIAGONAL = 0.9
#: default pull of T_g towards the identity
DEFAULT_PRIOR = 0.01
#: T_g's logits are this × the stored weight, so the model's optimizer moves them this much faster
#: than the network's weights: a 30 % noise column needs a logit change of ~3 within a few hundred
#: steps, which Adam at 1e-3 cannot make. Measured (baseline, 3,000 faces at 32 px, 8 epochs, half of
#: the dark-skinned faces labelled angry): dark-skin accuracy 0.247 without label noise, 0.315 at
#: speed 20, 0.384 at 60, 0.431 at 100, 0.436 at 300; on clean data 0.552 / 0.564 (100) / 0.536 (300).
LOGIT_SPEED = 100.0


@keras.saving.register_keras_serializable(package="kerasfer")
class GroupLabelNoise(keras.layers.Layer):
    """p(annotated | x, g) = p(true | x) · T_g, one learned row-stochastic T_g per group.

    Args:
        num_groups: groups of the attribute the noise depends on.
        num_classes: classes of the head.
        prior: strength (>= 0) of the pull of T_g towards the identity: ``prior`` × the mean over
            groups and rows of −log T_g[i, i], added to the loss.

    Call args:
        probs: (B, C) clean probabilities.
        groups: (B,) int group of each sample; -1 (unknown) leaves the sample's probabilities as they are.
    """

    def __init__(self, num_groups: int, num_classes: int, prior: float = DEFAULT_PRIOR, **kwargs):
        super().__init__(**kwargs)
        if num_groups < 1 or num_classes < 2:
            raise ValueError(f"label noise needs >= 1 group and >= 2 classes; got {num_groups}, {num_classes}.")
        if not prior >= 0:
            raise ValueError(f"`label_noise_prior` must be >= 0; got {prior!r}.")
        self.num_groups, self.num_classes, self.prior = int(num_groups), int(num_classes), float(prior)
        off = (1 - INITIAL_DIAGONAL) / (self.num_classes - 1)
        start = np.log(np.where(np.eye(self.num_classes, dtype="float32") > 0, INITIAL_DIAGONAL, off)) / LOGIT_SPEED
        self.transition_weight = self.add_weight(
            shape=(self.num_groups, self.num_classes, self.num_classes), name="transition_logits",
            initializer=keras.initializers.Constant(np.broadcast_to(start, (self.num_groups,) + start.shape)))

    @property
    def transition_logits(self):
        """(G, C, C) logits of T_g (`LOGIT_SPEED` × the stored weight)."""
        return LOGIT_SPEED * self.transition_weight

    def transitions(self):
        """(G, C, C) tensor of T_g, rows summing to 1."""
        return ops.softmax(self.transition_logits, axis=-1)

    def call(self, probs, groups):
        groups = ops.reshape(ops.cast(groups, "int32"), (-1,))
        per_sample = ops.take(self.transitions(), ops.maximum(groups, 0), axis=0)  # (B, C, C)
        noisy = ops.einsum("bi,bij->bj", probs, per_sample)
        return ops.where(ops.expand_dims(groups >= 0, -1), noisy, probs)

    def prior_loss(self):
        """``prior`` × mean −log T_g[i, i]: 0 at the identity, growing as rows move mass off the diagonal."""
        diagonal = ops.diagonal(ops.log_softmax(self.transition_logits, axis=-1), axis1=-2, axis2=-1)
        return self.prior * -ops.mean(diagonal)

    def get_config(self):
        return {**super().get_config(), "num_groups": self.num_groups, "num_classes": self.num_classes,
                "prior": self.prior}


def transition_table(layer: GroupLabelNoise, group_names, class_names) -> dict:
    """T_g as nested lists for JSON and the report: ``{group: [[P(annotated=j | true=i)]]}``.

    Args:
        layer: a trained `GroupLabelNoise`.
        group_names: names of its groups, in index order.
        class_names: names of the classes (rows: true, columns: annotated).

    Returns:
        ``{"classes": [...], "groups": {name: C×C list}}``.
    """
    matrices = ops.convert_to_numpy(layer.transitions())
    return {"classes": list(class_names),
            "groups": {str(name): np.round(matrices[i], 4).tolist() for i, name in enumerate(group_names)}}


def transition_report(model, group_names: dict, class_names) -> dict:
    """A label-noise model's learned T_g for metrics.json, the audit and the report.

    Args:
        model: a kerasfer model built with ``label_noise=...`` (its ``transition`` layer set).
        group_names: ``{attribute: names}`` of the data (`FaceData.group_names`).
        class_names: the emotion names.

    Returns:
        ``{"attribute": "skin" or "gender×skin", "classes": [...], "groups": {group: C×C list}}``.
    """
    names = intersection_names(model.label_noise, group_names, model.noise_sizes)
    return {"attribute": intersection_label(model.label_noise), **transition_table(model.transition, names, class_names)}

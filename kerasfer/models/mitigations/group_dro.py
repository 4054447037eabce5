"""`GroupDROClassifier`: online Group DRO over (group × emotion) cells (Sagawa et al., ICLR 2020).

"Distributionally Robust Neural Networks for Group Shifts: On the Importance of Regularization for
Worst-Case Generalization" (Sagawa, Koh, Hashimoto, Liang, ICLR 2020): instead of the average loss,
minimise the worst cell's loss. The online algorithm keeps a weight q_g per cell; every step it
raises the weights of the cells that lost most, q_g ← q_g · exp(η · L_g), renormalises, and
descends on Σ_g q_g L_g. A cell here is a group of the protected attribute(s) × an emotion, so a
stereotype (few dark-skinned happy faces) is a cell the model cannot neglect. The paper's lesson is
that this only helps *with strong regularisation*: an over-parameterised model drives every cell's
training loss to zero and the weights stop mattering. `train_model` therefore trains it with decoupled
weight decay (AdamW, `weight_decay`), besides the short cosine schedule.

The weights only move for the cells a batch holds, so `train_model` draws Group DRO's batches
(group × emotion)-balanced (`kerasfer.models.mitigations.balanced`; its declaration,
`kerasfer.training.methods.group_dro`, says so), as Sagawa et al. train it on group-balanced
batches; without that a rare cell is in few batches and its weight hardly moves.
Only the training step differs from the baseline: the served graph and the export are unchanged.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from kerasfer.models.classifier import EmotionClassifier
from kerasfer.models.groups import attribute_names, group_count, group_index, group_sizes

#: η, the step size of the cell weights (the paper's default, 0.01)
STEP_SIZE = 0.01
#: AdamW's decoupled weight decay for Group DRO's "strong regularisation"
WEIGHT_DECAY = 0.1


@keras.saving.register_keras_serializable(package="kerasfer")
class GroupDROClassifier(EmotionClassifier):
    """The baseline classifier trained to minimise the worst (group × emotion) cell's loss.

    Args:
        input_shape: (H, W, C) raw-pixel images.
        num_classes: emotions (7).
        attribute: the protected attribute whose groups form the cells; a list of attributes gives
            their intersectional groups.
        groups: {attribute: number of groups}, from the training data (`train_model` passes it);
            default `kerasfer.ATTRIBUTES`' counts.
        step_size: η (> 0) of the exponentiated-gradient update of the cell weights.
        weight_decay: AdamW weight decay `train_model` trains with (>= 0).
        **kwargs: `EmotionClassifier` options (size, width, latent_dim, label_noise, ...).

    Attributes:
        cell_weights: the (G·C,) non-trainable q, saved with the model; `cell_weight_table` names them.
    """

    def __init__(self, input_shape=(64, 64, 3), num_classes: int = 7, *, attribute="skin", groups=None,
                 step_size: float = STEP_SIZE, weight_decay: float = WEIGHT_DECAY, **kwargs):
        if not step_size > 0:
            raise ValueError(f"`step_size` (η) must be positive; got {step_size!r}.")
        if not weight_decay >= 0:
            raise ValueError(f"`weight_decay` must be >= 0; got {weight_decay!r}.")
        self.attribute = attribute if isinstance(attribute, str) else list(attribute_names(attribute))
        self.groups = None if groups is None else {str(k): int(v) for k, v in dict(groups).items()}
        self.group_sizes = group_sizes(attribute, self.groups)
        self.num_groups = group_count(attribute, self.groups)
        self.step_size, self.weight_decay = float(step_size), float(weight_decay)
        super().__init__(input_shape, num_classes, **kwargs)
        cells = self.num_groups * self.num_classes
        self.cell_weights = self.add_weight(shape=(cells,), initializer=keras.initializers.Constant(1.0 / cells),
                                            trainable=False, name="cell_weights")
        self.worst_cell_tracker = keras.metrics.Mean(name="worst_cell_loss")

    @property
    def metrics(self):
        return [*super().metrics, self.worst_cell_tracker]

    def _cells(self, batch):
        """Each sample's cell (group × num_classes + label), -1 where the group or the label is unknown."""
        group = group_index(batch, self.attribute, self.group_sizes)
        label = tf.cast(tf.reshape(batch["label"], [-1]), tf.int32)
        return tf.where((group >= 0) & (label >= 0), group * self.num_classes + label, -1)

    def _objective(self, batch, loss, weights):
        cells = self._cells(batch)
        size = self.num_groups * self.num_classes
        weights = weights * tf.cast(cells >= 0, weights.dtype)
        index = tf.maximum(cells, 0)
        totals = tf.math.unsorted_segment_sum(loss * weights, index, size)
        counts = tf.math.unsorted_segment_sum(weights, index, size)
        present = counts > 0
        cell_loss = tf.where(present, totals / tf.maximum(counts, 1e-12), 0.0)
        # Exponentiated-gradient step on the cells this batch holds; the others keep their weight.
        raised = self.cell_weights * tf.exp(self.step_size * tf.stop_gradient(cell_loss))
        self.cell_weights.assign(raised / tf.reduce_sum(raised))
        self.worst_cell_tracker.update_state(tf.reduce_max(tf.where(present, cell_loss, 0.0)))
        objective = tf.reduce_sum(tf.stop_gradient(self.cell_weights) * cell_loss)
        return objective / tf.cast(tf.distribute.get_strategy().num_replicas_in_sync, objective.dtype)

    def cell_weight_table(self, group_names: dict, class_names) -> dict:
        """The learned q as ``{group: {emotion: weight}}`` (the cells Group DRO found hardest weigh most).

        Args:
            group_names: ``{attribute: names}`` of the data (`FaceData.group_names`).
            class_names: the emotion names.

        Returns:
            Nested dict of floats rounded to 4 places.
        """
        from kerasfer.models.groups import intersection_names

        q = keras.ops.convert_to_numpy(self.cell_weights).reshape(self.num_groups, self.num_classes)
        names = intersection_names(self.attribute, group_names, self.group_sizes)
        return {g: {str(c): round(float(w), 4) for c, w in zip(class_names, row)} for g, row in zip(names, q)}

    def get_config(self):
        return {**super().get_config(), "attribute": self.attribute, "groups": self.groups,
                "step_size": self.step_size, "weight_decay": self.weight_decay}

"""`DomainIndependentClassifier`: one emotion head per group, summed at inference (Wang et al., CVPR 2020).

"Towards Fairness in Visual Recognition: Effective Strategies for Bias Mitigation" (Wang, Qinami,
Karakozis, Genova, Nair, Hata, Russakovsky, CVPR 2020): instead of asking one classifier to ignore
the group, give every group its own block of class scores, train each face only on its group's
block (the softmax over the block's classes), and at inference sum the blocks' log-probabilities,
so the prediction needs no group label and no block's prior (a stereotype) wins by itself. The
served graph is image → encoder → head → block sum: a plain Functional model, exported like the
baseline.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasfer.models.classifier import EmotionClassifier
from kerasfer.models.groups import attribute_names, group_count, group_index, group_sizes


@keras.saving.register_keras_serializable(package="kerasfer")
class GroupBlockSum(keras.layers.Layer):
    """(B, G·C) softmax over all blocks → (B, C): softmax of Σ_g log p(g, c) (domain-independent inference).

    Args:
        num_groups: G, the blocks.
        num_classes: C, the classes of each block.
    """

    def __init__(self, num_groups: int, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_groups, self.num_classes = int(num_groups), int(num_classes)

    def call(self, probs):
        blocks = ops.reshape(ops.log(probs + 1e-12), (-1, self.num_groups, self.num_classes))
        return ops.softmax(ops.sum(blocks, axis=1), axis=-1)

    def get_config(self):
        return {**super().get_config(), "num_groups": self.num_groups, "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="kerasfer")
class DomainIndependentClassifier(EmotionClassifier):
    """The baseline classifier with one block of class scores per group of `attribute`.

    Training reads each face's group (``batch["attributes"][attribute]``) and its loss is the
    cross-entropy of the softmax over that group's block; a face whose group is unknown (-1) trains
    on the summed prediction. Inference, the Functional `classifier_model()` and the export use the
    sum over blocks and need no group. Every option of `EmotionClassifier` applies (label noise
    corrects the block's probabilities).

    The int8 export keeps the head's last layer as it is (`SERVES_HEAD`): the block sum reads every
    log-probability, so the logit compression of `kerasfer.export.int8_rewrite` would change it.

    Args:
        input_shape: (H, W, C) raw-pixel images.
        num_classes: emotions (7).
        attribute: the attribute whose groups get their own block; a list of attributes gives one
            block per intersectional group.
        groups: {attribute: number of groups}, from the training data (`train_model` passes it);
            default `kerasfer.ATTRIBUTES`' counts.
        **kwargs: `EmotionClassifier` options (size, width, latent_dim, label_noise, ...).
    """

    SERVES_HEAD = False  # what it serves is the head's blocks summed (see `kerasfer.export.int8_rewrite`)

    def __init__(self, input_shape=(64, 64, 3), num_classes: int = 7, *, attribute="skin", groups=None, **kwargs):
        self.attribute = attribute if isinstance(attribute, str) else list(attribute_names(attribute))
        self.groups = None if groups is None else {str(k): int(v) for k, v in dict(groups).items()}
        self.group_sizes = group_sizes(attribute, self.groups)
        self.num_groups = group_count(attribute, self.groups)
        super().__init__(input_shape, num_classes, **kwargs)
        self.block_sum = GroupBlockSum(self.num_groups, self.num_classes, name="group_block_sum")

    def _head_outputs(self) -> int:
        return self.num_groups * self.num_classes

    def _served(self, head_probs):
        return self.block_sum(head_probs)

    def _training_probs(self, images, training):
        return self._head_probs(images, training)

    def _group_probs(self, batch, joint):
        """Each face's own block, renormalised (the softmax over its group's class scores)."""
        group = group_index(batch, self.attribute, self.group_sizes)
        blocks = ops.reshape(joint, (-1, self.num_groups, self.num_classes))
        own = ops.take_along_axis(blocks, ops.reshape(ops.maximum(group, 0), (-1, 1, 1)), axis=1)[:, 0]
        own = own / ops.sum(own, axis=-1, keepdims=True)
        return ops.where(ops.expand_dims(group >= 0, -1), own, self.block_sum(joint))

    def _loss(self, batch, probs):
        return super()._loss(batch, self._group_probs(batch, probs))

    def _update_trackers(self, batch, probs, loss, weights):
        return super()._update_trackers(batch, self.block_sum(probs), loss, weights)  # accuracy as served

    def get_config(self):
        return {**super().get_config(), "attribute": self.attribute, "groups": self.groups}

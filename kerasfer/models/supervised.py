"""The train/test step shared by the single-task models (`EmotionClassifier`, `AUClassifier`)."""

from __future__ import annotations

import keras
import tensorflow as tf

from kerasfer.models.batch import as_batch
from kerasfer.models.encoder import with_saved_size
from kerasfer.models.face_template import FaceTemplateMixin
from kerasfer.models.losses import replica_mean


class SupervisedModel(FaceTemplateMixin, keras.Model):
    """A `keras.Model` whose step is: forward, masked and weighted per-example loss, one update.

    Subclasses define ``_loss(batch, probs) -> (per_example_loss, weights)`` (weights 0 mask a
    sample out: unknown labels, sample weights) and ``_update_trackers(batch, probs, loss,
    weights) -> logs``. The loss is averaged over the *global* batch (`replica_mean`), so the step
    is right under `tf.distribute` too.
    """

    @classmethod
    def from_config(cls, config):
        return cls(**with_saved_size(config))

    def train_step(self, data):
        batch = as_batch(data)
        with tf.GradientTape() as tape:
            probs = self._training_probs(batch["image"], training=True)
            loss, weights = self._loss(batch, probs)
            scaled = self._objective(batch, loss, weights)
        gradients = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        return self._update_trackers(batch, probs, loss, weights)

    def test_step(self, data):
        batch = as_batch(data)
        probs = self._training_probs(batch["image"], training=False)
        loss, weights = self._loss(batch, probs)
        return self._update_trackers(batch, probs, loss, weights)

    def _objective(self, batch, loss, weights):
        """The scalar a training step differentiates: the weighted mean of the per-example loss
        (`kerasfer.models.mitigations.GroupDROClassifier` weighs (group × class) cells instead)."""
        return replica_mean(loss, weights)

    def _training_probs(self, images, training):
        """What `_loss` reads: the model's output (a subclass may train on a wider output than it serves)."""
        return self(images, training=training)

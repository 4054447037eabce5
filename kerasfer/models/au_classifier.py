"""`AUClassifier`: the multi-label Action Unit baseline — shared encoder + sigmoid AU head."""

from __future__ import annotations

import keras
import tensorflow as tf

from kerasfer.constants import ACTION_UNITS
from kerasfer.models.backbones import saved_backbone
from kerasfer.models.batch import images_of, sample_weight_of
from kerasfer.models.encoder import DEFAULT_SIZE, build_encoder, preset_latent_dim
from kerasfer.models.heads import build_au_head
from kerasfer.models.losses import au_loss, weighted_mean
from kerasfer.models.supervised import SupervisedModel
from kerasfer.models.thresholds import add_threshold_weight, apply_thresholds, tune_thresholds


@keras.saving.register_keras_serializable(package="kerasfer")
class AUClassifier(SupervisedModel):
    """Which Action Units a face shows: `build_encoder` → latent → `build_au_head` (one sigmoid per AU).

    Trains on the ``"aus"`` entry of `FaceData.dataset` batches with binary cross-entropy; unknown
    AU labels (-1) are masked out of the loss (`kerasfer.models.losses.au_loss`) and a
    ``"sample_weight"`` entry weights it. Per-AU decision thresholds start at 0.5; `tune_thresholds`
    sets them for the best F1 on validation data and they are saved with the model.

    Args:
        input_shape: (H, W, C) of the raw-pixel images.
        num_aus: number of Action Units (13 for `kerasfer.ACTION_UNITS`).
        backbone: ``"kerasfer"``, a `keras.applications` backbone or ``"keras_hub:PRESET"``
            (`kerasfer.models.backbones.BACKBONES`).
        backbone_weights: None, ``"imagenet"`` (downloaded by Keras) or a weights file, for a
            `keras.applications` backbone (construction only).
        size: encoder preset, one of `kerasfer.models.encoder.SIZES` (see `build_encoder`).
        width: encoder width (see `build_encoder`).
        latent_dim: size of the latent the head reads; None: the preset's
            (`kerasfer.models.encoder.LATENT_DIMS`).
        head_units: hidden units of the head.
        dropout: head dropout.

    Example:
        >>> model = AUClassifier(input_shape=(64, 64, 3))
        >>> model.compile(optimizer="adam")
        >>> model.fit(train.dataset(64), epochs=5)          # doctest: +SKIP
        >>> model.tune_thresholds(val)                        # doctest: +SKIP
        >>> present = model.predict_aus(test)                 # (N, 13) 0/1  # doctest: +SKIP
    """

    def __init__(self, input_shape=(64, 64, 3), num_aus: int = len(ACTION_UNITS), *, size: str = DEFAULT_SIZE,
                 backbone="kerasfer", backbone_weights=None, width: int = 32,
                 latent_dim: int | None = None, head_units: int = 64, dropout: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_aus, int) or num_aus < 1:
            raise ValueError(f"`num_aus` must be a positive integer; got {num_aus!r}.")
        self.image_shape = tuple(input_shape)
        self.num_aus = int(num_aus)
        self.size, self.backbone = size, backbone
        self.width, self.head_units = int(width), int(head_units)
        self.latent_dim = preset_latent_dim(size, backbone) if latent_dim is None else int(latent_dim)
        self.dropout = float(dropout)
        self.encoder = build_encoder(self.image_shape, size=self.size, width=self.width, latent_dim=self.latent_dim,
                                     backbone=self.backbone, backbone_weights=backbone_weights)
        self.head = build_au_head(self.latent_dim, self.num_aus, units=self.head_units, dropout=self.dropout)
        self.au_thresholds = add_threshold_weight(self, self.num_aus)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.au_accuracy_tracker = keras.metrics.Mean(name="au_accuracy")
        self.built = True

    # ------------------------------------------------------------------------------ forward
    def call(self, inputs, training=False):
        return self.head(self.encoder(images_of(inputs), training=training), training=training)

    def classifier_model(self) -> keras.Model:
        """Functional model image (raw pixels) → per-AU probabilities; what export converts.

        The thresholds are not in the graph (a phone app cuts the probabilities with
        ``model.au_thresholds``, which the export sidecar can carry)."""
        inputs = keras.Input(shape=self.image_shape, name="image")
        return keras.Model(inputs, self.head(self.encoder(inputs)), name="au_classifier")

    def encoder_model(self) -> keras.Model:
        """Functional model image → latent (for leakage probes and projections)."""
        return self.encoder

    def tune_thresholds(self, data, *, batch_size: int = 256):
        """Set every AU's threshold to the one with the best F1 on `data` (validation, not test).

        Returns:
            float32 (num_aus,) thresholds (also stored in ``self.au_thresholds``).
        """
        return tune_thresholds(self, data, batch_size=batch_size)

    def predict_aus(self, data, *, batch_size: int = 256):
        """0/1 AU predictions for every face of `data` (a `FaceData`), cut at the tuned thresholds.

        Returns:
            int8 array (N, num_aus).
        """
        from kerasfer.models.predict import predict_proba

        return apply_thresholds(predict_proba(self, data, batch_size), self.au_thresholds.numpy())

    # ----------------------------------------------------------------------------- training
    @property
    def metrics(self):
        return [self.loss_tracker, self.au_accuracy_tracker]

    def _loss(self, batch, probs):
        if "aus" not in batch:
            raise ValueError("AUClassifier needs Action Unit labels: the batch has no 'aus' "
                             "(FaceData(aus=...) or a reader with AU columns).")
        loss, known = au_loss(batch["aus"], probs)
        return loss, known * sample_weight_of(batch, tf.shape(probs)[0])

    def _update_trackers(self, batch, probs, loss, weights):
        self.loss_tracker.update_state(loss, sample_weight=weights)
        aus = tf.cast(batch["aus"], tf.float32)
        hit = tf.cast(tf.cast(probs >= self.au_thresholds, tf.float32) == aus, tf.float32)
        known = tf.cast(aus >= 0, tf.float32)
        self.au_accuracy_tracker.update_state(weighted_mean(tf.reshape(hit, [-1]), tf.reshape(known, [-1])))
        return {m.name: m.result() for m in self.metrics}

    # ------------------------------------------------------------------------------- config
    def get_config(self):
        return {
            **super().get_config(),
            "input_shape": self.image_shape,
            "num_aus": self.num_aus,
            "size": self.size,
            "backbone": saved_backbone(self.backbone, self.encoder),  # weights are in the saved file
            "width": self.width,
            "latent_dim": self.latent_dim,
            "head_units": self.head_units,
            "dropout": self.dropout,
        }

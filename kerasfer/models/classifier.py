"""`EmotionClassifier`: the baseline — shared encoder + emotion head, no fairness terms."""

from __future__ import annotations

import keras
import tensorflow as tf

from kerasfer.models.backbones import saved_backbone
from kerasfer.models.batch import images_of, sample_weight_of
from kerasfer.models.encoder import DEFAULT_SIZE, build_encoder, preset_latent_dim
from kerasfer.models.erasure import build_eraser, check_erasure
from kerasfer.models.heads import build_emotion_head
from kerasfer.models.groups import group_count, group_index, group_sizes
from kerasfer.models.label_noise import DEFAULT_PRIOR, GroupLabelNoise
from kerasfer.models.test_time import check_views, test_time_views, view_mean, views_averaged
from kerasfer.models.losses import emotion_loss
from kerasfer.models.supervised import SupervisedModel


@keras.saving.register_keras_serializable(package="kerasfer")
class EmotionClassifier(SupervisedModel):
    """The baseline emotion classifier: `build_encoder` → latent → `build_emotion_head`.

    Reads the batch dicts of `FaceData.dataset` (or ``(images, labels)`` tuples); unknown labels
    (-1) are masked out of the loss and a ``"sample_weight"`` entry weights it (group
    reweighting: `kerasfer.data.balanced_weights`).

    Args:
        input_shape: (H, W, C) of the raw-pixel images.
        num_classes: number of emotions (7 for `kerasfer.EMOTIONS`).
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
        label_smoothing: cross-entropy label smoothing.
        label_noise: None, the attribute (e.g. ``"skin"``) whose groups get their own learned
            label-noise matrix T_g (forward correction, `kerasfer.models.label_noise`), or a list of
            attributes (one T_g per intersectional group); batches then need those attributes.
        label_noise_prior: pull of each T_g towards the identity (>= 0).
        label_noise_groups: ``{attribute: number of groups}`` of the training data for
            `label_noise` (`train_model` passes it); default `kerasfer.ATTRIBUTES`' counts, which
            only know gender, skin and age.
        erasure: None, or attribute name(s) whose linear information is erased from the latent
            before the head (LEACE, `kerasfer.models.erasure`; `train_model` refits it every epoch).
        test_time_mirror: at inference (and in the exported graph), average the probabilities of
            the image and of its mirror image: +0.5 to +1.2 points of FER+ Valid accuracy for the model
            fine-tuned from `fer` (docs/real-faces.md), at twice the inference cost. Training is
            unchanged (it mirrors faces at random already).
        test_time_shift: 0, or a number of pixels: also average over the face moved that far up,
            down, left and right (with `test_time_mirror`, and their mirror images: 10 views in all;
            `kerasfer.models.test_time`). 2 px added 0.3 to 0.6 points of FER+ Valid over mirroring
            alone for the `fer` start at 64 px.

    Example:
        >>> model = EmotionClassifier(input_shape=(64, 64, 3))
        >>> model.compile(optimizer="adam")
        >>> model.fit(make_synthfaces(256).dataset(64), epochs=1)  # doctest: +SKIP
    """

    def __init__(self, input_shape=(64, 64, 3), num_classes: int = 7, *, size: str = DEFAULT_SIZE,
                 backbone="kerasfer", backbone_weights=None, width: int = 32, latent_dim: int | None = None,
                 head_units: int = 64, dropout: float = 0.2, label_smoothing: float = 0.0, label_noise=None,
                 label_noise_prior: float = DEFAULT_PRIOR, erasure=None, label_noise_groups=None,
                 test_time_mirror: bool = False, test_time_shift: int = 0, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"`label_smoothing` must be in [0, 1); got {label_smoothing!r}.")
        self.image_shape = tuple(input_shape)
        self.num_classes = int(num_classes)
        self.size, self.backbone = size, backbone
        self.width, self.head_units = int(width), int(head_units)
        self.latent_dim = preset_latent_dim(size, backbone) if latent_dim is None else int(latent_dim)
        self.dropout, self.label_smoothing = float(dropout), float(label_smoothing)
        self.test_time_mirror, self.test_time_shift = check_views(self.image_shape, test_time_mirror, test_time_shift)
        self.encoder = build_encoder(self.image_shape, size=self.size, width=self.width, latent_dim=self.latent_dim,
                                     backbone=self.backbone, backbone_weights=backbone_weights)
        self.head = build_emotion_head(self.latent_dim, self._head_outputs(), units=self.head_units,
                                       dropout=self.dropout)
        self.erasure = check_erasure(erasure)
        self.eraser = build_eraser(self.latent_dim) if self.erasure else None
        self.label_noise, self.label_noise_prior = label_noise, float(label_noise_prior)
        self.label_noise_groups = None if label_noise_groups is None else {
            str(k): int(v) for k, v in dict(label_noise_groups).items()}
        self.noise_sizes = group_sizes(label_noise, self.label_noise_groups, argument="label_noise")
        self.transition = None if label_noise is None else GroupLabelNoise(
            group_count(label_noise, self.label_noise_groups, argument="label_noise"), self.num_classes, prior=self.label_noise_prior, name="label_noise")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.built = True  # every weight exists once the Functional parts are built

    # ------------------------------------------------------------------------------ forward
    def call(self, inputs, training=False):
        images = images_of(inputs)
        views = [images] if training else test_time_views(images, mirror=self.test_time_mirror,
                                                          shift=self.test_time_shift)
        if len(views) == 1:
            return self._served(self._head_probs(images, training))
        # the views stacked along the batch, once through the model (as in `classifier_model`)
        return view_mean(self._served(self._head_probs(keras.ops.concatenate(views, axis=0), training)), len(views))

    def classifier_model(self) -> keras.Model:
        """Functional model image (raw pixels) → emotion probabilities; what export converts."""
        inputs = keras.Input(shape=self.image_shape, name="image")

        def served(images):
            return self._served(self.head(self._erased(self.encoder(images))))

        probs = views_averaged(served, inputs, mirror=self.test_time_mirror, shift=self.test_time_shift)
        return keras.Model(inputs, probs, name="emotion_classifier")

    def _head_probs(self, images, training):
        return self.head(self._erased(self.encoder(images, training=training)), training=training)

    def _served(self, head_probs):
        """The head's output → what the model serves (the identity; one block per group summed in
        `DomainIndependentClassifier`)."""
        return head_probs

    def encoder_model(self) -> keras.Model:
        """Functional model image → the latent the head reads, erased if `erasure` (leakage probes, projections)."""
        if self.eraser is None:
            return self.encoder
        inputs = keras.Input(shape=self.image_shape, name="image")
        return keras.Model(inputs, self.eraser(self.encoder(inputs)), name="erased_encoder")

    def pre_erasure_model(self) -> keras.Model:
        """Functional model image → the encoder's latent before erasure (what the eraser is fitted on)."""
        return self.encoder

    def _erased(self, latent):
        return latent if self.eraser is None else self.eraser(latent)

    def _head_outputs(self) -> int:
        """Units of the head's softmax (`DomainIndependentClassifier` has one block per group)."""
        return self.num_classes

    # ----------------------------------------------------------------------------- training
    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def _loss(self, batch, probs):
        if "label" not in batch:
            raise ValueError("EmotionClassifier needs emotion labels: the batch has no 'label'.")
        if self.transition is not None:
            probs = self.transition(probs, group_index(batch, self.label_noise, self.noise_sizes))
        loss, known = emotion_loss(batch["label"], probs, self.label_smoothing, batch.get("soft_label"))
        if self.transition is not None:
            loss += self.transition.prior_loss()
        return loss, known * sample_weight_of(batch, tf.shape(probs)[0])

    def _update_trackers(self, batch, probs, loss, weights):
        self.loss_tracker.update_state(loss, sample_weight=weights)
        labels = tf.reshape(batch["label"], [-1])
        self.accuracy_tracker.update_state(tf.maximum(labels, 0), probs, sample_weight=tf.cast(labels >= 0, tf.float32))
        return {m.name: m.result() for m in self.metrics}

    # ------------------------------------------------------------------------------- config
    def get_config(self):
        return {
            **super().get_config(),
            "input_shape": self.image_shape,
            "num_classes": self.num_classes,
            "size": self.size,
            "backbone": saved_backbone(self.backbone, self.encoder),  # weights are in the saved file
            "width": self.width,
            "latent_dim": self.latent_dim,
            "head_units": self.head_units,
            "dropout": self.dropout,
            "label_smoothing": self.label_smoothing,
            "erasure": list(self.erasure) or None,
            "label_noise": self.label_noise,
            "label_noise_prior": self.label_noise_prior,
            "label_noise_groups": self.label_noise_groups,
            "test_time_mirror": self.test_time_mirror,
            "test_time_shift": self.test_time_shift,
        }

"""`FairVAE`: the attribute-adversarial VAE with latent alignment (Rizvi, Seth, Narang, ICPR 2024).

E(x) → (z_mean, z_log_var) → z;  G(z, a) → x̂;  D_a(z [, y]) → â for every protected attribute a;
C(z) → ŷ.  Loss = λ_rec·rec + β·KL + λ_adv·Σ_a adv_a + λ_align·Σ_a MMD_a + λ_cls·cls.

With ``lambda_adv > 0`` the adversaries act on the encoder, through a gradient-reversal layer
(``adversary_loss="reversal"``: one optimizer and the standard `compile(optimizer=...)` serve both
players, D minimising its cross-entropy while E maximises it) or with the confusion loss (E pushes
D's prediction towards uniform; each player gets its own gradient in the same step). Alternating
optimisers, the GAN recipe, would need a custom `compile`, two optimizer states in every checkpoint
and twice the forward passes per step. With ``lambda_adv=0`` (the default, see the class docstring)
no adversary is built. The label-noise matrices (``label_noise``) and the loss reweighting of
`kerasfer.training.train_model` carry the defaults' fairness together with the MMD alignment.

Under `tf.distribute` every term is averaged over the global batch (`replica_mean`); the MMD
alignment is estimated on each replica's local batch, so with many replicas
and small per-replica batches use a larger global batch or marginal alignment.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from kerasfer.constants import ACTION_UNITS, ATTRIBUTES
from kerasfer.models.adversary import build_adversary
from kerasfer.models.backbones import saved_backbone
from kerasfer.models.batch import as_batch, group_indices, images_of, sample_weight_of
from kerasfer.models.encoder import FAIRVAE_SIZE, build_encoder, with_saved_size
from kerasfer.models.face_template import FaceTemplateMixin
from kerasfer.models.erasure import build_eraser, check_erasure
from kerasfer.models.generator import build_generator
from kerasfer.models.heads import build_au_head, build_emotion_head
from kerasfer.models.groups import default_attribute, group_count, group_index, group_sizes
from kerasfer.models.label_noise import DEFAULT_PRIOR, GroupLabelNoise
from kerasfer.models.layers import GradientReversal, Sampling
from kerasfer.models.losses import au_loss, emotion_loss, replica_mean, weighted_mean
from kerasfer.models.mmd import group_mmd
from kerasfer.models.thresholds import add_threshold_weight

ALIGNMENTS = ("marginal", "conditional", None)
TRAINING_MODES = ("joint", "two_stage")
HEADS = ("emotion", "au")
ADVERSARY_INPUTS = ("sample", "mean")
#: How the encoder plays against the adversaries: "reversal" maximises their cross-entropy through a
#: gradient-reversal layer; "confusion" pushes their prediction towards uniform (Alvi et al. 2018),
#: which cannot be met by making z *anti*-informative (a permuted, still decodable code).
ADVERSARY_LOSSES = ("reversal", "confusion")
DEFAULT_PROTECTED = {name: len(groups) for name, groups in ATTRIBUTES.items()}


@keras.saving.register_keras_serializable(package="kerasfer")
class FairVAE(FaceTemplateMixin, keras.Model):
    """Attribute-adversarial VAE whose latent carries the expression but not the protected attributes.

    Defaults, chosen with `benchmarks/fairness_synthfaces.py` (SynthFaces, both regimes: stereotype
    only, and stereotype + biased annotators; 3 seeds): the standard encoder, the head trained on
    z_mean, learned label noise on ``"skin"``, marginal MMD alignment, and — with `train_model` — the
    loss reweighted so every (skin group × label) cell counts the same. No adversary acts on the
    encoder (``lambda_adv=0``, and then none is built; `kerasfer.fairness.FairnessMonitor` with
    ``leakage=True`` watches the latent instead): on the standard encoder every adversarial variant
    measured — reversal at λ_adv 0.5 and 2, on z_mean, conditional on the label, the confusion loss —
    cost accuracy (2–11 points) without a smaller equalized-odds gap than alignment + reweighting, or
    with a smaller gap only at 4+ points of accuracy (confusion). Set ``lambda_adv > 0`` to use them.

    Args:
        input_shape: (H, W, C) raw-pixel images.
        num_classes: emotions (7).
        protected: attribute name → number of groups, e.g. ``{"gender": 2, "skin": 3}``;
            default every attribute of `kerasfer.ATTRIBUTES`.
        alignment: ``"marginal"``, ``"conditional"`` (per emotion class) or None.
        adversary_conditional: give the adversaries the one-hot label too (equalised-odds style).
        head: ``"emotion"`` (softmax over `num_classes`) or ``"au"`` (sigmoid per Action Unit).
        num_aus: Action Units for ``head="au"``.
        training: ``"joint"`` (every term from the start) or ``"two_stage"`` (see `fit_two_stage`).
        backbone: ``"kerasfer"``, a `keras.applications` backbone or ``"keras_hub:PRESET"``
            (`kerasfer.models.backbones.BACKBONES`).
        backbone_weights: None, ``"imagenet"`` (downloaded by Keras) or a weights file, for a
            `keras.applications` backbone (construction only).
        size: encoder preset, one of `kerasfer.models.encoder.SIZES` (see `build_encoder`); default
            ``"standard"`` (`kerasfer.models.encoder.FAIRVAE_SIZE`).
        latent_dim, width, generator_width, head_units, adversary_units, dropout: sizes.
        lambda_rec, beta, lambda_adv, lambda_align, lambda_cls: loss weights (>= 0); with
            ``lambda_adv=0`` (default) no adversary is built or trained.
        beta_warmup_steps, adv_warmup_steps: linear warm-up of β and λ_adv from 0 (0 = none).
        head_input: what the head trains on: ``"mean"`` (z_mean, what it reads at inference and in
            the export; default) or ``"sample"`` (the sampled z).
        adversary_loss: the encoder's objective against the adversaries, one of `ADVERSARY_LOSSES`:
            ``"reversal"`` (default; maximise their cross-entropy) or ``"confusion"`` (make their
            prediction uniform; each player then gets its own gradient in the same step).
        adversary_input: what the adversaries read: ``"sample"`` (the sampled z, default) or
            ``"mean"`` (z_mean, the deterministic path that is exported).
        reconstruction_scale: G reconstructs the face downscaled by this factor (1, 2 or 4). The
            default 2 keeps the generator's cost low (full resolution cost 3.0× a baseline step on the
            phone encoder, 2 about 1.4–1.7×) while the reconstruction still anchors the latent to the face.
        label_noise: the attribute (e.g. ``"skin"``) whose groups get their own learned label-noise
            matrix T_g (forward correction, `kerasfer.models.label_noise`; emotion head only), a list
            of attributes (one T_g per intersectional group), None, or ``"auto"`` (default): ``"skin"``
            when protected, else the first protected attribute; None for the AU head.
        label_noise_prior: pull of each T_g towards the identity (>= 0).
        erasure: None, or protected attribute name(s) whose linear information is erased from the
            latent before the head (LEACE, `kerasfer.models.erasure`; `train_model` refits it every epoch).
        seed: seed of the sampling noise.

    Example:
        >>> model = FairVAE(input_shape=(64, 64, 3), protected={"skin": 3})
        >>> model.compile(optimizer="adam")
        >>> model.fit(make_synthfaces(512, bias="demo").dataset(64), epochs=1)  # doctest: +SKIP
    """

    def __init__(self, input_shape=(64, 64, 3), num_classes: int = 7, *, protected=None,
                 alignment="marginal", adversary_conditional: bool = False, head: str = "emotion",
                 num_aus: int = len(ACTION_UNITS), training: str = "joint", latent_dim: int = 32,
                 size: str = FAIRVAE_SIZE, backbone="kerasfer",
                 backbone_weights=None, width: int = 32,
                 generator_width: int = 16, head_units: int = 64, adversary_units: int = 64, dropout: float = 0.2,
                 lambda_rec: float = 1.0, beta: float = 0.01, lambda_adv: float = 0.0, lambda_align: float = 1.0,
                 lambda_cls: float = 1.0, beta_warmup_steps: int = 200, adv_warmup_steps: int = 200,
                 adversary_input: str = "sample", head_input: str = "mean", reconstruction_scale: int = 2,
                 adversary_loss: str = "reversal",
                 label_noise="auto",
                 label_noise_prior: float = DEFAULT_PRIOR, erasure=None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        protected = dict(DEFAULT_PROTECTED if protected is None else protected)
        _validate(protected, alignment, head, training,
                  dict(lambda_rec=lambda_rec, beta=beta, lambda_adv=lambda_adv, lambda_align=lambda_align,
                       lambda_cls=lambda_cls, beta_warmup_steps=beta_warmup_steps,
                       adv_warmup_steps=adv_warmup_steps))
        for name, value in (("adversary_input", adversary_input), ("head_input", head_input)):
            if value not in ADVERSARY_INPUTS:
                raise ValueError(f"`{name}` must be one of {ADVERSARY_INPUTS}; got {value!r}.")
        if adversary_loss not in ADVERSARY_LOSSES:
            raise ValueError(f"`adversary_loss` must be one of {ADVERSARY_LOSSES}; got {adversary_loss!r}.")
        self.adversary_loss = adversary_loss
        if reconstruction_scale not in (1, 2, 4) or any((s // reconstruction_scale) % 8 for s in input_shape[:2]):
            raise ValueError(f"`reconstruction_scale` must be 1, 2 or 4 and leave image sides divisible by 8; "
                             f"got {reconstruction_scale!r} for input_shape {tuple(input_shape)}.")
        self.image_shape, self.num_classes, self.protected = tuple(input_shape), int(num_classes), protected
        self.alignment, self.adversary_conditional, self.head_kind = alignment, bool(adversary_conditional), head
        self.num_aus, self.training_mode, self.seed = int(num_aus), training, int(seed)
        self.size, self.backbone = size, backbone
        self.latent_dim, self.width, self.generator_width = int(latent_dim), int(width), int(generator_width)
        self.head_units, self.adversary_units, self.dropout = int(head_units), int(adversary_units), float(dropout)
        self.weights_config = dict(lambda_rec=float(lambda_rec), beta=float(beta), lambda_adv=float(lambda_adv),
                                   lambda_align=float(lambda_align), lambda_cls=float(lambda_cls))
        self.beta_warmup_steps, self.adv_warmup_steps = int(beta_warmup_steps), int(adv_warmup_steps)
        self.adversary_input, self.reconstruction_scale = adversary_input, int(reconstruction_scale)
        self.head_input = head_input

        self.encoder = build_encoder(self.image_shape, size=self.size, width=self.width, latent_dim=self.latent_dim,
                                     backbone=self.backbone, backbone_weights=backbone_weights,
                                     variational=True)
        self.sampling = Sampling(seed=self.seed, name="sampling")
        h, w, c = self.image_shape
        target_shape = (h // self.reconstruction_scale, w // self.reconstruction_scale, c)
        self.generator = build_generator(self.latent_dim, sum(protected.values()), target_shape,
                                         width=self.generator_width)
        if head == "au":
            self.head = build_au_head(self.latent_dim, self.num_aus, units=self.head_units, dropout=self.dropout)
        else:
            self.head = build_emotion_head(self.latent_dim, self.num_classes, units=self.head_units,
                                           dropout=self.dropout)
        label_noise = default_label_noise(protected, head) if label_noise == "auto" else label_noise
        if label_noise is not None and head != "emotion":
            raise ValueError(f"`label_noise` models noise in emotion labels; it needs head='emotion', got {head!r}.")
        self.erasure = check_erasure(erasure, protected)
        self.eraser = build_eraser(self.latent_dim) if self.erasure else None
        self.label_noise, self.label_noise_prior = label_noise, float(label_noise_prior)
        self.noise_sizes = group_sizes(label_noise, protected, "label_noise")
        self.transition = None if label_noise is None else GroupLabelNoise(
            group_count(label_noise, protected, "label_noise"), self.num_classes, prior=self.label_noise_prior,
            name="label_noise")
        self.reversal = GradientReversal(1.0, name="gradient_reversal")
        conditional_classes = self.num_classes if (self.adversary_conditional and head == "emotion") else 0
        # With λ_adv = 0 (the default) no adversary is built: it could only watch, and three watching
        # adversaries cost a quarter of a training step (FairnessMonitor(leakage=True) watches instead).
        self.adversaries = {} if self.weights_config["lambda_adv"] == 0 else {
            name: build_adversary(self.latent_dim, groups, num_classes=conditional_classes,
                                  units=self.adversary_units, name=f"adversary_{name}")
            for name, groups in protected.items()
        }
        # Step counter for the warm-ups: a variable, so it is saved and restored with the model.
        self.step_counter = self.add_weight(name="step_counter", shape=(), initializer="zeros", trainable=False)
        if head == "au":  # per-AU decision thresholds, set by `kerasfer.models.tune_thresholds` and saved
            self.au_thresholds = add_threshold_weight(self, self.num_aus)
        self.stage = "joint"  # "vae" or "classifier" during fit_two_stage
        names = ["loss", "reconstruction", "kl", "adversary", "alignment", "classification", "adversary_accuracy",
                 "accuracy" if head == "emotion" else "au_accuracy"]
        if not self.adversaries:
            names = [n for n in names if n not in ("adversary", "adversary_accuracy")]
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.built = True

    # ----------------------------------------------------------------------------- forward
    def call(self, inputs, training=False):
        z_mean, _ = self.encoder(images_of(inputs), training=training)
        return self.head(self._erased(z_mean), training=training)

    def classifier_model(self) -> keras.Model:
        """Functional model image (raw pixels) → probabilities through `z_mean` (deterministic)."""
        inputs = keras.Input(shape=self.image_shape, name="image")
        z_mean, _ = self.encoder(inputs)
        name = "emotion_classifier" if self.head_kind == "emotion" else "au_classifier"
        return keras.Model(inputs, self.head(self._erased(z_mean)), name=name)

    def encoder_model(self) -> keras.Model:
        """Functional model image → `z_mean` as the head reads it (erased if `erasure`)."""
        inputs = keras.Input(shape=self.image_shape, name="image")
        return keras.Model(inputs, self._erased(self.encoder(inputs)[0]), name="fairvae_encoder")

    def pre_erasure_model(self) -> keras.Model:
        """Functional model image → `z_mean` before erasure (what the eraser is fitted on)."""
        inputs = keras.Input(shape=self.image_shape, name="image")
        return keras.Model(inputs, self.encoder(inputs)[0], name="fairvae_pre_erasure")

    def _erased(self, latent):
        return latent if self.eraser is None else self.eraser(latent)

    # ---------------------------------------------------------------------------- training
    @property
    def metrics(self):
        return list(self.trackers.values())

    def train_step(self, data):
        batch = as_batch(data)
        variables = self._trainable_for_stage()
        with tf.GradientTape(persistent=self._confusion) as tape:
            terms, outputs = self._terms(batch, training=True)
            total = self._total(terms)
            adversary_objective = self._adversary_objective(terms) if self._confusion else None
        if self._confusion:  # each player its own objective: D its cross-entropy, the rest the total
            own = {id(v) for v in self._adversary_weights()}
            players = [v for v in variables if id(v) not in own]
            adversaries = [v for v in variables if id(v) in own]
            gradients = tape.gradient(total, players) + tape.gradient(adversary_objective, adversaries)
            variables = players + adversaries
            del tape
        else:
            gradients = tape.gradient(total, variables)
        self.optimizer.apply(gradients, variables)
        self.step_counter.assign_add(1.0)
        terms["loss"] = total * _replicas()  # the tracker reports the unscaled total
        return self._update(terms, outputs, batch)

    def test_step(self, data):
        batch = as_batch(data)
        terms, outputs = self._terms(batch, training=False)
        terms["loss"] = self._total(terms) * _replicas()
        return self._update(terms, outputs, batch)

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`; a ``training="two_stage"`` model trains with `fit_two_stage` instead.

        Raises:
            ValueError: `fit` was called on a ``training="two_stage"`` model outside `fit_two_stage`
                (one `fit` cannot know where stage 1 ends).
        """
        if self.training_mode == "two_stage" and self.stage == "joint":
            raise ValueError("This FairVAE was built with training='two_stage': train it with "
                             "model.fit_two_stage(x, vae_epochs=..., classifier_epochs=...) "
                             "(kerasfer.training.train_model does this), or build it with training='joint'.")
        return super().fit(*args, **kwargs)

    def fit_two_stage(self, x, *, vae_epochs: int, classifier_epochs: int, optimizer="adam", **fit_kwargs):
        """The paper's schedule: first the VAE with adversaries and alignment (no classifier), then
        the emotion head alone on the frozen encoder's `z`.

        Args:
            x: the training dataset (batch dicts).
            vae_epochs: epochs of stage 1.
            classifier_epochs: epochs of stage 2.
            optimizer: optimizer (name or factory) used, freshly built, for each stage.
            **fit_kwargs: passed to both `fit` calls (validation_data, callbacks, verbose, ...).

        Returns:
            ``(history_stage1, history_stage2)``.
        """
        if vae_epochs < 0 or classifier_epochs < 0:
            raise ValueError(f"`vae_epochs` and `classifier_epochs` must be >= 0; got {vae_epochs}, {classifier_epochs}.")
        histories = []
        for stage, epochs in (("vae", vae_epochs), ("classifier", classifier_epochs)):
            self.stage = stage
            self.compile(optimizer=keras.optimizers.get(optimizer) if isinstance(optimizer, str) else optimizer())
            try:
                histories.append(self.fit(x, epochs=epochs, **fit_kwargs))
            finally:
                self.stage = "joint"
        return tuple(histories)

    @property
    def _confusion(self):
        return self.adversary_loss == "confusion" and bool(self.adversaries) and self.stage != "classifier"

    def _adversary_weights(self):
        return [w for adversary in self.adversaries.values() for w in adversary.trainable_weights]

    def _adversary_objective(self, terms):
        """What the adversaries minimise under ``adversary_loss="confusion"``: their cross-entropy."""
        lambda_adv = self.weights_config["lambda_adv"] * _ramp(self.step_counter, self.adv_warmup_steps)
        return lambda_adv * tf.add_n([replica_mean(ce, m) for ce, m in terms["adversary"]])

    def _trainable_for_stage(self):
        if self.stage == "classifier":
            noise = [] if self.transition is None else self.transition.trainable_weights
            return self.head.trainable_weights + noise
        return self.trainable_weights

    def _terms(self, batch, training):
        images = tf.cast(batch["image"], tf.float32)
        size = tf.shape(images)[0]
        weights = sample_weight_of(batch, size)
        # A frozen encoder (stage 2 of two-stage training) runs in inference mode: BN statistics stay put.
        encoder_training = training and self.stage != "classifier"
        z_mean, z_log_var = self.encoder(images, training=encoder_training)
        z = self.sampling([z_mean, z_log_var]) if encoder_training else z_mean
        attributes = batch.get("attributes", {})
        missing = [name for name in self.protected if name not in attributes]
        if missing:
            raise ValueError(f"FairVAE protects {missing} but the batch has attributes {sorted(attributes)}.")
        group_of = {name: group_indices(attributes[name], name, groups) for name, groups in self.protected.items()}
        codes = [tf.one_hot(group_of[name], groups) for name, groups in self.protected.items()]
        condition = tf.concat(codes, axis=-1) if codes else tf.zeros([size, 1])

        reconstruction = self.generator([z, condition], training=training)
        target = images / 255.0
        if self.reconstruction_scale > 1:  # a coarser target: the generator's cost drops ~scale² (issue: ≤ 1.5× step)
            target = tf.nn.avg_pool2d(target, self.reconstruction_scale, self.reconstruction_scale, "VALID")
        rec = tf.reduce_mean(tf.square(target - reconstruction), axis=[1, 2, 3])
        kl = -0.5 * tf.reduce_mean(1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=-1)

        probs = self.head(self._erased(z_mean if self.head_input == "mean" else z), training=training)
        if self.head_kind == "au":
            cls, known = au_loss(batch["aus"], probs)
            labels = None
        else:
            annotated = probs if self.transition is None else self.transition(
                probs, group_index(batch, self.label_noise, self.noise_sizes))
            cls, known = emotion_loss(batch["label"], annotated, soft_labels=batch.get("soft_label"))
            labels = tf.cast(tf.reshape(batch["label"], [-1]), tf.int32)

        adv_losses, confusion, adv_hits, align = [], [], [], []
        adversary_z = z_mean if self.adversary_input == "mean" else z
        # reversal: D reads z through the reversal layer; confusion: D trains on a stopped z, and the
        # encoder's confusion term reads D's prediction on the live z
        confused = self.adversary_loss == "confusion"
        d_input = tf.stop_gradient(adversary_z) if confused else self.reversal(adversary_z)
        one_hot_label = None if labels is None else tf.one_hot(tf.maximum(labels, 0), self.num_classes)

        def adversary_of(name, latent):
            both = self.adversary_conditional and one_hot_label is not None
            return self.adversaries[name]([latent, one_hot_label] if both else latent, training=training)

        for name, groups in self.protected.items():
            group = group_of[name]
            if self.alignment is not None:
                conditional = self.alignment == "conditional" and labels is not None
                align.append(group_mmd(z_mean, group, groups, labels if conditional else None,
                                       self.num_classes if conditional else 0))
            if name not in self.adversaries:
                continue
            known_group = tf.cast(group >= 0, tf.float32)
            guess = adversary_of(name, d_input)
            ce = keras.losses.categorical_crossentropy(tf.one_hot(tf.maximum(group, 0), groups), guess)
            adv_losses.append((ce, known_group))
            if confused:  # cross-entropy of D(z) against the uniform distribution
                live = adversary_of(name, adversary_z)
                confusion.append((-tf.reduce_mean(tf.math.log(live + 1e-7), axis=-1), known_group))
            hit = tf.cast(tf.argmax(guess, -1, output_type=tf.int32) == group, tf.float32)
            adv_hits.append(weighted_mean(hit, known_group))
        terms = {
            "reconstruction": (rec, weights),
            "kl": (kl, weights),
            "classification": (cls, known * weights),
            "adversary": adv_losses,
            "confusion": confusion,
            "alignment": tf.add_n(align) if align else tf.constant(0.0),
        }
        return terms, {"probs": probs, "adversary_accuracy": tf.reduce_mean(adv_hits) if adv_hits else 0.0}

    def _total(self, terms):
        """The weighted loss to differentiate, scaled for tf.distribute replicas (replica_mean)."""
        w = self.weights_config
        prior = 0.0 if self.transition is None else self.transition.prior_loss() / _replicas()
        if self.stage == "classifier":
            return w["lambda_cls"] * replica_mean(*terms["classification"]) + prior
        step = self.step_counter
        beta = w["beta"] * _ramp(step, self.beta_warmup_steps)
        lambda_adv = w["lambda_adv"] * _ramp(step, self.adv_warmup_steps)
        replicas = _replicas()
        # reversal: D's cross-entropy (reversed for the encoder); confusion: the encoder's uniform target
        # (D's own cross-entropy reads a stopped z and is applied to D alone in train_step)
        against = terms["confusion"] if self.adversary_loss == "confusion" else terms["adversary"]
        total = (w["lambda_rec"] * replica_mean(*terms["reconstruction"]) + beta * replica_mean(*terms["kl"])
                 + lambda_adv * tf.add_n([replica_mean(ce, m) for ce, m in against] or [0.0])
                 + w["lambda_align"] * terms["alignment"] / replicas)
        if self.stage != "vae":
            total += w["lambda_cls"] * replica_mean(*terms["classification"]) + prior
        return total

    def _update(self, terms, outputs, batch):
        t = self.trackers
        t["reconstruction"].update_state(weighted_mean(*terms["reconstruction"]))
        t["kl"].update_state(weighted_mean(*terms["kl"]))
        t["classification"].update_state(weighted_mean(*terms["classification"]))
        if terms["adversary"]:
            t["adversary"].update_state(tf.add_n([weighted_mean(ce, m) for ce, m in terms["adversary"]]))
            t["adversary_accuracy"].update_state(outputs["adversary_accuracy"])
        t["alignment"].update_state(terms["alignment"])
        t["loss"].update_state(terms["loss"])
        probs = outputs["probs"]
        if self.head_kind == "emotion":
            labels = tf.cast(tf.reshape(batch["label"], [-1]), tf.int32)
            hit = tf.cast(tf.argmax(probs, -1, output_type=tf.int32) == labels, tf.float32)
            t["accuracy"].update_state(weighted_mean(hit, tf.cast(labels >= 0, tf.float32)))
        else:
            aus = tf.cast(batch["aus"], tf.float32)
            hit = tf.cast(tf.cast(probs > 0.5, tf.float32) == aus, tf.float32)
            t["au_accuracy"].update_state(weighted_mean(tf.reshape(hit, [-1]), tf.reshape(tf.cast(aus >= 0, tf.float32), [-1])))
        return {name: tracker.result() for name, tracker in t.items()}

    # ------------------------------------------------------------------------------ config
    @classmethod
    def from_config(cls, config):
        # Files saved before these options existed trained the head on the sampled z, without label noise.
        return cls(**{"head_input": "sample", "label_noise": None, **with_saved_size(config)})

    def get_config(self):
        return {
            **super().get_config(),
            "input_shape": self.image_shape, "num_classes": self.num_classes, "protected": dict(self.protected),
            "alignment": self.alignment, "adversary_conditional": self.adversary_conditional,
            "head": self.head_kind, "num_aus": self.num_aus, "training": self.training_mode,
            "latent_dim": self.latent_dim, "size": self.size, "backbone": saved_backbone(self.backbone, self.encoder),
            "width": self.width, "generator_width": self.generator_width,
            "head_units": self.head_units, "adversary_units": self.adversary_units, "dropout": self.dropout,
            **self.weights_config,
            "beta_warmup_steps": self.beta_warmup_steps, "adv_warmup_steps": self.adv_warmup_steps,
            "adversary_input": self.adversary_input, "head_input": self.head_input,
            "adversary_loss": self.adversary_loss,
            "reconstruction_scale": self.reconstruction_scale,
            "erasure": list(self.erasure) or None, "label_noise": self.label_noise,
            "label_noise_prior": self.label_noise_prior, "seed": self.seed,
        }


def default_label_noise(protected: dict, head: str = "emotion"):
    """What ``label_noise="auto"`` resolves to: ``"skin"`` if protected, else the first protected
    attribute; None for the AU head or without protected attributes."""
    return default_attribute(protected or ()) if head == "emotion" else None


def _replicas():
    """Number of tf.distribute replicas in sync, as float32 (1 outside a strategy)."""
    return tf.cast(tf.distribute.get_strategy().num_replicas_in_sync, tf.float32)


def _ramp(step, warmup_steps: int):
    """Linear warm-up factor in [0, 1]."""
    if warmup_steps <= 0:
        return 1.0
    return tf.minimum(1.0, step / float(warmup_steps))


def _validate(protected, alignment, head, training, numbers):
    for name, groups in protected.items():
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 2:
            raise ValueError(f"`protected[{name!r}]` must be an integer >= 2 (its number of groups); got {groups!r}.")
    if alignment not in ALIGNMENTS:
        raise ValueError(f"`alignment` must be one of {ALIGNMENTS}; got {alignment!r}.")
    if head not in HEADS:
        raise ValueError(f"`head` must be one of {HEADS}; got {head!r}.")
    if training not in TRAINING_MODES:
        raise ValueError(f"`training` must be one of {TRAINING_MODES}; got {training!r}.")
    for name, value in numbers.items():
        if not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"`{name}` must be a number >= 0; got {value!r}.")

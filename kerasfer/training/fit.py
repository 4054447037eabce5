"""`train_model`'s fit step: the method's batches and callbacks, `model.fit` (or the custom loop) from the resumed step."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Fitted:
    """What the fit step leaves: the History ``logs`` and when this call's first batch finished (None: no batch)."""

    logs: dict
    first_step_at: float | None


def fit(plan, model, resumed) -> Fitted:
    """Train `model` from ``resumed.start_step`` to the plan's last epoch.

    The batches are the plan's seeded, resumable stream (`kerasfer.training.epochs.epoch_stream`):
    balanced when the method samples so, weighted by the plan's sample weights, mirrored and augmented
    as asked. The callbacks are the method's, then the NaN guard, the progress display, the caller's
    and the backup.

    Returns:
        The `Fitted` logs.

    Raises:
        kerasfer.training.callbacks.NonFiniteLossError: a loss term became NaN/Inf (the message names it).
    """
    import keras

    from kerasfer.models.mitigations.balanced import balance_spec
    from kerasfer.training.callbacks import NonFiniteLossError, TerminateOnNaN, fit_progress
    from kerasfer.training.epochs import epoch_stream
    from kerasfer.training.loop import fit_loop
    from kerasfer.training.recipe import augmentation_layer

    nan_guard = TerminateOnNaN()
    first_step = {}  # when the first batch of this call finished: the cost of (re)starting
    timer = keras.callbacks.LambdaCallback(on_train_batch_end=lambda *_, **__: first_step.setdefault("at", time.time()))
    keras_verbose, progress = fit_progress(plan.verbose if plan.chief else 0, plan.epochs)
    callbacks = [*plan.method.callbacks(model, plan), nan_guard, timer, *progress, *plan.callbacks,
                 *([] if resumed.backup is None else [resumed.backup])]
    balance = balance_spec(plan.attribute) if plan.method.balanced_sampling else None
    augmentation = augmentation_layer(plan.augment, plan.recipe, plan.seed)

    def stream(start, stop_epoch=None):
        return epoch_stream(plan.train_data, plan.batch_size, epochs=plan.epochs, seed=plan.seed, start_step=start,
                            stop_epoch=stop_epoch, sample_weight=plan.sample_weight,
                            drop_remainder=plan.drop_remainder, flip=plan.flip, balance=balance, mix=plan.mix,
                            augment=augmentation)

    validation = None
    if plan.validation_data is not None:
        validation = plan.validation_data.dataset(plan.batch_size, shuffle=False, drop_remainder=plan.drop_remainder)
    logs = {}
    if resumed.start_step < plan.epochs * plan.steps_per_epoch:
        if plan.with_fit:
            logs = _fit_from_step(model, stream, start_step=resumed.start_step, steps_per_epoch=plan.steps_per_epoch,
                                  epochs=plan.epochs, callbacks=callbacks, validation_data=validation,
                                  verbose=keras_verbose)
        else:
            logs = fit_loop(model, stream(resumed.start_step), steps_per_epoch=plan.steps_per_epoch, epochs=plan.epochs,
                            initial_step=resumed.start_step, callbacks=callbacks, validation_data=validation,
                            verbose=keras_verbose, strategy=plan.strategy).history
    if nan_guard.report is not None:
        backup = resumed.backup
        raise NonFiniteLossError(f"{plan.name}: {nan_guard.message()}; the last finite backup (if any) is in "
                                 f"{backup.backup_dir if backup else 'nowhere (no `out`)'}")
    return Fitted(logs, first_step.get("at"))


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

"""`fit_loop`: `model.fit`'s epoch/step/callback protocol as a custom loop, for the strategies where
`fit` fails (`MultiWorkerMirroredStrategy` with TF 2.21 + Keras 3.15: "Attempt to convert a value
(PerReplica…) to a Tensor").

The loop is what the TensorFlow multi-worker guide prescribes: the model and its optimizer are
built inside ``strategy.scope()``, the dataset goes through `experimental_distribute_dataset`,
and one `tf.function` runs ``strategy.run(model.train_step, args=(batch,))`` per step. It reuses
the model's own `train_step` / `test_step` and Keras' `CallbackList` (progress bar, History,
`BackupAndResume`, `TerminateOnNaN`), so logs and checkpoints look like `fit`'s.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def fit_loop(model, dataset, *, steps_per_epoch: int, epochs: int, initial_step: int = 0, callbacks=(),
             validation_data=None, verbose=1, strategy=None):
    """Train `model` on `dataset` like `model.fit(dataset, epochs, steps_per_epoch, initial_epoch)`.

    Args:
        model: a compiled kerasfer model whose variables and optimizer were built under
            ``strategy.scope()`` (call ``model.optimizer.build(model.trainable_variables)`` there).
        dataset: a `tf.data.Dataset` of global batches holding exactly the remaining
            ``epochs * steps_per_epoch - initial_step`` batches (see `kerasfer.training.epochs.epoch_stream`).
        steps_per_epoch: batches per epoch.
        epochs: epochs of the whole run.
        initial_step: batches already trained (a resumed run starts mid-epoch).
        callbacks: Keras callbacks.
        validation_data: optional `tf.data.Dataset` evaluated at each epoch end (``val_*`` logs).
        verbose: Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch.
        strategy: the `tf.distribute.Strategy` (default: the model's).

    Returns:
        The `keras.callbacks.History`.
    """
    strategy = strategy or model.distribute_strategy
    callbacks = keras.callbacks.CallbackList(list(callbacks), add_history=True, add_progbar=verbose != 0,
                                             verbose=verbose, epochs=epochs, steps=steps_per_epoch, model=model)
    iterator = iter(strategy.experimental_distribute_dataset(dataset))

    def mean_over_replicas(logs):
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in logs.items()}

    @tf.function
    def train_step(iterator):
        return mean_over_replicas(strategy.run(model.train_step, args=(next(iterator),)))

    @tf.function
    def test_step(batch):
        return mean_over_replicas(strategy.run(model.test_step, args=(batch,)))

    # Batch-norm moving statistics are updated from each replica's own batches; average them so every
    # worker ends with the same model (Keras 2 read them through an ON_READ MEAN aggregation).
    statistics = [w for w in model.non_trainable_weights if w.dtype.startswith("float")]

    def replica_means():
        return [tf.distribute.get_replica_context().all_reduce("MEAN", tf.identity(w.value)) for w in statistics]

    @tf.function
    def average_statistics():
        means = strategy.run(replica_means)
        for w, mean in zip(statistics, means):
            w.assign(strategy.experimental_local_results(mean)[0])

    model.stop_training = False
    callbacks.on_train_begin()
    first_epoch, first_batch = divmod(initial_step, steps_per_epoch)
    epoch_logs = {}
    for epoch in range(first_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        logs = {}
        for batch in range(first_batch if epoch == first_epoch else 0, steps_per_epoch):
            callbacks.on_train_batch_begin(batch)
            logs = train_step(iterator)
            callbacks.on_train_batch_end(batch, logs)
            if model.stop_training:
                break
        average_statistics()
        epoch_logs = {k: float(v) for k, v in logs.items()}
        if validation_data is not None and not model.stop_training:
            model.reset_metrics()
            val_logs = {}
            for batch in strategy.experimental_distribute_dataset(validation_data):
                val_logs = test_step(batch)
            epoch_logs.update({f"val_{k}": float(v) for k, v in val_logs.items()})
        callbacks.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    callbacks.on_train_end(epoch_logs)
    return next(c for c in callbacks.callbacks if isinstance(c, keras.callbacks.History))

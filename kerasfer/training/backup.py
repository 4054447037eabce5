"""A run's ``out`` folder: `resume` from its backup after a crash, `save` the model and metrics at the end.

Training backs itself up into ``out/backup`` (`kerasfer.training.callbacks.BackupAndResume`); the same
call after a crash restores the last backup and the data continue at the same batch. The backup is
removed once ``model.keras`` and ``metrics.json`` are written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Resumed:
    """Where a run starts: ``start_step`` batches already trained (0: afresh), restored from ``backup``
    (the callback that keeps backing up; None without ``out``) in ``restore_seconds``."""

    start_step: int = 0
    backup: object = None
    restore_seconds: float = 0.0


def resume(plan, model) -> Resumed:
    """Restore `model` (weights, optimizer, seed state) from the plan's last backup, if there is one.

    Every worker of a multi-worker run has its own folder and they agree on a step all of them hold.

    Returns:
        The `Resumed` start; nothing is restored without ``out``.

    Raises:
        ValueError: the backup does not belong to this run (its optimizer is at another step).
    """
    if plan.out is None:
        return Resumed()
    from kerasfer.training.callbacks import BackupAndResume
    from kerasfer.training.distribute import worker_info

    task_type, task_id, _ = worker_info()
    backup_dir = plan.out / ("backup" if plan.chief else f"backup-{task_type}{task_id}")  # one folder per worker
    backup = BackupAndResume(backup_dir, steps_per_epoch=plan.steps_per_epoch, save_freq=plan.backup_freq,
                             double_checkpoint=True, delete_checkpoint=False)
    started = time.perf_counter()
    shared = _common_step(plan.strategy, backup.available_steps()) if not plan.with_fit else None
    start_step = backup.restore(model, shared)
    restore_seconds = time.perf_counter() - started
    if int(model.optimizer.iterations.numpy()) != start_step:  # Keras skips a mismatched optimizer state
        raise ValueError(f"the backup in {backup_dir} does not match this run (optimizer at step "
                         f"{int(model.optimizer.iterations.numpy())}, backup at step {start_step}); delete the "
                         "folder to start afresh or use another `out`.")
    if start_step and plan.verbose and plan.chief:
        epoch, batch = divmod(start_step, plan.steps_per_epoch)
        print(f"resuming from {backup_dir} at epoch {epoch + 1}, batch {batch} (step {start_step}); "
              f"restored in {restore_seconds:.2f} s")
    return Resumed(start_step, backup, restore_seconds)


def save(plan, model, metrics, resumed: Resumed) -> None:
    """Write ``model.keras`` and ``metrics.json`` into ``out`` (the chief only) and remove the backup."""
    if plan.out is None:
        return
    import shutil

    from kerasfer.utils.io import write_json

    if plan.chief:
        plan.out.mkdir(parents=True, exist_ok=True)
        model.save(plan.out / "model.keras")
        write_json(plan.out / "metrics.json", metrics)
    shutil.rmtree(resumed.backup.backup_dir, ignore_errors=True)


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

"""Training callbacks: resume mid-epoch after a crash, stop on a non-finite loss term, refit the eraser."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import keras
import numpy as np

from kerasfer.utils.io import write_json
from kerasfer.utils.progress import auto_bar, progress_style

#: FairVAE's loss terms in the order of its loss formula; a tie is reported in this order.
LOSS_TERMS = ("reconstruction", "kl", "adversary", "alignment", "classification")


def fit_progress(verbose, epochs: int):
    """The Keras ``verbose`` value and extra callbacks that show training progress well here.

    Keras' bar on a terminal, one line per epoch for files and pipes, and in Jupyter one
    `EpochProgressBar` instead of a bar redrawn (and stored) after every batch
    (`kerasfer.utils.progress.progress_style`).

    Args:
        verbose: 0, 1, 2 or ``"auto"`` (1 and "auto" choose for where the output goes).
        epochs: epochs of the run.

    Returns:
        ``(keras_verbose, callbacks)`` for `fit`.
    """
    style = progress_style(verbose)
    if style == "notebook":
        return 0, [EpochProgressBar(epochs)]
    return {"silent": 0, "bar": 1, "epochs": 2}[style], []


class EpochProgressBar(keras.callbacks.Callback):
    """One `tqdm.auto` bar over the epochs of a `fit`, with the last epoch's logs beside it.

    Used in notebooks (a widget where ipywidgets is installed, else one text line), where Keras' own
    bar would store a redraw per batch in the cell output.

    Args:
        epochs: the bar's length.
        description: the label in front of the bar.
    """

    def __init__(self, epochs: int, description: str = "training"):
        super().__init__()
        self.epochs = int(epochs)
        self.description = description
        self._bar = None

    def on_train_begin(self, logs=None):
        self._bar = auto_bar(total=self.epochs, desc=self.description, unit="epoch")

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is None:
            return
        self._bar.n = epoch + 1  # a resumed run starts past 0
        shown = {k: f"{float(v):.3g}" for k, v in (logs or {}).items() if _is_number(v)}
        self._bar.set_postfix(shown, refresh=False)
        self._bar.refresh()

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class ErasureRefit(keras.callbacks.Callback):
    """Refit a model's LEACE eraser (`kerasfer.models.erasure`) on the training latents before each epoch
    and once more when training ends.

    The head then trains, all epoch, on latents erased for the current encoder; the last refit erases
    what the encoder's final epoch moved back into the latent. A run resumed in
    the middle of an epoch keeps the restored eraser (it is saved with the model) until the next
    epoch starts, so the resumed run matches the uninterrupted one.

    Args:
        data: the training `FaceData`.
        steps_per_epoch: optimizer steps per epoch (to tell an epoch start from a mid-epoch resume).
        seed: seed of the fitting subsample (the same faces every epoch).

    Attributes:
        history: one `refit_erasure` result per refit (attributes, faces and rank of the erased subspace).
    """

    def __init__(self, data, steps_per_epoch: int, seed: int = 0):
        super().__init__()
        self.data, self.steps_per_epoch, self.seed = data, int(steps_per_epoch), int(seed)
        self.history = []

    def on_epoch_begin(self, epoch, logs=None):
        from kerasfer.models.erasure import refit_erasure

        if int(self.model.optimizer.iterations.numpy()) % self.steps_per_epoch:
            return  # resumed mid-epoch: the restored eraser is the one this epoch started with
        self.history.append(refit_erasure(self.model, self.data, seed=self.seed))

    def on_train_end(self, logs=None):
        from kerasfer.models.erasure import refit_erasure

        self.history.append(refit_erasure(self.model, self.data, seed=self.seed))


class NonFiniteLossError(ValueError):
    """Training stopped because a loss term became NaN or Inf."""


class TerminateOnNaN(keras.callbacks.Callback):
    """Stop training at the first batch whose logs hold a NaN/Inf, naming the term(s) that went.

    Keras' own `TerminateOnNaN` watches ``loss`` only; FairVAE logs every term (reconstruction,
    kl, adversary, alignment, classification), so this one reports which of them became
    non-finite first — the clue to which part of the model diverged.

    Args:
        raise_error: raise `NonFiniteLossError` when training ends instead of only stopping.

    Attributes:
        report: None, or ``{"epoch", "batch", "terms", "values"}`` of the first non-finite batch.

    Example:
        >>> model.fit(ds, callbacks=[TerminateOnNaN()])  # doctest: +SKIP
        Batch 3 of epoch 1: loss term 'kl' became inf first (non-finite: kl, loss); stopping.
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = bool(raise_error)
        self.report = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.report is not None or not logs:
            return
        bad = {name: float(value) for name, value in logs.items() if _is_number(value) and not math.isfinite(float(value))}
        if not bad:
            return
        terms = [t for t in LOSS_TERMS if t in bad] + [t for t in bad if t not in LOSS_TERMS]
        self.report = {"epoch": self._epoch, "batch": int(batch), "terms": terms, "values": bad}
        self.model.stop_training = True
        print(self.message())

    def on_train_end(self, logs=None):
        if self.report is not None and self.raise_error:
            raise NonFiniteLossError(self.message())

    def message(self) -> str:
        """One line: where training went non-finite and which term went first."""
        if self.report is None:
            return "every loss term stayed finite"
        r = self.report
        first = r["terms"][0]
        return (f"batch {r['batch']} of epoch {r['epoch'] + 1}: loss term {first!r} became {r['values'][first]} "
                f"first (non-finite: {', '.join(r['terms'])}); training stopped")


class BackupAndResume(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that resumes *mid-epoch* and writes each backup atomically.

    Keras 3.15's callback records the batch but restores only the epoch (a resumed run trains the
    interrupted epoch's first batches twice), forgets the epoch after a restore (a second crash
    restarts from epoch 0), writes weights and metadata as two separate files (a kill between them
    pairs new weights with old metadata) and leaves out the `SeedGenerator` states (FairVAE's
    sampling noise, dropout masks). This subclass keeps its arguments and fixes all four: every
    backup is a folder ``step-<k>`` (weights with optimizer state, seed states) made visible by an
    atomic rename of ``latest.json``; the previous backup is kept when `double_checkpoint`.

    Resuming exactly also needs the data to continue where it stopped: `kerasfer.train_model`
    pairs this callback with `kerasfer.training.epochs.epoch_stream`, which starts at `restore`'s step.

    Args:
        backup_dir: folder for the backups (used by nothing else).
        steps_per_epoch: batches per epoch of the run (to turn the global step into epoch/batch).
        save_freq: ``"epoch"`` or a number of batches between backups.
        double_checkpoint: keep the previous backup too, used when the latest one cannot be read.
        delete_checkpoint: delete `backup_dir` when training ends.

    Example:
        >>> backup = BackupAndResume("out/backup", steps_per_epoch=50, save_freq=10)
        >>> step = backup.restore(model)  # 0 on a fresh start  # doctest: +SKIP
    """

    def __init__(self, backup_dir, *, steps_per_epoch: int, save_freq="epoch", double_checkpoint: bool = True,
                 delete_checkpoint: bool = True):
        super().__init__(str(backup_dir), save_freq=save_freq, double_checkpoint=double_checkpoint,
                         delete_checkpoint=delete_checkpoint)
        if isinstance(save_freq, bool) or (save_freq != "epoch" and save_freq <= 0):
            raise ValueError(f"`save_freq` must be 'epoch' or a positive number of batches; got {save_freq!r}.")
        if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
            raise ValueError(f"`steps_per_epoch` must be a positive integer; got {steps_per_epoch!r}.")
        self.steps_per_epoch = steps_per_epoch
        self.step = 0  # batches of the run trained so far (global step)
        self._restored = False
        self._since_save = 0

    # ----------------------------------------------------------------------------- restoring
    def available_steps(self) -> list[int]:
        """Steps of the backups on disk, latest first (empty when there is none)."""
        latest = Path(self.backup_dir) / "latest.json"
        if not latest.is_file():
            return []
        pointer = json.loads(latest.read_text())
        names = [pointer["checkpoint"], pointer.get("previous")]
        return [int(name.split("-")[1]) for name in names if name and (Path(self.backup_dir) / name).is_dir()]

    def restore(self, model, step=None) -> int:
        """Load the latest readable backup (or the one taken at `step`) into `model` (built, compiled).

        Args:
            model: the model being trained; its optimizer is built first if needed.
            step: load this step's backup (0: none, start afresh); default the latest readable one.

        Returns:
            The global step the backup was taken at (0 when there is none).

        Raises:
            ValueError: no backup can be read (or none at `step`).
        """
        self._restored = True
        steps = self.available_steps() if step is None else ([step] if step else [])
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        errors = []
        for candidate in steps:
            folder = Path(self.backup_dir) / f"step-{candidate}"
            try:
                model.load_weights(folder / "model.weights.h5")
                with np.load(folder / "seeds.npz") as seeds:
                    for i, variable in enumerate(_seed_states(model)):
                        variable.assign(seeds[f"seed_{i}"])
                self.step = int(json.loads((folder / "state.json").read_text())["step"])
                return self.step
            except (OSError, ValueError, KeyError) as err:  # unreadable: try the previous backup
                errors.append(f"{folder}: {err}")
        if errors:
            raise ValueError(f"no readable backup in {self.backup_dir} (written by another model or command? delete "
                             f"the folder to start afresh): " + "; ".join(errors))
        self.step = 0
        return 0

    def on_train_begin(self, logs=None):
        if not self._restored:  # used on its own with `fit`: restore the epoch at least
            self.model._initial_epoch = self.restore(self.model) // self.steps_per_epoch
        self._since_save = 0

    # ------------------------------------------------------------------------------- saving
    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self._since_save += 1
        if self.save_freq != "epoch" and self._since_save >= self.save_freq and _finite(logs):
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch" and _finite(logs):
            self.save()

    def save(self):
        """Write a backup of the model at the current step (atomically: see the class docstring)."""
        root = Path(self.backup_dir)
        root.mkdir(parents=True, exist_ok=True)
        name = f"step-{self.step}"
        if self.step in self.available_steps()[:1]:  # this very state is the latest backup already
            return
        staging = root / f".{name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        self.model.save_weights(staging / "model.weights.h5")
        np.savez(staging / "seeds.npz", **{f"seed_{i}": np.asarray(v) for i, v in enumerate(_seed_states(self.model))})
        epoch, batch = divmod(self.step, self.steps_per_epoch)
        write_json(staging / "state.json", {"step": self.step, "epoch": epoch, "batch": batch})
        shutil.rmtree(root / name, ignore_errors=True)  # a stale folder of an abandoned later run
        staging.rename(root / name)
        previous = None
        if (root / "latest.json").is_file():
            previous = json.loads((root / "latest.json").read_text())["checkpoint"]
        keep = {name} | ({previous} if self.double_checkpoint and previous and previous != name else set())
        write_json(root / "latest.json", {"checkpoint": name, "previous": previous if previous in keep else None,
                                          "step": self.step, "epoch": epoch, "batch": batch})
        for old in root.glob("step-*"):
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)
        self._since_save = 0

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            shutil.rmtree(self.backup_dir, ignore_errors=True)


def _seed_states(model):
    """The `SeedGenerator` state variables: in `model.variables`, not in `model.weights`."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return np.ndim(value) == 0


def _finite(logs) -> bool:
    return all(math.isfinite(float(v)) for v in (logs or {}).values() if _is_number(v))

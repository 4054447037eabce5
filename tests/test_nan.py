"""Bad numbers: NaN/Inf inputs are refused before training with the offending index; a loss term
that goes NaN/Inf stops training with a message naming the term that went first."""

import json

import keras
import numpy as np
import pytest

from kerasfer import FaceData
from kerasfer.training.callbacks import BackupAndResume, NonFiniteLossError, TerminateOnNaN
from kerasfer.data import make_synthfaces
from kerasfer.models import FairVAE
from kerasfer.training import train_model


def _guard(**kwargs):
    guard = TerminateOnNaN(**kwargs)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.stop_training = False
    guard.set_model(model)
    return guard


def test_names_the_first_term_to_go_non_finite(capsys):
    guard = _guard()
    guard.on_epoch_begin(1)
    guard.on_train_batch_end(0, {"loss": 1.0, "kl": 0.2, "reconstruction": 0.1})
    assert guard.report is None and not guard.model.stop_training
    guard.on_train_batch_end(1, {"loss": np.nan, "kl": np.inf, "reconstruction": 0.1, "alignment": np.nan})
    assert guard.model.stop_training
    assert guard.report["terms"] == ["kl", "alignment", "loss"]  # loss-formula order, the total last
    assert "batch 1 of epoch 2: loss term 'kl' became inf first" in capsys.readouterr().out
    guard.on_train_batch_end(2, {"loss": np.nan, "reconstruction": np.nan})  # later batches change nothing
    assert guard.report["batch"] == 1


def test_raise_error_option():
    guard = _guard(raise_error=True)
    guard.on_train_end()
    guard.on_train_batch_end(0, {"loss": np.nan})
    with pytest.raises(NonFiniteLossError, match="'loss'"):
        guard.on_train_end()


class _PoisonGenerator(keras.callbacks.Callback):
    """Makes FairVAE's generator output NaN from batch 2 on: the reconstruction term goes first."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 2:
            weights = self.model.generator.weights[-1]
            weights.assign(np.full(weights.shape, np.nan, "float32"))


def test_train_model_stops_and_names_the_term(tmp_path):
    faces = make_synthfaces(96, seed=2, image_size=32, bias="demo")
    with pytest.raises(NonFiniteLossError, match="loss term 'reconstruction' became nan first") as err:
        train_model("fairvae", faces, out=tmp_path, epochs=2, batch_size=16, backup_freq=1, verbose=0,
                    callbacks=[_PoisonGenerator()], width=8, latent_dim=8, generator_width=8)
    assert "batch 2 of epoch 1" in str(err.value)
    assert not (tmp_path / "model.keras").exists()
    # Backups stop at the last finite step, so a rerun (e.g. with a lower learning rate) starts there,
    # with FairVAE's warm-up step counter, the optimizer state and the sampling noise's seed state.
    state = json.loads((tmp_path / "backup" / "latest.json").read_text())
    assert (state["checkpoint"], state["previous"], state["epoch"], state["batch"]) == ("step-2", "step-1", 0, 2)
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == ["latest.json", "step-1", "step-2"]

    def fresh():
        model = FairVAE(input_shape=(32, 32, 3), width=8, latent_dim=8, generator_width=8,
                        protected={a: len(g) for a, g in faces.group_names.items()})
        # the optimizer of train_model (a constant-rate Adam has one more variable: its state would not load)
        model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, 12)))
        return model

    model = fresh()
    assert BackupAndResume(tmp_path / "backup", steps_per_epoch=6).restore(model) == 2
    assert float(model.step_counter.numpy()) == 2.0 and int(model.optimizer.iterations.numpy()) == 2
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert np.asarray(model.sampling.seed_generator.state).tolist() != [0, 0]
    # A corrupt latest backup falls back to the previous one (double checkpoint).
    (tmp_path / "backup" / "step-2" / "model.weights.h5").write_bytes(b"garbage")
    assert BackupAndResume(tmp_path / "backup", steps_per_epoch=6).restore(fresh()) == 1


def test_non_finite_inputs_are_refused_with_the_index():
    images = np.full((6, 8, 8, 3), 100.0)
    images[4, 1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"images\[4\]"):
        FaceData(images=images)
    images[4, 1, 2, 0], images[2, 0, 0, 1] = 1.0, np.inf
    with pytest.raises(ValueError, match=r"images\[2\]"):
        FaceData(images=images)
    with pytest.raises(ValueError, match="labels"):
        FaceData(images=np.zeros((3, 8, 8, 3), np.uint8), labels=[0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="gender"):
        FaceData(images=np.zeros((3, 8, 8, 3), np.uint8), attributes={"gender": [0.0, 1.0, np.inf]})
    data = FaceData(images=np.zeros((3, 8, 8, 3), np.uint8), labels=[0, 1, 2])
    with pytest.raises(ValueError, match="sample_weight"):
        data.dataset(2, sample_weight=[1.0, np.nan, 1.0])

"""Resume after a crash: `kerasfer train` killed with SIGKILL mid-epoch and started again with the same
command ends with the same weights as an uninterrupted run; the pieces (stream, backup) on their own."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from kerasfer.training.callbacks import BackupAndResume
from kerasfer.data import make_synthfaces
from kerasfer.training.epochs import epoch_stream, steps_per_epoch
from kerasfer.models import load_model

ROOT = Path(__file__).resolve().parents[1]


def _command(model, out):
    return [sys.executable, "-m", "kerasfer", "train", "--model", model, "--n-train", "320", "--n-test", "70",
            "--image-size", "32", "--epochs", "3", "--batch-size", "32", "--backup-freq", "3", "--deterministic",
            "--out", str(out)]


def _kill_and_resume(model, tmp_path):
    """Run the reference and the victim side by side; SIGKILL the victim once its first backup exists,
    rerun the same command; return (reference weights, resumed weights, resumed metrics, seconds)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    quiet = dict(env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    reference = subprocess.Popen(_command(model, tmp_path / "reference"), **quiet)
    victim = subprocess.Popen(_command(model, tmp_path / "run"), **quiet)
    latest = tmp_path / "run" / "backup" / "latest.json"
    deadline = time.time() + 240
    while not latest.exists():
        assert victim.poll() is None, f"training ended before its first backup: {victim.stderr.read()[-2000:]}"
        assert time.time() < deadline, "no backup appeared"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    assert not (tmp_path / "run" / "model.keras").exists()
    killed_at = json.loads(latest.read_text())["step"]

    restarted = time.time()
    resumed = subprocess.run(_command(model, tmp_path / "run"), capture_output=True, text=True, env=env, cwd=ROOT,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert reference.wait(timeout=300) == 0, reference.stderr.read()[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    seconds = metrics["start"]["first_step_unix_time"] - restarted
    assert "resuming from" in resumed.stdout
    assert metrics["start"]["resumed_from_step"] >= killed_at >= 3
    assert not (tmp_path / "run" / "backup").exists()  # removed once model.keras is written
    weights = [load_model(tmp_path / d / "model.keras").get_weights() for d in ("reference", "run")]
    return weights, metrics, seconds


def _assert_same_weights(reference, resumed):
    assert len(reference) == len(resumed)
    for a, b in zip(reference, resumed):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


@pytest.mark.slow  # a subprocess SIGKILLed mid-epoch and resumed; 25 s (FairVAE's resume stays fast)
def test_sigkilled_baseline_resumes_to_the_same_weights(tmp_path):
    (reference, resumed), metrics, seconds = _kill_and_resume("baseline", tmp_path)
    # Backups every 3 batches, 10 batches an epoch: the kill lands mid-epoch unless at step 30.
    assert metrics["start"]["resumed_from_step"] % 10 != 0
    _assert_same_weights(reference, resumed)
    print(f"baseline: resumed at step {metrics['start']['resumed_from_step']}; restart → first new step {seconds:.1f} s")


@pytest.mark.slow
def test_sigkilled_fairvae_resumes_to_the_same_weights(tmp_path):
    # FairVAE adds a step counter (warm-ups) and the sampling SeedGenerator to what must be restored.
    (reference, resumed), metrics, seconds = _kill_and_resume("fairvae", tmp_path)
    _assert_same_weights(reference, resumed)
    print(f"fairvae: resumed at step {metrics['start']['resumed_from_step']}; restart → first new step {seconds:.1f} s")


# ------------------------------------------------------------------------------- the pieces, in process
@pytest.fixture(scope="module")
def faces():
    return make_synthfaces(70, seed=4, image_size=32)


def _labels(ds):
    return np.concatenate([b["label"].numpy() for b in ds])


def test_stream_replays_every_epoch_from_any_step(faces):
    full = _labels(epoch_stream(faces, 16, epochs=3, seed=7))
    assert len(full) == 3 * 70
    for k in range(3):  # every epoch is a permutation of the data ...
        assert sorted(full[70 * k:70 * (k + 1)]) == sorted(faces.labels)
    assert not np.array_equal(full[:70], full[70:140])  # ... reshuffled per epoch
    per_epoch = steps_per_epoch(70, 16)
    assert per_epoch == 5  # 4 batches of 16 and one of 6
    for start in (1, per_epoch, per_epoch + 2):  # mid-epoch, epoch boundary, mid second epoch
        epoch, batch = divmod(start, per_epoch)
        np.testing.assert_array_equal(_labels(epoch_stream(faces, 16, epochs=3, seed=7, start_step=start)),
                                      full[70 * epoch + 16 * batch:])
    assert not np.array_equal(_labels(epoch_stream(faces, 16, epochs=1, seed=8)), full[:70])
    with pytest.raises(ValueError, match="start_step"):
        epoch_stream(faces, 16, epochs=3, start_step=99)


def test_flipped_stream_mirrors_half_the_images_and_replays_from_any_step(faces):
    plain = [b["image"].numpy() for b in epoch_stream(faces, 16, epochs=2, seed=7)]
    flipped = [b["image"].numpy() for b in epoch_stream(faces, 16, epochs=2, seed=7, flip=True)]
    images, mirrors = np.concatenate(plain), np.concatenate(flipped)
    mirrored = np.array([not np.array_equal(a, b) for a, b in zip(images, mirrors)])
    np.testing.assert_array_equal(mirrors[mirrored], images[mirrored][:, :, ::-1])  # left-right, nothing else
    np.testing.assert_array_equal(mirrors[~mirrored], images[~mirrored])
    assert 0.35 < mirrored.mean() < 0.65
    assert not np.array_equal(mirrored[:70], mirrored[70:])  # new decisions every epoch
    resumed = np.concatenate([b["image"].numpy() for b in epoch_stream(faces, 16, epochs=2, seed=7, flip=True,
                                                                       start_step=7)])
    np.testing.assert_array_equal(resumed, mirrors[70 + 16 * 2:])


def test_stream_of_images_on_disk_replays_too(faces, tmp_path):
    from PIL import Image

    from kerasfer import FaceData

    paths = []
    for i, image in enumerate(faces.images[:40]):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
    lazy = FaceData(paths=paths, labels=faces.labels[:40], image_size=(32, 32), channels=3)

    def sums(ds):  # one number per image, to follow images through the stream
        return np.concatenate([b["image"].numpy().reshape(len(b["image"]), -1).sum(axis=1) for b in ds])

    full = sums(epoch_stream(lazy, 8, epochs=2, seed=3))
    assert sorted(full[:40]) == sorted(full[40:]) and not np.array_equal(full[:40], full[40:])
    np.testing.assert_array_equal(sums(epoch_stream(lazy, 8, epochs=2, seed=3, start_step=3)), full[24:])


@pytest.mark.slow
def test_train_model_resumes_from_a_backup_in_process(faces, tmp_path):
    """A crash simulated by an exception mid-epoch: the same call resumes and matches a clean run."""
    from kerasfer.training import train_model

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:
                raise KeyboardInterrupt

    kwargs = dict(epochs=2, batch_size=16, backup_freq=2, verbose=0, width=8, latent_dim=8)
    clean, _ = train_model("baseline", faces, out=tmp_path / "clean", **kwargs)
    with pytest.raises(KeyboardInterrupt):
        train_model("baseline", faces, out=tmp_path / "run", callbacks=[Crash()], **kwargs)
    resumed, metrics = train_model("baseline", faces, out=tmp_path / "run", **kwargs)
    assert metrics["start"]["resumed_from_step"] == 2
    for a, b in zip(clean.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_bad_backup_arguments(tmp_path):
    with pytest.raises(ValueError, match="save_freq"):
        BackupAndResume(tmp_path, steps_per_epoch=5, save_freq=0)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        BackupAndResume(tmp_path, steps_per_epoch=0)

"""Multi-worker training: two worker processes on 127.0.0.1 (TF_CONFIG) train with
`MultiWorkerMirroredStrategy` through `train_model`'s custom loop and end with identical weights."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kerasfer.cli import main
from kerasfer.training.distribute import make_strategy, worker_info

ROOT = Path(__file__).resolve().parents[1]


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _train_two_workers(model, tmp_path, *extra, expect=0):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    script = ROOT / "tests" / "multiworker_worker.py"
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config), "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        processes.append(subprocess.Popen([sys.executable, str(script), model, str(tmp_path / "out"),
                                           str(tmp_path / f"worker{index}.npz"), *extra],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    try:
        for p in processes:
            _, err = p.communicate(timeout=400)
            assert p.returncode == expect, err[-3000:]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    return [np.load(tmp_path / f"worker{i}.npz") for i in range(2)] if expect == 0 else None


def _check(model, tmp_path, first=None, second=None):
    if first is None:
        first, second = _train_two_workers(model, tmp_path)
    assert int(first["replicas"]) == int(second["replicas"]) == 2
    names = [k for k in first.files if k.startswith("w")]
    assert names and names == [k for k in second.files if k.startswith("w")]
    for k in names:  # every weight, batch-norm statistics included
        np.testing.assert_array_equal(first[k], second[k], err_msg=k)
    # Only the chief writes the outputs; every worker's backup folder is gone after training.
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.keras"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["replicas"] == 2 and np.isfinite(metrics["train"]["loss"])
    print(f"{model}: 2 workers, {float(first['seconds']):.1f} s of training")


@pytest.mark.slow  # two worker processes; 17 s
def test_two_loopback_workers_train_the_baseline_to_identical_weights(tmp_path):
    _check("baseline", tmp_path)


@pytest.mark.slow
def test_two_loopback_workers_train_fairvae_to_identical_weights(tmp_path):
    _check("fairvae", tmp_path)


@pytest.mark.slow
def test_two_workers_killed_together_resume_from_a_backup_both_hold(tmp_path):
    # 6 batches an epoch, backups every 4: both workers die after batch 9 holding step-8 and step-4.
    _train_two_workers("baseline", tmp_path, "9", expect=3)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["backup", "backup-worker1"]
    # As if worker 1 died between the two workers' writes of step 8: only step 4 is common.
    shutil.rmtree(out / "backup-worker1" / "step-8")
    first, second = _train_two_workers("baseline", tmp_path)
    assert int(first["resumed_from_step"]) == int(second["resumed_from_step"]) == 4
    _check("baseline", tmp_path, first, second)


def test_bad_strategy_and_tf_config(monkeypatch, capsys):
    with pytest.raises(ValueError, match="strategy"):
        make_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert worker_info() == ("worker", 0, 1)
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}')
    assert worker_info() == ("worker", 0, 1)
    monkeypatch.setenv("TF_CONFIG", "{not json")
    assert main(["train", "--strategy", "multiworker", "--out", "unused"]) == 2
    assert "TF_CONFIG must be JSON" in capsys.readouterr().err

"""A quiet command line: `train` and `export` written to a file carry no TensorFlow C++ log line, no
converter dump and no per-batch progress redraw — unless --verbose; warnings that matter still show."""

import json
import os
import re
import subprocess
import sys

import pytest

from library_noise import first_noise

from kerasfer.utils.quiet import NATIVE_LOG_LINE, native_output_filtered, set_verbose

def kerasfer(*args, cwd, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERASFER_VERBOSE")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "kerasfer", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A `kerasfer train` run whose stdout is a pipe, as when a user writes it to a file."""
    folder = tmp_path_factory.mktemp("quiet")
    run = kerasfer("train", "--model", "baseline", "--n-train", "320", "--n-test", "210", "--image-size", "32",
                   "--epochs", "2", "--out", str(folder / "train"), cwd=folder,
                   env_extra={"TF_CPP_MIN_LOG_LEVEL": "3"})  # the user's setting did not help before
    assert run.returncode == 0, run.stderr
    return folder, run


def test_train_to_a_file_prints_one_line_per_epoch_and_no_library_noise(trained):
    _, run = trained
    output = run.stdout + run.stderr
    assert first_noise(output) is None, first_noise(output)
    assert output.count("Epoch ") == 2
    assert re.search(r"^5/5 - ", run.stdout, re.M)  # verbose=2: one summary line per epoch, no redraws
    assert "\r" not in output and "\b" not in output
    assert "largest gap: equalized odds" in run.stdout.splitlines()[-1]


def test_train_metrics_carry_the_gaps(trained):
    folder, _ = trained
    metrics = json.loads((folder / "train" / "metrics.json").read_text())
    assert set(metrics["gaps"]) == {"gender", "skin", "age"}
    for attribute, gaps in metrics["gaps"].items():
        assert {"equalized_odds_difference", "demographic_parity_difference", "fairness_ratio"} <= set(gaps)
        assert gaps["groups_compared"] >= 2  # 210 test faces: every group has 30+
        assert 0 <= gaps["equalized_odds_difference"] <= 1 and 0 <= gaps["fairness_ratio"] <= 1


def test_export_to_a_file_is_quiet(trained):
    folder, _ = trained
    quiet = kerasfer("export", "--model", str(folder / "train" / "model.keras"), "--mode", "int8", "--n", "140",
                     "--n-calibration", "32", "--out", str(folder / "export"), cwd=folder)
    assert quiet.returncode == 0, quiet.stderr
    assert first_noise(quiet.stdout + quiet.stderr) is None, first_noise(quiet.stdout + quiet.stderr)
    assert "top-1 agreement" in quiet.stdout


def test_the_makefiles_log_level_keeps_the_first_op_quiet():
    """`make demo` exports the Makefile's TF_CPP_MIN_LOG_LEVEL; at 2 the first op printed a cuInit ERROR line."""
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    level = re.search(r"^export TF_CPP_MIN_LOG_LEVEL \?= (\d)$", makefile, re.M).group(1)
    env = {**{k: v for k, v in os.environ.items() if k != "KERASFER_VERBOSE"}, "TF_CPP_MIN_LOG_LEVEL": level}
    code = "import kerasfer, keras, numpy as np; keras.layers.Dense(2)(np.ones((1, 3), 'float32')); print('ran')"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ran", run.stderr
    assert first_noise(run.stdout + run.stderr) is None, run.stderr


def test_verbose_shows_tensorflow_as_it_is(monkeypatch):
    from kerasfer.cli import main

    monkeypatch.setenv("KERASFER_VERBOSE", "0")  # restored after the test
    try:
        assert main(["train", "--verbose", "--epochs", "0"]) == 2  # refused before any TensorFlow work
        assert os.environ["KERASFER_VERBOSE"] == "1"
    finally:
        set_verbose(False)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = "import kerasfer; kerasfer.set_verbose(True); import tensorflow"
    loud = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0 and re.search(NATIVE_LOG_LINE.pattern, loud.stderr, re.M), loud.stderr


def test_the_filter_keeps_what_is_not_library_noise(capfd):
    with native_output_filtered():
        os.write(2, b"I0000 00:00:1796113702.514791    2179 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"a C library's own error\n")
        print("a python line")
        print("a warning that matters", file=sys.stderr)
    out, err = capfd.readouterr()
    assert "a python line" in out
    assert "a C library's own error" in err and "a warning that matters" in err
    assert "oneDNN" not in err


def test_the_notebook_check_finds_noise_and_per_batch_bars():
    import nbformat

    from library_noise import notebook_noise

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("train()")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text=(
        "I0000 00:00:1796113702.514791    2179 cudart_stub.cc:31] Could not find cuda drivers\n")),
        nbformat.v4.new_output("stream", name="stdout", text="".join(
            f"\r{i}/94 ━━━━━━━━━━━━━━━━━━━━ 3s 41ms/step" for i in range(94)))]
    clean = nbformat.v4.new_code_cell("fit()")
    clean.outputs = [nbformat.v4.new_output("stream", name="stderr",
                                            text="".join(f"\rtraining: {i}/8 [00:0{i}<00:00]" for i in range(9)))]
    nb.cells = [cell, clean]
    problems = notebook_noise(nb)
    assert len(problems) == 3 and all(p.startswith("cell 0") for p in problems), problems

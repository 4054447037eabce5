"""The `kerasfer` command line: help, a tiny demo run, config files and one-line errors."""

import json
import subprocess
import sys

import pytest

from kerasfer.cli import main


def test_help_lists_the_commands():
    result = subprocess.run([sys.executable, "-m", "kerasfer", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_tiny_demo_run_writes_model_and_metrics(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path), "--n-train", "280", "--n-test", "140", "--epochs", "1",
                 "--image-size", "32"])
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"accuracy", "worst_group_accuracy", "per_group"} <= set(metrics)
    assert set(metrics["per_group"]) == {"gender", "skin", "age"}
    assert metrics["per_group"]["skin"]["dark"]["count"] == 140 // 3 + (140 % 3 > 2)
    assert 0 <= metrics["worst_group_accuracy"] <= metrics["accuracy"] + 1e-9 or metrics["worst_group_accuracy"] <= 1
    assert (tmp_path / "model.keras").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "Accuracy by skin" in out and "dark" in out


def test_config_file_sets_options_and_flags_override(tmp_path):
    config = tmp_path / "demo.yaml"
    config.write_text("n-train: 0\nepochs: 1\n")
    assert main(["demo", "--config", str(config), "--out", str(tmp_path)]) == 2  # n_train 0 from the file
    config.write_text("colour: blue\n")
    assert main(["demo", "--config", str(config)]) == 2


def test_bad_arguments_exit_2_with_one_line(capsys):
    assert main(["demo", "--n-train", "-3", "--out", "/tmp/kerasfer-never"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "n_train" in err[0]
    result = subprocess.run([sys.executable, "-m", "kerasfer", "demo", "--epochs", "many"], capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    missing = subprocess.run([sys.executable, "-m", "kerasfer", "demo", "--config", "/nonexistent.yaml"],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "config file not found" in missing.stderr


def test_train_fairvae_tiny_run(tmp_path):
    code = main(["train", "--model", "fairvae", "--data", "synthfaces:demo", "--n-train", "192", "--n-test", "70",
                 "--epochs", "1", "--image-size", "32", "--out", str(tmp_path)])
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"] == "fairvae" and "alignment" in metrics["train"]
    assert metrics["reweight_attribute"] == "skin" and metrics["label_noise"]["attribute"] == "skin"  # the defaults
    assert set(metrics["per_group"]["skin"]) == {"light", "medium", "dark"}
    assert (tmp_path / "model.keras").exists()


def test_train_rejects_unknown_data(capsys):
    assert main(["train", "--data", "imagenet", "--out", "/tmp/kerasfer-never"]) == 2
    assert "unknown --data 'imagenet'" in capsys.readouterr().err


def test_train_size_flag_picks_the_encoder_preset(tmp_path):
    import keras

    code = main(["train", "--model", "baseline", "--size", "phone", "--n-train", "192", "--n-test", "70", "--epochs",
                 "1", "--image-size", "32", "--out", str(tmp_path)])
    assert code == 0
    model = keras.models.load_model(tmp_path / "model.keras")
    assert model.size == "phone" and model.encoder.get_layer("block4_pw").filters == 256
    assert main(["train", "--size", "huge", "--out", str(tmp_path)]) == 2


@pytest.mark.slow  # a keras.applications backbone trained through the CLI; 17 s
def test_train_backbone_flag(tmp_path):
    import keras

    code = main(["train", "--model", "baseline", "--backbone", "mobilenet_v3_small", "--n-train", "96", "--n-test",
                 "70", "--epochs", "1", "--image-size", "32", "--out", str(tmp_path)])
    assert code == 0
    assert keras.models.load_model(tmp_path / "model.keras").backbone == "mobilenet_v3_small"
    assert main(["train", "--backbone", "resnet9000", "--out", str(tmp_path)]) == 2


def test_train_label_noise_and_erasure_flags(tmp_path):
    import json

    import keras

    code = main(["train", "--model", "fairvae", "--data", "synthfaces:demo", "--label-noise", "gender,skin",
                 "--erasure", "skin,gender", "--reweight-attribute", "skin", "--n-train", "96", "--n-test", "70",
                 "--epochs", "1", "--image-size", "32", "--out", str(tmp_path)])
    assert code == 0
    model = keras.models.load_model(tmp_path / "model.keras")
    assert list(model.label_noise) == ["gender", "skin"] and model.erasure == ("skin", "gender")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    table = metrics["label_noise"]
    assert table["attribute"] == "gender×skin" and len(table["groups"]) == 6
    assert len(table["groups"]["female/dark"]) == 7 and metrics["reweight_attribute"] == "skin"
    assert main(["train", "--label-noise", "hair", "--n-train", "96", "--out", str(tmp_path / "bad")]) == 2
    assert main(["train", "--model", "fairvae", "--reweight-attribute", "hair", "--n-train", "96",
                 "--out", str(tmp_path / "bad")]) == 2


def test_label_noise_flag_values():
    from kerasfer.cli.train import attribute_list

    assert attribute_list("none") is None and attribute_list("skin") == "skin"
    assert attribute_list("gender, skin") == ["gender", "skin"]

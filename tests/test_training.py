"""`train_model` / `kerasfer train` refuse what they cannot learn from and pick sensible defaults."""

import json

import numpy as np
import pytest

from kerasfer import FaceData, make_synthfaces
from kerasfer.cli import main
from kerasfer.data.miniature import make_mini_manifest
from kerasfer.training import train_model


@pytest.fixture(scope="module")
def faces():
    return make_synthfaces(96, seed=3, image_size=32)


def test_data_without_emotion_labels_is_refused(faces):
    unlabelled = FaceData(images=faces.images, attributes=faces.attributes)
    with pytest.raises(ValueError, match="no known emotion labels"):
        train_model("baseline", unlabelled, epochs=1, verbose=0)


def test_two_stage_is_pointed_to_fit_two_stage(faces):
    with pytest.raises(ValueError, match="fit_two_stage"):
        train_model("fairvae", faces, epochs=1, verbose=0, training="two_stage")


def test_reweighted_baseline_balances_the_datas_own_attribute(faces):
    """Real datasets have no 'skin': the reweighted baseline falls back to their first attribute."""
    data = FaceData(images=faces.images, labels=faces.labels, attributes={"race": faces.attributes["skin"]},
                    group_names={"race": ("a", "b", "c")})
    model, metrics = train_model("reweighted", data, data, epochs=1, verbose=0, width=8, latent_dim=16)
    assert set(metrics["per_group"]) == {"race"}
    # where BlazeFace finds the training faces' eyes: stored in the model for aligning predict's crops
    assert metrics["face_template"]["faces_found"] >= 20
    np.testing.assert_allclose(model.face_template, [[0.37, 0.43], [0.63, 0.44]], atol=0.03)
    assert metrics["face_template"]["eyes"] == model.face_template.round(4).tolist()
    with pytest.raises(ValueError, match="gender"):
        train_model("reweighted", data, epochs=1, verbose=0, reweight_attribute="gender")


def test_cli_on_error_skip_trains_past_a_corrupt_image(tmp_path, capsys):
    mini = make_mini_manifest(tmp_path / "data", n=40, split_column=True)
    broken = mini.truth["path"][0]  # a training image
    (mini.path.parent / broken).write_bytes(b"not an image")
    args = ["train", "--model", "baseline", "--data", mini.spec, "--epochs", "1", "--image-size", "32",
            "--out", str(tmp_path / "run")]
    assert main(args) == 2
    assert broken.split("/")[-1] in capsys.readouterr().err
    assert main(args + ["--on-error", "skip"]) == 0
    assert np.isfinite(json.loads((tmp_path / "run" / "metrics.json").read_text())["accuracy"])

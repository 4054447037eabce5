"""FER2013, FairFace, AffectNet, manifest CSV and DISFA readers on fabricated miniature copies."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from kerasfer import ACTION_UNITS, EMOTIONS
from kerasfer.data import (
    DataError,
    as_attribute_task,
    read_affectnet,
    read_disfa,
    read_fairface,
    read_fer2013,
    read_manifest,
)
from kerasfer.data import miniature as mini
from kerasfer.data.disfa import DISFA_AUS
from kerasfer.data.fairface import FAIRFACE_GROUPS
from kerasfer.data.manifest import AFFECTNET_TO_CANONICAL


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("csv_readers")


def _fit_one_epoch(model, data):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(data.dataset(8, seed=0), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


# -------------------------------------------------------------------------------------- FER2013
@pytest.fixture(scope="module")
def fer(folder):
    return mini.make_mini_fer2013(folder / "fer2013.csv", n=42, seed=1)


@pytest.mark.parametrize("split, usage", [("train", "Training"), ("val", "PublicTest"), ("test", "PrivateTest")])
def test_fer2013_splits_and_labels(fer, split, usage):
    data = read_fer2013(fer.path, split)
    truth = fer.truth[fer.truth.usage == usage]
    assert len(data) == len(truth) and data.image_shape == (48, 48, 1)
    np.testing.assert_array_equal(data.labels, truth.label)
    assert data.attributes == {}


def test_fer2013_resizes_to_rgb_and_reads_kaggle_header_spaces(fer, tmp_path):
    text = fer.path.read_text().replace("emotion,pixels,Usage", "emotion, pixels, Usage", 1)
    (tmp_path / "icml_face_data.csv").write_text(text)
    data = read_fer2013(tmp_path / "icml_face_data.csv", "test", image_size=64, channels=3)
    assert data.image_shape == (64, 64, 3) and len(data) == 7
    np.testing.assert_array_equal(data.images[..., 0], data.images[..., 2])


def test_fer2013_bad_rows(fer, tmp_path):
    lines = fer.path.read_text().splitlines()
    lines[1] = "9," + lines[1].split(",", 1)[1]          # unknown emotion code
    lines[2] = lines[2].replace(",Training", ",Training,extra")  # malformed row
    lines[3] = "3,1 2 3,Training"                         # too few pixels
    lines[4] = lines[4].replace(",Training", ",Holdout")  # unknown Usage
    broken = tmp_path / "fer2013.csv"
    broken.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"fer2013.csv, line 2: unknown label: emotion '9'"):
        read_fer2013(broken)
    data = read_fer2013(broken, "all", on_error="skip")
    assert len(data) == 42 - 4
    assert data.skipped.counts() == {"unknown label": 1, "malformed row": 1, "bad pixels": 1, "unknown split": 1}
    assert sorted(r.line for r in data.skipped.records) == [2, 3, 4, 5]


def test_cli_trains_from_fer2013(fer, tmp_path):
    from kerasfer.cli.main import main

    out = tmp_path / "run"
    assert main(["train", "--data", fer.spec, "--model", "baseline", "--epochs", "1", "--batch-size", "8",
                 "--image-size", "32", "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["per_group"] == {}


# ------------------------------------------------------------------------------------- FairFace
@pytest.fixture(scope="module")
def fairface(folder):
    return mini.make_mini_fairface(folder / "fairface", n_train=20, n_val=10, seed=2)


def test_fairface_attributes_and_splits(fairface):
    train, test = read_fairface(fairface.path, "train"), read_fairface(fairface.path, "test", image_size=32)
    assert (len(train), len(test)) == (20, 10)
    assert (train.labels == -1).all() and train.group_names == FAIRFACE_GROUPS
    truth = fairface.truth[fairface.truth.split == "val"]
    for attribute in ("age", "gender", "race"):
        np.testing.assert_array_equal(test.attributes[attribute], truth[attribute])
    assert test.load_images().shape == (10, 32, 32, 3)


def test_fairface_unknown_value_and_attribute_classifier(fairface, tmp_path):
    root = shutil.copytree(fairface.path, tmp_path / "ff")
    table = pd.read_csv(root / "fairface_label_train.csv")
    table.loc[3, "race"] = "Martian"
    table.to_csv(root / "fairface_label_train.csv", index=False)
    with pytest.raises(DataError, match=r"line 5: unknown attribute value: race 'Martian'"):
        read_fairface(root)
    data = read_fairface(root, on_error="skip", image_size=32)
    assert len(data) == 19 and data.skipped.counts() == {"unknown attribute value": 1}
    task = as_attribute_task(data, "gender")
    assert task.label_names == ("male", "female")
    np.testing.assert_array_equal(task.labels, data.attributes["gender"])

    from kerasfer.models import EmotionClassifier

    _fit_one_epoch(EmotionClassifier(input_shape=(32, 32, 3), num_classes=2, width=8, latent_dim=8), task)


# ------------------------------------------------------------------------------------- manifest
@pytest.fixture(scope="module")
def manifest(folder):
    return mini.make_mini_manifest(folder / "manifest", n=40, seed=4)


def test_manifest_without_split_column_gets_disjoint_stratified_splits(manifest):
    parts = {s: read_manifest(manifest.path, s) for s in ("train", "val", "test")}
    assert {s: len(d) for s, d in parts.items()} == {"train": 28, "val": 4, "test": 8}
    assert len(set().union(*(set(d.paths) for d in parts.values()))) == 40
    assert list(read_manifest(manifest.path, "test").paths) == list(parts["test"].paths), "seeded"
    truth = manifest.truth.set_index("path")
    data = parts["train"]
    rel = [p.split("manifest/", 1)[1] for p in data.paths]
    np.testing.assert_array_equal(data.labels, truth.loc[rel, "label"])
    np.testing.assert_array_equal(data.attributes["skin"], truth.loc[rel, "skin"])
    np.testing.assert_array_equal(data.aus, truth.loc[rel, list(ACTION_UNITS)])
    assert data.au_names == ACTION_UNITS and data.group_names["skin"] == ("light", "medium", "dark")


def test_manifest_with_split_column_label_indices_and_jpegs(folder):
    m = mini.make_mini_manifest(folder / "manifest_idx", n=20, seed=5, label_as="index", split_column=True,
                                aus=False, image_format="jpg")
    test = read_manifest(m.path, "test", channels=1, image_size=24)
    truth = m.truth[m.truth.split == "test"]
    np.testing.assert_array_equal(test.labels, truth.label)
    assert test.aus is None and test.image_shape == (24, 24, 1)


def test_manifest_names_aliases_custom_attributes_and_partial_aus(tmp_path, manifest):
    shutil.copy(manifest.path.parent / "images" / "face_0000.png", tmp_path / "a.png")
    (tmp_path / "m.csv").write_text(
        "pth,emotion,AU12,au6,site,split\n"
        "a.png,Happiness,1,1,clinic B,train\n"
        "a.png,anger,0,,clinic A,train\n"
        "a.png,,1,0,,train\n"
        "a.png,contempt,0,0,clinic A,train\n")
    data = read_manifest(tmp_path / "m.csv", "train")
    assert [EMOTIONS[y] if y >= 0 else None for y in data.labels] == ["happy", "angry", None]
    assert data.group_names["site"] == ("clinic a", "clinic b")
    assert data.attributes["site"].tolist() == [1, 0, -1]
    assert data.aus[:, ACTION_UNITS.index("AU06")].tolist() == [1, -1, 0]
    assert data.aus[:, ACTION_UNITS.index("AU01")].tolist() == [-1, -1, -1]
    assert data.skipped.counts() == {"excluded: contempt": 1} and data.skipped.errors == []


@pytest.mark.parametrize("row, reason", [
    ("images/face_0001.png,grumpy,male", "unknown label"),
    ("images/face_0001.png,happy,robot", "unknown attribute value"),
    ("images/face_0001.png,happy", "malformed row"),
    ("images/nope.png,happy,male", "missing image"),
])
def test_manifest_bad_rows_raise_with_line_or_are_skipped(manifest, tmp_path, row, reason):
    shutil.copytree(manifest.path.parent / "images", tmp_path / "images")
    csv = tmp_path / "m.csv"
    csv.write_text("path,label,gender\nimages/face_0000.png,sad,female\n" + row + "\n")
    with pytest.raises(DataError, match=rf"m.csv, line 3: {reason}"):
        read_manifest(csv, "all")
    data = read_manifest(csv, "all", on_error="skip")
    assert len(data) == 1 and data.skipped.counts() == {reason: 1}


def test_cli_trains_from_manifest_and_reports_bad_spec(manifest, tmp_path, capsys):
    from kerasfer.cli.main import main

    out = tmp_path / "run"
    assert main(["train", "--data", manifest.spec, "--model", "baseline", "--epochs", "1", "--batch-size", "8",
                 "--image-size", "32", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert sum(g["count"] for g in metrics["per_group"]["skin"].values()) == 8
    assert main(["train", "--data", f"manifest:{tmp_path}/none.csv", "--epochs", "1"]) == 2
    assert "no such file" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ AffectNet
def test_affectnet_codes_exclusions_and_training(folder):
    a = mini.make_mini_affectnet(folder / "affectnet", n_train=21, n_val=14, seed=6)
    assert {EMOTIONS[v] for k, v in AFFECTNET_TO_CANONICAL.items() if k in (0, 6)} == {"neutral", "angry"}
    train = read_affectnet(a.path, "train", image_size=32)
    truth = a.truth[(a.truth.split == "train") & (a.truth.label >= 0)]
    np.testing.assert_array_equal(train.labels, truth.label)
    assert len(train.skipped) == 3 and {r.kind for r in train.skipped.records} == {"excluded"}
    test = read_affectnet(a.path, "test")
    assert len(test) == 14 - 2
    from kerasfer.models import EmotionClassifier

    _fit_one_epoch(EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=8), train)


# ---------------------------------------------------------------------------------------- DISFA
def test_disfa_intensity_threshold_subject_split_and_training(folder):
    d = mini.make_mini_disfa(folder / "disfa", frames=5, seed=7)
    data = read_disfa(d.path, "all", image_size=32)
    np.testing.assert_array_equal(data.aus, d.truth[list(DISFA_AUS)])
    assert data.au_names == DISFA_AUS and (data.labels == -1).all()
    strict = read_disfa(d.path, "all", threshold=5)
    assert strict.aus.sum() < data.aus.sum()
    train, test = (read_disfa(d.path, s, test_subjects=("SN002",)) for s in ("train", "test"))
    assert (len(train), len(test)) == (15, 5) and all("SN002" in p for p in test.paths)
    mapped = read_disfa(d.path, "test", test_subjects=("SN002",), au_names=ACTION_UNITS)
    assert (mapped.aus[:, ACTION_UNITS.index("AU07")] == -1).all()

    from kerasfer.models import AUClassifier

    _fit_one_epoch(AUClassifier(input_shape=(32, 32, 3), num_aus=len(DISFA_AUS), width=8, latent_dim=8), data)


def test_disfa_bad_intensity_and_missing_file(folder, tmp_path):
    root = shutil.copytree(folder / "disfa", tmp_path / "disfa")
    (root / "ActionUnit_Labels" / "SN001" / "SN001_au4.txt").write_text("1,0\n2,7\n3,0\n4,1\n5,0\n")
    (root / "ActionUnit_Labels" / "SN003" / "SN003_au26.txt").unlink()
    with pytest.raises(DataError, match=r"SN001_au4.txt, line 2: malformed row"):
        read_disfa(root, "all")
    data = read_disfa(root, "all", on_error="skip")
    assert data.skipped.counts() == {"malformed row": 1, "incomplete labels": 1, "missing label file": 1}
    assert len(data) == 20 - 1 - 5


# ----------------------------------------------------------------------------------------- BP4D
def test_bp4d_intensities_gender_from_subject_and_not_coded(folder, tmp_path):
    from kerasfer.data import read_bp4d
    from kerasfer.data.disfa import BP4D_AUS

    b = mini.make_mini_bp4d(folder / "bp4d", frames=3, seed=9)
    data = read_bp4d(b.path, "all", image_size=32)
    truth = b.truth.sort_values(["subject", "task", "frame"])  # the reader's order
    assert len(data) == 24 and data.au_names == BP4D_AUS
    np.testing.assert_array_equal(data.aus, truth[list(BP4D_AUS)])
    np.testing.assert_array_equal(data.attributes["gender"], truth.gender)
    assert (data.aus[:, 0] == -1).sum() == 4, "intensity 9 = not coded = unknown"
    test = read_bp4d(b.path, "test", test_subjects=("M002",))
    assert len(test) == 6 and all("/M002/" in p for p in test.paths)
    root = shutil.copytree(b.path, tmp_path / "bp4d")
    (root / "AU_INT" / "AU12" / "F001_T1_AU12.csv").write_text("1,0\n2,6\n3,1\n")
    with pytest.raises(DataError, match=r"F001_T1_AU12.csv, line 2: malformed row: intensity 6"):
        read_bp4d(root, "all")
    assert read_bp4d(root, "all", on_error="skip").skipped.counts() == {"malformed row": 1}

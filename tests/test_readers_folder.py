"""Class-folder reader (Keras / Kaggle FER2013 layouts) on fabricated folders; load_data's channel rule."""

import numpy as np
import pytest
from PIL import Image

from kerasfer import EMOTIONS
from kerasfer.data import DataError, read_fer2013, read_folder
from kerasfer.data import miniature as mini
from kerasfer.data.specs import load_data

E = EMOTIONS.index


def _write(folder, n, *, size=48, mode="L", suffix=".png", seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = (size, size) if mode == "L" else (size, size, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"img{i:03d}{suffix}")


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """30 grey faces in Happy/, sad/, anger/; 3 in contempt/; a text file in happy; a loose file."""
    root = tmp_path_factory.mktemp("flat")
    for k, name in enumerate(("Happy", "sad", "anger")):
        _write(root / name, 10, seed=k)
    _write(root / "contempt", 3)
    (root / "Happy" / "notes.txt").write_text("not a face")
    (root / "README.md").write_text("outside any class folder: ignored, as Keras does")
    return root


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory):
    """Kaggle's FER2013 folder: train/<emotion>/*.jpg and test/<emotion>/*.jpg, no val/."""
    root = tmp_path_factory.mktemp("kaggle")
    for k, name in enumerate(("angry", "happy", "neutral")):
        _write(root / "train" / name, 10, suffix=".jpg", seed=k)
        _write(root / "test" / name, 2, suffix=".jpg", seed=10 + k)
    return root


def test_flat_folder_gets_disjoint_seeded_stratified_splits(flat):
    parts = {s: read_folder(flat, s) for s in ("train", "val", "test")}
    assert {s: len(d) for s, d in parts.items()} == {"train": 21, "val": 3, "test": 6}
    assert len(set().union(*(set(d.paths) for d in parts.values()))) == 30, "disjoint, and every image used"
    assert np.bincount(parts["test"].labels, minlength=7)[[E("happy"), E("sad"), E("angry")]].tolist() == [2, 2, 2]
    assert list(read_folder(flat, "test").paths) == list(parts["test"].paths), "seeded"
    assert list(read_folder(flat, "test", seed=1).paths) != list(parts["test"].paths)
    for data in parts.values():
        folders = [p.split("/")[-2].lower() for p in data.paths]
        assert [EMOTIONS[y] for y in data.labels] == [{"anger": "angry"}.get(f, f) for f in folders]
    train = parts["train"]
    assert train.image_shape == (64, 64, 1) and train.images.dtype == np.uint8, "grey images stay grey"
    assert train.skipped.counts() == {"excluded: contempt": 3, "not an image": 1}
    assert {r.kind for r in train.skipped.records} == {"excluded"} and train.skipped.errors == []


def test_kaggle_layout_carves_val_from_train(kaggle):
    train, val, test = (read_folder(kaggle, s, image_size=None) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (27, 3, 6)
    assert not set(train.paths) & set(val.paths) and all("/train/" in p for p in val.paths)
    assert np.bincount(val.labels, minlength=7)[[E("angry"), E("happy"), E("neutral")]].tolist() == [1, 1, 1]
    assert train.image_shape == (48, 48, 1), "image_size=None: the images' own size"
    assert len(read_folder(kaggle, "all")) == 36
    with pytest.raises(ValueError, match="val_fraction"):
        read_folder(kaggle, "val", val_fraction=0)
    assert len(read_folder(kaggle, "train", val_fraction=0)) == 30


def test_fer2013_spec_reads_the_kaggle_folder(kaggle, tmp_path):
    val = load_data(f"fer2013:{kaggle}", split="val")
    assert len(val) == 3 and val.image_shape == (64, 64, 1)
    assert list(val.paths) == list(read_folder(kaggle, "val").paths)
    test = read_fer2013(kaggle, "test")
    assert len(test) == 6 and test.image_shape == (48, 48, 1), "FER2013's own 48x48 grey"
    assert read_fer2013(kaggle, "train", channels=3, image_size=32).image_shape == (32, 32, 3)
    csv = mini.make_mini_fer2013(tmp_path / "fer2013.csv", n=14, seed=3)
    assert load_data(csv.spec, split="test").image_shape == (64, 64, 1), "a CSV still works, grey by default"


def test_channel_rule(tmp_path):
    _write(tmp_path / "grey" / "happy", 2)
    _write(tmp_path / "grey" / "sad", 2)
    _write(tmp_path / "mixed" / "happy", 2)
    _write(tmp_path / "mixed" / "sad", 2, mode="RGB")
    assert read_folder(tmp_path / "grey", "all").channels == 1
    assert read_folder(tmp_path / "mixed", "all").channels == 3, "one colour image: RGB"
    assert read_folder(tmp_path / "grey", "all", channels=3).channels == 3
    assert read_folder(tmp_path / "mixed", "all", channels=1).channels == 1
    assert load_data(f"folder:{tmp_path / 'mixed'}", split="train").image_shape == (64, 64, 3)
    assert load_data(f"folder:{tmp_path / 'grey'}", split="train", channels=3).channels == 3


def test_unknown_folder_and_corrupt_image(flat, tmp_path):
    import shutil

    root = shutil.copytree(flat, tmp_path / "faces")
    _write(root / "grumpy", 2)
    with pytest.raises(DataError, match=r"grumpy: unknown folder: 'grumpy' is neither one of"):
        read_folder(root)
    data = read_folder(root, "all", on_error="skip")
    assert len(data) == 30 and data.skipped.counts()["unknown folder"] == 1
    shutil.rmtree(root / "grumpy")
    (root / "sad" / "img003.png").write_bytes(b"truncated")
    with pytest.raises(DataError, match=r"img003.png: corrupt image"):
        read_folder(root, "all")
    data = read_folder(root, "all", on_error="skip")
    assert len(data) == 29
    [bad] = data.skipped.errors
    assert (bad.reason, bad.line) == ("corrupt image", 0) and bad.file.endswith("sad/img003.png")


def test_split_folders_beside_an_unknown_folder_and_missing_test(kaggle, tmp_path):
    import shutil

    root = shutil.copytree(kaggle, tmp_path / "k")
    shutil.rmtree(root / "test")
    with pytest.raises(FileNotFoundError, match="no test/ folder"):
        read_folder(root, "test")
    _write(root / "happy", 1)
    with pytest.raises(DataError, match="not a split folder"):
        read_folder(root, "train")


def test_load_data_channels_default_for_other_sources(tmp_path):
    assert load_data("synthfaces", n=14, image_size=16).channels == 3
    m = mini.make_mini_manifest(tmp_path / "m", n=10, seed=4, aus=False)
    assert load_data(m.spec, split="train", image_size=16).channels == 3

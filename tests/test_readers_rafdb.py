"""RAF-DB reader on fabricated miniature copies: layout, label mapping, attributes, zips, alignment, errors, CLI."""

import json
import shutil

import numpy as np
import pytest

from kerasfer import EMOTIONS
from kerasfer.data import DataError, read_rafdb
from kerasfer.data.miniature import make_mini_rafdb
from kerasfer.data.rafdb import RAFDB_GROUPS, RAFDB_TO_CANONICAL


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return make_mini_rafdb(tmp_path_factory.mktemp("rafdb") / "basic", n_train=24, n_test=12, seed=3)


@pytest.fixture(scope="module")
def mini_zipped(tmp_path_factory):
    return make_mini_rafdb(tmp_path_factory.mktemp("rafdbzip") / "basic", n_train=24, n_test=12, seed=3,
                           zipped=True, original=False)


def test_label_codes_map_to_canonical_emotions():
    names = {code: EMOTIONS[index] for code, index in RAFDB_TO_CANONICAL.items()}
    assert names == {1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "angry", 7: "neutral"}


@pytest.mark.parametrize("split, count", [("train", 24), ("test", 12), ("all", 36)])
def test_counts_labels_and_attributes_match_the_files(mini, split, count):
    data = read_rafdb(mini.path, split)
    truth = mini.truth if split == "all" else mini.truth[mini.truth.split == split]
    assert len(data) == count and not data.skipped
    assert data.image_shape == (100, 100, 3)
    np.testing.assert_array_equal(data.labels, truth.label)
    for attribute in ("gender", "race", "age"):
        np.testing.assert_array_equal(data.attributes[attribute], truth[attribute])
    assert data.group_names == RAFDB_GROUPS
    assert (data.attributes["gender"] == -1).any(), "gender 2 (unsure) must read as unknown"
    assert data.paths[0].endswith(("train_00001_aligned.jpg", "test_0001_aligned.jpg"))


def test_reads_the_parent_folder_and_the_other_label_file_spelling(mini, tmp_path):
    copy = shutil.copytree(mini.path, tmp_path / "basic")
    (copy / "EmoLabel" / "list_patition_label.txt").rename(copy / "EmoLabel" / "list_partition_label.txt")
    data = read_rafdb(tmp_path, "test", attributes=False, image_size=32)
    assert len(data) == 12 and data.attributes == {} and data.image_shape == (32, 32, 3)


def test_zips_as_released_read_like_the_folders(mini, mini_zipped):
    from_zip = read_rafdb(mini_zipped.path, "test", image_size=32)
    from_folder = read_rafdb(mini.path, "test", image_size=32)
    np.testing.assert_array_equal(from_zip.labels, from_folder.labels)
    np.testing.assert_array_equal(from_zip.attributes["race"], from_folder.attributes["race"])
    np.testing.assert_array_equal(from_zip.load_images(), from_folder.load_images())
    assert (mini_zipped.path / "Image" / "aligned" / "test_0001_aligned.jpg").is_file(), "extracted beside the zip"


def test_landmark_alignment_recovers_the_aligned_faces(mini, tmp_path):
    aligned = read_rafdb(mini.path, "test", attributes=False).load_images().astype(float)
    realigned = read_rafdb(mini.path, "test", variant="original", align=True, cache_dir=tmp_path)
    again = realigned.load_images().astype(float)
    error, shuffled = np.abs(aligned - again).mean(), np.abs(aligned - again[::-1]).mean()
    assert error < 12 and shuffled > 3 * error, (error, shuffled)
    unaligned = read_rafdb(mini.path, "test", variant="original", image_size=100).load_images().astype(float)
    assert np.abs(aligned - unaligned).mean() > 2 * error


def test_val_split_is_stratified_disjoint_and_seeded(mini):
    train = read_rafdb(mini.path, "train", val_fraction=0.25, seed=1)
    val = read_rafdb(mini.path, "val", val_fraction=0.25, seed=1)
    assert len(train) + len(val) == 24 and not set(train.paths) & set(val.paths)
    assert list(read_rafdb(mini.path, "val", val_fraction=0.25, seed=1).paths) == list(val.paths)
    with pytest.raises(ValueError, match="val_fraction"):
        read_rafdb(mini.path, "val")


def _broken_copy(mini, tmp_path):
    root = shutil.copytree(mini.path, tmp_path / "broken")
    images = root / "Image" / "aligned"
    data = (images / "train_00002_aligned.jpg").read_bytes()
    (images / "train_00002_aligned.jpg").write_bytes(data[: len(data) // 3])  # truncated JPEG
    (images / "train_00003_aligned.jpg").unlink()  # missing image
    (root / "Annotation" / "manual" / "train_00004_manu_attri.txt").unlink()  # missing attribute file
    manual = root / "Annotation" / "manual" / "train_00005_manu_attri.txt"
    manual.write_text(manual.read_text().replace("\t", " x "))  # malformed landmark line
    labels = root / "EmoLabel" / "list_patition_label.txt"
    lines = labels.read_text().splitlines()
    lines[5] = "train_00006.jpg 9"  # unknown label
    lines[6] = "train_00007.jpg"  # malformed row
    labels.write_text("\n".join(lines) + "\n")
    return root


def test_every_bad_record_is_skipped_and_reported(mini, tmp_path):
    data = read_rafdb(_broken_copy(mini, tmp_path), "train", on_error="skip")
    assert len(data) == 24 - 6
    assert data.skipped.counts() == {"unknown label": 1, "malformed row": 1, "missing attribute file": 1,
                                     "malformed attribute file": 1, "corrupt image": 1, "missing image": 1}
    lines = {r.reason: r.line for r in data.skipped.records}
    assert lines["unknown label"] == 6 and lines["malformed row"] == 7 and lines["corrupt image"] == 2
    assert not any(p.endswith(("00002_aligned.jpg", "00003_aligned.jpg")) for p in data.paths)
    frame = data.skipped.to_frame()
    assert len(frame) == 6 and set(frame.kind) == {"error"}


def test_raise_names_file_and_line(mini, tmp_path):
    with pytest.raises(DataError, match="line 6: unknown label: '9' is not a RAF-DB label") as info:
        read_rafdb(_broken_copy(mini, tmp_path), "train")
    assert info.value.file.endswith("list_patition_label.txt") and info.value.line == 6


def test_raise_on_a_corrupt_image_names_the_label_line(mini, tmp_path):
    root = shutil.copytree(mini.path, tmp_path / "c")
    (root / "Image" / "aligned" / "test_0003_aligned.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DataError, match=r"line 27: corrupt image: .*test_0003_aligned.jpg cannot be decoded"):
        read_rafdb(root, "test")


def test_missing_folders_give_clear_errors(mini, tmp_path):
    with pytest.raises(FileNotFoundError, match="EmoLabel"):
        read_rafdb(tmp_path)
    root = shutil.copytree(mini.path, tmp_path / "noattr")
    shutil.rmtree(root / "Annotation")
    with pytest.raises(FileNotFoundError, match="attributes=False"):
        read_rafdb(root, "test")
    with pytest.raises(ValueError, match="split"):
        read_rafdb(root, "dev")


def test_cli_trains_one_epoch_from_rafdb(mini, tmp_path):
    from kerasfer.cli.main import main

    out = tmp_path / "run"
    code = main(["train", "--data", mini.spec, "--model", "baseline", "--epochs", "1", "--batch-size", "12",
                 "--image-size", "32", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["per_group"]) == {"gender", "race", "age"}
    assert sum(g["count"] for g in metrics["per_group"]["race"].values()) == 12

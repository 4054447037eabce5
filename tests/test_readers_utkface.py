"""UTKFace reader on fabricated folders: names in both schemes, bad names and files, the split rule, load_data."""

import re

import numpy as np
import pytest
from PIL import Image

from kerasfer.data import DataError, parse_utkface_name, read_utkface
from kerasfer.data.specs import check_data_spec, load_data

# (file name, age group, gender, race) of the well-named faces of the mixed folder, in sorted order.
GOOD = [
    ("0_0_0_20170101000000001.jpg", "young", "male", "white"),
    ("116_1_0_20170101000000006.jpg", "senior", "female", "white"),
    ("19_1_1_20170101000000002.jpg", "young", "female", "black"),
    ("20_0_2_20170101000000003.jpg.chip.jpg", "adult", "male", "asian"),
    ("59_1_3_20170101000000004.jpg", "adult", "female", "indian"),
    ("60_0_4_20170101000000005.jpg.chip.jpg", "senior", "male", "others"),
]
# Malformed names (as in the released crop_part1: a missing field) and what the error says.
MALFORMED = [
    ("39_1_20170116174525125.jpg.chip.jpg", r"expected 4 fields age_gender_race_date&time, got 3"),
    ("x_0_0_20170101000000007.jpg", r"age 'x' is not a whole number"),
    ("117_0_0_20170101000000008.jpg", r"age 117 is not in 0\.\.116"),
    ("30_2_0_20170101000000009.jpg", r"gender 2 is not in 0\.\.1 \(0 male, 1 female\)"),
    ("30_0_5_20170101000000010.jpg", r"race 5 is not in 0\.\.4 \(white, black, asian, indian, others\)"),
    ("30_0_-1_20170101000000012.jpg", r"race '-1' is not a whole number"),
    ("30_0_0_.jpg", r"empty date&time field"),
]
CORRUPT = "40_0_1_20170101000000011.jpg"


def _colour(k):
    return (37 * k % 256, 91 * k % 256, 53 * k % 256)


def _face(folder, name, k=0, size=16):
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), _colour(k)).save(folder / name, format="JPEG", quality=95)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """6 good faces (both name schemes), 7 malformed names, a corrupt JPEG, a .txt file, a sub-folder."""
    root = tmp_path_factory.mktemp("utkface")
    for k, (name, *_) in enumerate(GOOD):
        _face(root, name, k)
    for name, _ in MALFORMED:
        _face(root, name)
    (root / CORRUPT).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.txt").write_text("not a face")
    _face(root / "extra", "25_0_0_20170101000000013.jpg")
    return root


@pytest.fixture(scope="module")
def balanced(tmp_path_factory):
    """100 faces: 10 per race × gender cell, ages 0..99."""
    root = tmp_path_factory.mktemp("UTKFace")
    for k in range(100):
        race, gender = k % 5, k // 5 % 2
        _face(root, f"{k * 37 % 100}_{gender}_{race}_2017010100{k:07d}.jpg", k, size=8)
    return root


def test_attributes_age_groups_and_what_is_left_out(mixed):
    data = read_utkface(mixed, "all", on_error="skip")
    assert [p.rsplit("/", 1)[1] for p in data.paths] == [g[0] for g in GOOD]
    assert data.group_labels("age").tolist() == [g[1] for g in GOOD]
    assert data.group_labels("gender").tolist() == [g[2] for g in GOOD]
    assert data.group_labels("race").tolist() == [g[3] for g in GOOD]
    assert data.group_names == {"gender": ("male", "female"), "race": ("white", "black", "asian", "indian", "others"),
                                "age": ("young", "adult", "senior")}
    assert (data.labels == -1).all() and data.image_shape == (64, 64, 3) and data.images.dtype == np.uint8
    for k in range(len(GOOD)):  # images in the order of their paths
        np.testing.assert_allclose(data.images[k].reshape(-1, 3).mean(0), _colour(k), atol=3)
    assert [parse_utkface_name(p)[0] for p in data.paths] == [0, 116, 19, 20, 59, 60]
    assert data.skipped.counts() == {"malformed name": len(MALFORMED), "not an image": 2, "corrupt image": 1}
    reasons = {r.file.rsplit("/", 1)[1]: (r.reason, r.kind) for r in data.skipped.records}
    assert reasons == {**{name: ("malformed name", "error") for name, _ in MALFORMED},
                       CORRUPT: ("corrupt image", "error"), "notes.txt": ("not an image", "excluded"),
                       "extra": ("not an image", "excluded")}
    for name, message in MALFORMED:
        detail = next(r.detail for r in data.skipped.records if r.file.endswith("/" + name))
        assert detail.startswith("malformed name: ") and re.search(message, detail)
    assert len(data) + len(data.skipped) == len(list(mixed.iterdir())), "every entry is kept or listed"
    grey = read_utkface(mixed, "all", on_error="skip", image_size=20, channels=1)
    assert grey.image_shape == (20, 20, 1) and len(grey) == len(GOOD)


def test_raise_names_the_file(mixed, tmp_path):
    with pytest.raises(DataError, match=r"117_0_0_20170101000000008\.jpg: malformed name: age 117"):
        read_utkface(mixed, "all")
    for k, (name, message) in enumerate(MALFORMED):
        folder = tmp_path / f"bad{k}"
        _face(folder, GOOD[0][0])
        _face(folder, name)
        with pytest.raises(DataError, match=rf"{name.replace('.', '[.]')}: malformed name: {message}"):
            read_utkface(folder, "all")
    folder = tmp_path / "corrupt"
    _face(folder, GOOD[0][0])
    (folder / CORRUPT).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=rf"{CORRUPT}: corrupt image: .*{CORRUPT} cannot be decoded"):
        read_utkface(folder, "all")
    with pytest.raises(ValueError, match="expected 4 fields"):
        parse_utkface_name("61_1_20170109142408075.jpg.chip.jpg")


def test_split_rule_is_seeded_stratified_and_disjoint(balanced):
    parts = {s: read_utkface(balanced, s, image_size=8) for s in ("train", "val", "test")}
    every = read_utkface(balanced, "all", image_size=8)
    paths = {s: set(d.paths) for s, d in parts.items()}
    assert [len(paths[s]) for s in ("train", "val", "test")] == [70, 10, 20]
    assert not (paths["train"] & paths["val"] or paths["train"] & paths["test"] or paths["val"] & paths["test"])
    assert set.union(*paths.values()) == set(every.paths) and len(every) == 100
    for s, per_cell in (("test", 2), ("val", 1), ("train", 7)):  # stratified by race × gender
        cells = np.bincount(parts[s].attributes["race"] * 2 + parts[s].attributes["gender"], minlength=10)
        assert cells.tolist() == [per_cell] * 10, s
    again = read_utkface(balanced, image_size=32, channels=1)  # default split "test"; size changes nothing
    assert again.paths.tolist() == parts["test"].paths.tolist()
    assert set(read_utkface(balanced, "test", seed=1, image_size=8).paths) != paths["test"]
    with pytest.raises(ValueError, match="no faces for split 'val'"):
        read_utkface(balanced, "val", val_fraction=0.0)


def test_min_age_excludes_and_keeps_the_split(balanced):
    test = read_utkface(balanced, "test", image_size=8)
    adults = read_utkface(balanced, "test", image_size=8, min_age=18)
    ages = np.array([parse_utkface_name(p)[0] for p in test.paths])
    assert adults.paths.tolist() == test.paths[ages >= 18].tolist()
    assert min(parse_utkface_name(p)[0] for p in adults.paths) >= 18
    assert adults.skipped.counts() == {"under min_age": int((ages < 18).sum())}
    assert all(r.kind == "excluded" and "< min_age 18" in r.detail for r in adults.skipped.records)
    assert len(read_utkface(balanced, "all", image_size=8, min_age=60)) == 40
    with pytest.raises(ValueError, match="no faces aged 100 or more"):
        read_utkface(balanced, "all", min_age=100)


def test_parent_folder_reads_every_utkface_subfolder(tmp_path):
    stems = [f"{20 + k}_{k % 2}_{k % 5}_201701010000000{k:02d}" for k in range(14)]
    for k, stem in enumerate(stems[:12]):
        _face(tmp_path / "UTKFace", f"{stem}.jpg", k)
    for k, stem in enumerate(stems[4:]):  # 8 faces in both folders, 2 only here
        _face(tmp_path / "crop_part1", f"{stem}.jpg.chip.jpg", k)
    _face(tmp_path / "other", f"{stems[0]}.jpg")  # not a UTKFace folder: ignored
    (tmp_path / "README.txt").write_text("ignored beside the image folders")
    every = read_utkface(tmp_path, "all")
    assert len(every) == 12 + 10 and not every.skipped
    assert {p.rsplit("/", 2)[1] for p in every.paths} == {"UTKFace", "crop_part1"}
    split_of = {}
    for s in ("train", "val", "test"):
        for p in read_utkface(tmp_path, s).paths:
            split_of.setdefault(p.rsplit("/", 1)[1].split(".")[0], set()).add(s)
    assert len(split_of) == 14 and all(len(s) == 1 for s in split_of.values()), "a face in both folders: one split"
    assert len(read_utkface(tmp_path / "UTKFace", "all")) == 12


def test_load_data_and_arguments(balanced, tmp_path):
    assert check_data_spec(f"utkface:{balanced}") == ("utkface", str(balanced))
    data = load_data(f"utkface:{balanced}", split="test")
    assert data.image_shape == (64, 64, 3) and len(data) == 20
    assert data.paths.tolist() == read_utkface(balanced, "test", image_size=8).paths.tolist()
    for kwargs, message in ((dict(split="dev"), "`split` must be one of"), (dict(channels=2), "`channels`"),
                            (dict(image_size=0), "`image_size`"), (dict(min_age=-1), "`min_age`"),
                            (dict(val_fraction=0.5, test_fraction=0.5), "must be below 1"),
                            (dict(on_error="ignore"), "`on_error`")):
        with pytest.raises(ValueError, match=message):
            read_utkface(balanced, **kwargs)
    with pytest.raises(FileNotFoundError, match="UTKFace folder not found"):
        read_utkface(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image named age_gender_race_date&time"):
        read_utkface(tmp_path / "empty")

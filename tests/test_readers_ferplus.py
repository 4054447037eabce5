"""FER+ reader on a fabricated miniature copy: both label modes, every kind of bad row, load_data."""

import numpy as np
import pytest
from PIL import Image

from kerasfer import EMOTIONS
from kerasfer.data import DataError, read_ferplus
from kerasfer.data.specs import load_data

E = EMOTIONS.index
#         neutral happiness surprise sadness anger disgust fear contempt unknown NF
TRAIN = [
    ("fer0000000.png", "4,0,0,1,3,2,0,0,0,0"),  # line 1: neutral
    ("fer0000001.png", "0,6,1,0,0,0,0,0,3,0"),  # line 2: happy
    ("fer0000002.png", "0,0,4,4,0,0,2,0,0,0"),  # line 3: tie surprise / sadness
    ("fer0000003.png", "2,0,0,0,0,0,0,0,6,2"),  # line 4: unknown majority
    ("fer0000004.png", "0,0,0,0,0,0,0,0,1,9"),  # line 5: not a face
    ("fer0000005.png", "1,0,0,0,2,0,0,7,0,0"),  # line 6: contempt
    ("fer0000006.png", "1,2,3"),                # line 7: malformed row
    ("fer0000007.png", "1,x,0,0,0,0,0,0,0,9"),  # line 8: bad votes
    ("fer0000008.png", "0,0,0,0,0,0,0,0,0,0"),  # line 9: no votes
    ("fer0000009.png", "0,0,0,8,2,0,0,0,0,0"),  # line 10: sad, image missing
    ("fer0000010.png", "0,0,0,8,2,0,0,0,0,0"),  # line 11: sad, image corrupt
    ("fer0000011.png", "0,5,0,0,0,0,0,0,5,0"),  # line 12: tie happiness / unknown
    ("fer0000012.png", "0,0,0,0,4,0,0,4,2,0"),  # line 13: tie anger / contempt
    ("fer0000013.png", "0,0,0,0,0,-1,6,0,4,1"),  # line 14: bad votes (negative)
    ("fer0000014.png", "0,0,0,0,0,1,6,0,3,0"),  # line 15: fear
]
VALID = [("fer0028709.png", "0,0,7,0,0,0,3,0,0,0"), ("fer0028710.png", "2,0,0,8,0,0,0,0,0,0")]
TEST = [("fer0032220.png", "0,0,0,0,0,9,1,0,0,0")]


def _pixels(k):
    return ((np.arange(48 * 48).reshape(48, 48) + 37 * k) % 256).astype(np.uint8)


def _write_split(folder, rows, skip=(), corrupt=()):
    folder.mkdir(parents=True)
    for k, (name, _) in enumerate(rows):
        if name in corrupt:
            (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
        elif name not in skip:
            Image.fromarray(_pixels(int(name[3:10]))).save(folder / name)
    (folder / "label.csv").write_text("".join(f'{name},"(0, 0, 48, 48)",{votes}\n' for name, votes in rows))


@pytest.fixture(scope="module")
def ferplus(tmp_path_factory):
    root = tmp_path_factory.mktemp("ferplus")
    _write_split(root / "FER2013Train", TRAIN, skip={"fer0000009.png"}, corrupt={"fer0000010.png"})
    _write_split(root / "FER2013Valid", VALID)
    _write_split(root / "FER2013Test", TEST)
    return root


def test_majority_labels_exclusions_and_errors(ferplus):
    data = read_ferplus(ferplus, "train", on_error="skip")
    assert data.labels.tolist() == [E("neutral"), E("happy"), E("fear")]
    assert [p.rsplit("/", 1)[1] for p in data.paths] == ["fer0000000.png", "fer0000001.png", "fer0000014.png"]
    assert data.image_shape == (48, 48, 1) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images[1, ..., 0], _pixels(1))
    assert data.soft_labels is None
    assert data.skipped.counts() == {"tie": 3, "unknown majority": 1, "not a face": 1, "contempt": 1,
                                     "malformed row": 1, "bad votes": 2, "no votes": 1, "missing image": 1,
                                     "corrupt image": 1}
    lines = {r.line: (r.reason, r.kind) for r in data.skipped.records}
    assert lines == {3: ("tie", "excluded"), 4: ("unknown majority", "excluded"), 5: ("not a face", "excluded"),
                     6: ("contempt", "excluded"), 7: ("malformed row", "error"), 8: ("bad votes", "error"),
                     9: ("no votes", "error"), 10: ("missing image", "error"), 11: ("corrupt image", "error"),
                     12: ("tie", "excluded"), 13: ("tie", "excluded"), 14: ("bad votes", "error")}
    assert all(r.file.endswith("FER2013Train/label.csv") for r in data.skipped.records)
    assert len(data) + len(data.skipped) == len(TRAIN), "every face is kept or listed"


def test_votes_soft_labels_in_canonical_order(ferplus):
    data = read_ferplus(ferplus, "train", labels="votes", on_error="skip")
    names = [p.rsplit("/", 1)[1] for p in data.paths]
    assert names == ["fer0000000.png", "fer0000001.png", "fer0000002.png", "fer0000012.png", "fer0000014.png"]
    assert data.labels.tolist() == [E("neutral"), E("happy"), -1, -1, E("fear")]
    expected = np.zeros((5, 7), np.float32)
    expected[0, [E("neutral"), E("sad"), E("angry"), E("disgust")]] = [0.4, 0.1, 0.3, 0.2]
    expected[1, [E("happy"), E("surprise")]] = [6 / 7, 1 / 7]  # unknown votes dropped
    expected[2, [E("surprise"), E("sad"), E("fear")]] = [0.4, 0.4, 0.2]
    expected[3, E("angry")] = 1.0  # contempt and unknown votes dropped
    expected[4, [E("disgust"), E("fear")]] = [1 / 7, 6 / 7]
    np.testing.assert_allclose(data.soft_labels, expected, atol=1e-6)
    excluded = {r.line: r.reason for r in data.skipped.records if r.kind == "excluded"}
    assert excluded == {4: "unknown majority", 5: "not a face", 6: "contempt", 12: "unknown majority"}
    batch = next(iter(data.dataset(5, shuffle=False)))
    np.testing.assert_allclose(batch["soft_label"].numpy(), expected, atol=1e-6)


def test_raise_names_label_csv_and_line(ferplus, tmp_path):
    with pytest.raises(DataError, match=r"FER2013Train[/\\]label.csv, line 7: malformed row"):
        read_ferplus(ferplus, "train")
    for name, reason in (("missing", "missing image"), ("corrupt", "corrupt image")):
        root = tmp_path / name
        rows = [VALID[0], ("fer0028711.png", "0,9,0,0,0,0,0,0,1,0")]
        _write_split(root / "FER2013Valid", rows, **{"skip" if name == "missing" else "corrupt": {"fer0028711.png"}})
        with pytest.raises(DataError, match=rf"FER2013Valid[/\\]label.csv, line 2: {reason}: .*fer0028711.png"):
            read_ferplus(root, "val")
        assert len(read_ferplus(root, "val", on_error="skip")) == 1


def test_splits_sizes_channels_and_missing_folders(ferplus, tmp_path):
    val = read_ferplus(ferplus, "val", image_size=32, channels=3)
    assert val.labels.tolist() == [E("surprise"), E("sad")] and val.image_shape == (32, 32, 3)
    np.testing.assert_array_equal(val.images[..., 0], val.images[..., 2])
    big = read_ferplus(ferplus, "test", image_size=64)
    assert big.image_shape == (64, 64, 1) and big.labels.tolist() == [E("disgust")]
    everything = read_ferplus(ferplus, "all", on_error="skip")
    assert len(everything) == 3 + 2 + 1 and everything.labels[-1] == E("disgust")
    (tmp_path / "FER2013Train").mkdir()
    with pytest.raises(FileNotFoundError, match="FER2013Valid"):
        read_ferplus(tmp_path, "val")
    with pytest.raises(FileNotFoundError, match=r"FER2013Train[/\\]label.csv"):
        read_ferplus(tmp_path, "train")
    with pytest.raises(ValueError, match="`labels` must be one of"):
        read_ferplus(ferplus, labels="soft")


def test_load_data_ferplus_val_and_votes(ferplus):
    val = load_data(f"ferplus:{ferplus}", split="val")
    assert len(val) == 2 and val.image_shape == (64, 64, 1), "grey by default, load_data's 64 pixels"
    native = load_data(f"ferplus:{ferplus}", split="val", image_size=None, channels=3, labels="votes")
    assert native.image_shape == (48, 48, 3) and native.soft_labels.shape == (2, 7)

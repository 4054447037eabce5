"""Property tests: random bytes as images, random CSV / label rows and random bias knobs.

Whatever the input, only the documented outcomes may happen: data whose every image decodes, or
`DataError` / `ValueError` (with ``on_error="raise"``), or a `SkipReport` entry (with ``"skip"``).
"""

import io
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from kerasfer.data import BiasSpec, DataError, make_synthfaces, read_fer2013, read_manifest, read_rafdb

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TRIED = {"images": 0, "csv": 0, "fer2013": 0, "rafdb": 0, "bias": 0}


def _valid_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


JPEG = _valid_jpeg()
image_bytes = st.one_of(
    st.binary(max_size=300),
    st.integers(0, len(JPEG)).map(lambda k: JPEG[:k]),  # truncated
    st.tuples(st.integers(0, len(JPEG) - 1), st.integers(0, 255)).map(  # one byte changed
        lambda t: JPEG[: t[0]] + bytes([t[1]]) + JPEG[t[0] + 1:]),
)


@FUZZ
@given(data=image_bytes)
def test_random_bytes_as_images(tmp_path_factory, data):
    TRIED["images"] += 1
    folder = tmp_path_factory.mktemp("img")
    (folder / "x.jpg").write_bytes(data)
    (folder / "ok.jpg").write_bytes(JPEG)
    (folder / "m.csv").write_text("path,label\nok.jpg,happy\nx.jpg,sad\n")
    skipped = read_manifest(folder / "m.csv", "all", image_size=16, on_error="skip")
    assert len(skipped) + len(skipped.skipped) == 2
    assert {r.reason for r in skipped.skipped.records} <= {"corrupt image"}
    assert skipped.load_images().shape == (len(skipped), 16, 16, 3)  # what passed decodes
    try:
        raised = read_manifest(folder / "m.csv", "all", image_size=16)
        assert len(raised) == 2
    except DataError as err:
        assert err.line == 3 and "x.jpg cannot be decoded" in str(err)


csv_field = st.text(alphabet=string.printable + "é\x00", max_size=12)


@FUZZ
@given(rows=st.lists(st.lists(csv_field, min_size=0, max_size=4), max_size=6),
       raw=st.one_of(st.none(), st.binary(max_size=80)))
def test_random_manifest_rows(tmp_path_factory, rows, raw):
    TRIED["csv"] += 1
    folder = tmp_path_factory.mktemp("csv")
    (folder / "ok.jpg").write_bytes(JPEG)
    text = "path,label,gender\n" + "".join(",".join(r) + "\n" for r in rows)
    (folder / "m.csv").write_bytes(raw if raw is not None else text.encode())
    for policy in ("raise", "skip"):
        try:
            data = read_manifest(folder / "m.csv", "all", on_error=policy, verify_images=True)
        except ValueError as err:  # DataError is a ValueError; so is "no usable rows"
            assert str(err)
            continue
        assert len(data) >= 1 and (data.labels >= -1).all() and (data.labels < 7).all()


plain_field = st.text(alphabet=string.ascii_letters + string.digits + " ", max_size=12)
PIXELS = " ".join(["128"] * 2304)


@FUZZ
@given(rows=st.lists(st.tuples(st.sampled_from(["0", "3", "6", "7", "-1", "x", ""]),
                               st.one_of(st.just(PIXELS), plain_field),
                               st.sampled_from(["Training", "PublicTest", "PrivateTest", "Other", ""])),
                     min_size=1, max_size=5))
def test_random_fer2013_rows(tmp_path_factory, rows):
    TRIED["fer2013"] += 1
    path = tmp_path_factory.mktemp("fer") / "fer2013.csv"
    path.write_text("emotion,pixels,Usage\n" + "".join(f"{e},{p},{u}\n" for e, p, u in rows))
    good = sum(e in ("0", "3", "6") and p == PIXELS and u in ("Training", "PublicTest", "PrivateTest")
               for e, p, u in rows)
    try:
        data = read_fer2013(path, "all", on_error="skip")
    except ValueError as err:
        assert good == 0 and "no usable rows" in str(err)
        return
    assert len(data) == good and len(data) + len(data.skipped) == len(rows)
    with pytest.raises(DataError) if good < len(rows) else _nothing():
        read_fer2013(path, "all")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@FUZZ
@given(lines=st.lists(st.text(alphabet=string.ascii_letters + string.digits + "_. \t", max_size=24), max_size=6))
def test_random_rafdb_label_lines(tmp_path_factory, lines):
    TRIED["rafdb"] += 1
    root = tmp_path_factory.mktemp("raf")
    (root / "EmoLabel").mkdir()
    (root / "Image" / "aligned").mkdir(parents=True)
    (root / "Image" / "aligned" / "train_00001_aligned.jpg").write_bytes(JPEG)
    (root / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 4\n" + "\n".join(lines))
    data = read_rafdb(root, "all", attributes=False, on_error="skip", image_size=16)
    assert 1 <= len(data) and (data.labels >= 0).all()
    assert len(data) + len(data.skipped) == 1 + sum(bool(line.split()) for line in lines)


unit_or_odd = st.one_of(st.floats(-0.5, 1.5), st.just(float("nan")))
knob_probs = st.lists(unit_or_odd, min_size=2, max_size=4)


@FUZZ
@given(skin=knob_probs, stereotype=unit_or_odd,
       pair=st.tuples(st.sampled_from(["skin", "gender", "race"]), st.sampled_from(["dark", "female", "x"]),
                      st.sampled_from(["happy", "angry", "joy"])),
       noise=unit_or_odd, n=st.integers(1, 12))
def test_random_bias_knobs(skin, stereotype, pair, noise, n):
    TRIED["bias"] += 1
    try:
        spec = BiasSpec(proportions={"skin": skin}, stereotype=stereotype, stereotype_pairs=(pair,),
                        label_noise=((pair[0], pair[1], noise, None),))
    except ValueError as err:
        assert str(err)
        return
    data = make_synthfaces(n, seed=1, image_size=16, bias=spec)
    assert data.images.shape == (n, 16, 16, 3) and ((data.labels >= 0) & (data.labels < 7)).all()


def test_report_inputs_tried():
    """Runs last in this file: says how many generated inputs the properties above tried."""
    print(f"\nfuzzed inputs tried: {TRIED} (total {sum(TRIED.values())})")
    if not all(TRIED.values()):
        pytest.skip("only meaningful when every property test above ran")

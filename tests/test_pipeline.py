"""The input pipeline: augmentation, class/group-balanced sampling, caching, stratified splits, grey/RGB decode."""

import numpy as np
import pytest

from kerasfer.data import FaceData, default_augmentation, read_manifest, stratified_split
from kerasfer.data.errors import SkippedRecord, SkipReport
from kerasfer.data.miniature import make_mini_manifest


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory):
    m = make_mini_manifest(tmp_path_factory.mktemp("pipe"), n=30, seed=8, aus=False, image_format="jpg")
    return read_manifest(m.path, "all", image_size=32)


def _skewed(n=200):
    """Label 0 for 80 % of the samples, skin group 2 for 10 %."""
    rng = np.random.default_rng(0)
    labels = np.where(np.arange(n) < 0.8 * n, 0, 1 + np.arange(n) % 6)
    skin = np.where(np.arange(n) % 10 == 0, 2, np.arange(n) % 2)
    images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    return FaceData(images=images, labels=labels, attributes={"skin": skin})


def test_default_augmentation_keeps_shape_and_range_and_changes_pixels(tiny_faces):
    augment = default_augmentation(seed=3)
    batch = next(iter(tiny_faces.dataset(16, shuffle=False, augment=augment)))
    plain = next(iter(tiny_faces.dataset(16, shuffle=False)))
    image = batch["image"].numpy()
    assert image.shape == (16, 32, 32, 3) and image.dtype == np.float32
    assert image.min() >= 0 and image.max() <= 255
    assert np.abs(image - plain["image"].numpy()).mean() > 2
    assert [layer.__class__.__name__ for layer in augment.layers] == [
        "RandomFaceAffine", "RandomBrightness", "RandomContrast"]
    with pytest.raises(ValueError, match="rotation"):
        default_augmentation(rotation=2)


def test_class_balanced_sampling_evens_out_labels():
    data = _skewed()
    batches = data.dataset(100, balance="label", seed=1, repeat=True).take(14)
    labels = np.concatenate([b["label"].numpy() for b in batches])
    counts = np.bincount(labels, minlength=7)
    assert counts.min() > 140 and counts.max() < 260, counts  # 200 each if exactly uniform
    epoch = sum(len(b["label"]) for b in data.dataset(64, balance="label"))
    assert epoch == len(data), "one balanced epoch still has len(data) samples"


def test_group_balanced_sampling_and_bad_spec():
    data = _skewed()
    skin = np.concatenate([b["attributes"]["skin"].numpy()
                           for b in data.dataset(100, balance="group:skin", repeat=True).take(9)])
    assert abs(np.mean(skin == 2) - 1 / 3) < 0.07
    both = data.dataset(50, balance="label+group:skin")
    assert sum(len(b["label"]) for b in both) == 200
    with pytest.raises(ValueError, match="'group:race' is neither 'label' nor an attribute"):
        data.dataset(8, balance="group:race")


def test_lazy_decode_cache_and_grey(on_disk, tmp_path):
    first = next(iter(on_disk.dataset(30, shuffle=False)))["image"].numpy()
    cached = on_disk.dataset(30, shuffle=False, cache=True)
    for _ in range(2):  # second pass is served from the cache
        np.testing.assert_array_equal(next(iter(cached))["image"].numpy(), first)
    on_file = on_disk.dataset(30, shuffle=False, cache=str(tmp_path / "cache"))
    np.testing.assert_array_equal(next(iter(on_file))["image"].numpy(), first)
    balanced = on_disk.dataset(10, balance="label", cache=True, repeat=True)
    assert next(iter(balanced))["image"].shape == (10, 32, 32, 3)
    grey = FaceData(paths=on_disk.paths, image_size=(32, 32), channels=1, labels=on_disk.labels)
    image = next(iter(grey.dataset(4, shuffle=False)))["image"].numpy()
    assert image.shape == (4, 32, 32, 1)
    weights = np.array([0.299, 0.587, 0.114])
    assert np.abs(image[..., 0] - (first[:4] @ weights)).mean() < 3
    with pytest.raises(ValueError, match="cache"):
        on_disk.dataset(4, cache=1)


def test_stratified_split_keeps_label_by_group_proportions(small_test):
    train, val = stratified_split(small_test, 0.2, by=("label", "skin"), seed=4)
    assert len(train) + len(val) == len(small_test) and len(val) == 140
    cells = lambda d: np.bincount(d.labels * 3 + d.attributes["skin"], minlength=21)  # noqa: E731
    np.testing.assert_allclose(cells(val) / len(val), cells(small_test) / len(small_test), atol=0.01)
    again, _ = stratified_split(small_test, 0.2, by=("label", "skin"), seed=4)
    np.testing.assert_array_equal(again.labels, train.labels)
    with pytest.raises(ValueError, match="'race' is neither"):
        stratified_split(small_test, 0.2, by=("label", "race"))
    with pytest.raises(ValueError, match="between 0 and 1"):
        stratified_split(small_test, 1.5)


def test_stratified_split_of_tiny_data_falls_back_without_losing_samples(tiny_faces):
    tiny = tiny_faces[np.arange(5)]
    train, val = stratified_split(tiny, 0.4, by=("label", "skin", "gender"))
    assert sorted(np.r_[train.labels, val.labels].tolist()) == sorted(tiny.labels.tolist()) and len(val) == 2


def test_skip_report_travels_with_subsets(tiny_faces):
    report = SkipReport([SkippedRecord("a.csv", 3, "unknown label", "unknown label: 'x'")])
    data = FaceData(images=tiny_faces.images[:4], labels=tiny_faces.labels[:4], skipped=report)
    assert data[np.array([0, 2])].skipped is report
    assert "1 record(s) left out — unknown label: 1" in str(report)
    assert not tiny_faces.skipped and str(tiny_faces.skipped) == "SkipReport: nothing left out"


def test_random_face_affine_is_flip_rotation_zoom_in_one_warp():
    from kerasfer.data.random_affine import RandomFaceAffine

    x = np.random.default_rng(1).integers(0, 256, (8, 16, 16, 3)).astype("float32")
    identity = RandomFaceAffine(flip=False, rotation=0.0, zoom=0.0)
    np.testing.assert_allclose(identity(x).numpy(), x, atol=1e-3)
    flipped = RandomFaceAffine(flip=True, rotation=0.0, zoom=0.0, seed=2)(x).numpy()
    mirrored = [np.allclose(flipped[i], x[i][:, ::-1], atol=1e-3) for i in range(8)]
    assert all(mirrored[i] or np.allclose(flipped[i], x[i], atol=1e-3) for i in range(8)) and 0 < sum(mirrored) < 8
    layer = RandomFaceAffine(rotation=0.1, zoom=0.2, seed=5)
    assert RandomFaceAffine.from_config(layer.get_config()).get_config() == layer.get_config()
    np.testing.assert_array_equal(layer(x, training=False), x)

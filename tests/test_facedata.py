"""FaceData from a user's own arrays, its validation, subsets and the tf.data batch format."""

import numpy as np
import pytest

from kerasfer import ACTION_UNITS, FaceData
from kerasfer.data import balanced_weights


def _images(n, size=16, c=3):
    return np.random.default_rng(0).integers(0, 256, (n, size, size, c), dtype=np.uint8)


def test_user_arrays_without_aus():
    data = FaceData(images=_images(5), labels=[0, 1, 2, 3, -1], attributes={"gender": [0, 1, 1, -1, 0]})
    assert len(data) == 5 and data.image_shape == (16, 16, 3)
    assert data.aus is None
    assert data.group_labels("gender").tolist() == ["male", "female", "female", "unknown", "male"]
    assert "n=5" in repr(data)


def test_custom_attribute_gets_numbered_groups():
    data = FaceData(images=_images(4), labels=[0, 0, 1, 1], attributes={"site": [0, 2, 1, 2]})
    assert data.group_names["site"] == ("0", "1", "2")


def test_subset_keeps_everything_aligned(tiny_faces):
    sub = tiny_faces[np.array([3, 1, 4])]
    assert len(sub) == 3
    np.testing.assert_array_equal(sub.images[1], tiny_faces.images[1])
    assert sub.labels.tolist() == tiny_faces.labels[[3, 1, 4]].tolist()
    assert sub.attributes["skin"].tolist() == tiny_faces.attributes["skin"][[3, 1, 4]].tolist()


def test_dataset_yields_the_documented_batch(tiny_faces):
    batch = next(iter(tiny_faces.dataset(16, shuffle=False)))
    assert set(batch) == {"image", "label", "aus", "attributes"}
    assert batch["image"].dtype.name == "float32" and tuple(batch["image"].shape) == (16, 32, 32, 3)
    assert float(batch["image"].numpy().max()) > 1.0, "images stay raw pixels (0-255)"
    assert batch["label"].dtype.name == "int32"
    assert tuple(batch["aus"].shape) == (16, len(ACTION_UNITS))
    assert set(batch["attributes"]) == {"gender", "skin", "age"}
    np.testing.assert_array_equal(batch["label"].numpy(), tiny_faces.labels[:16])


def test_dataset_shuffle_is_seeded(tiny_faces):
    first = lambda seed: next(iter(tiny_faces.dataset(96, seed=seed)))["label"].numpy()  # noqa: E731
    np.testing.assert_array_equal(first(1), first(1))
    assert not np.array_equal(first(1), first(2))


def test_dataset_without_aus_marks_them_unknown():
    data = FaceData(images=_images(3), labels=[0, 1, 2])
    batch = next(iter(data.dataset(3, shuffle=False)))
    assert (batch["aus"].numpy() == -1).all()


def test_sample_weight_is_carried(tiny_faces):
    weights = np.linspace(0.5, 1.5, len(tiny_faces)).astype("float32")
    batch = next(iter(tiny_faces.dataset(8, shuffle=False, sample_weight=weights)))
    np.testing.assert_allclose(batch["sample_weight"].numpy(), weights[:8])


def test_balanced_weights_equalise_cells():
    labels = np.array([0] * 6 + [1] * 2)
    groups = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    data = FaceData(images=_images(8), labels=labels, attributes={"gender": groups})
    w = balanced_weights(data, "gender")
    cells = {(g, y): w[(groups == g) & (labels == y)].sum() for g, y in [(0, 0), (1, 0), (1, 1)]}
    assert np.allclose(list(cells.values()), cells[(0, 0)])
    assert np.isclose(w.mean(), 1.0)


def test_balanced_weights_of_a_tiny_cell_are_capped():
    """One face alone in its (group × label) cell would weigh 50× the mean; the cap holds it at 10×
    before the weights are rescaled to mean 1, and no cap gives the full weight."""
    labels = np.array([0] * 99 + [1])
    groups = np.zeros(100, int)
    data = FaceData(images=_images(100), labels=labels, attributes={"gender": groups})
    uncapped = balanced_weights(data, "gender", max_weight=None)
    assert np.isclose(uncapped[-1], 50.0)
    capped = balanced_weights(data, "gender")
    assert np.isclose(capped.mean(), 1.0) and capped[-1] / capped[0] == pytest.approx(10.0 / (50 / 99))
    with pytest.raises(ValueError, match="max_weight"):
        balanced_weights(data, "gender", max_weight=0.5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"images": np.zeros((2, 8, 8, 2), np.uint8)}, "images"),
        ({"images": np.full((2, 8, 8, 3), 300.0)}, "0..255"),
        ({"images": _images(2), "labels": [0, 7]}, "labels"),
        ({"images": _images(2), "labels": [0]}, "labels"),
        ({"images": _images(2), "labels": [0, 1], "attributes": {"gender": [0, 2]}}, "gender"),
        ({"images": _images(2), "aus": np.zeros((2, 3))}, "aus"),
        ({}, "images"),
        ({"paths": ["a.jpg"]}, "image_size"),
    ],
)
def test_bad_input_raises_value_error_naming_it(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FaceData(**kwargs)


def test_nan_images_are_caught_with_their_index():
    images = np.full((5, 16, 16, 3), 100.0)
    images[3, 2, 2, 1] = np.nan
    with pytest.raises(ValueError, match=r"images\[3\]` holds NaN"):
        FaceData(images=images, labels=[0] * 5)
    images[3] = np.inf
    images[1, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"images\[1\].*2 image"):
        FaceData(images=images, labels=[0] * 5)


def test_bad_batch_size_and_unknown_attribute(tiny_faces):
    with pytest.raises(ValueError, match="batch_size"):
        tiny_faces.dataset(0)
    with pytest.raises(ValueError, match="Unknown attribute 'height'"):
        tiny_faces.group_labels("height")


@pytest.mark.parametrize("field", ["labels", "attributes"])
def test_nan_label_or_attribute_names_the_row(field):
    values = np.array([0.0, 1.0, np.nan, 2.0])
    kwargs = {"labels": values} if field == "labels" else {"attributes": {"skin": values}}
    with pytest.raises(ValueError, match=r"row 2 holds nan"):
        FaceData(images=np.zeros((4, 16, 16, 1), np.uint8), **kwargs)

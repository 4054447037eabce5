"""The mitigation modes of `train_model`: balanced sampling, Group DRO, post-hoc erasure — each checked on
what makes it that method (the draws, the cell weights, the erased latent), on bad input, saved and loaded."""

import keras
import numpy as np
import pytest

from kerasfer.data import make_synthfaces
from kerasfer.data.sampling import balance_cells
from kerasfer.models.mitigations import GroupDROClassifier, erase_and_refit
from kerasfer.models.mitigations.balanced import balance_spec, balanced_multiplicities
from kerasfer.training import train_model
from kerasfer.training.epochs import epoch_stream

PHONE = dict(size="phone", width=8, latent_dim=8)


@pytest.fixture(scope="module")
def biased_faces():
    """600 32-px faces with the demo bias: dark skin rare (15 %) and mostly angry."""
    return make_synthfaces(600, seed=5, image_size=32, bias="demo")


# ------------------------------------------------------------------------------------------ balanced
def test_balanced_draws_every_cell_equally_often(biased_faces):
    cells = balance_cells(biased_faces, balance_spec("skin"))
    counts = sum(balanced_multiplicities(cells, np.random.default_rng(s)) for s in range(200))
    assert counts.sum() == 200 * len(cells)
    per_cell = np.bincount(cells, weights=counts) / (200 * len(cells))
    np.testing.assert_allclose(per_cell, 1 / len(per_cell), atol=0.01)  # 21 cells of 1.4 %–23 % in the data
    assert np.bincount(cells).min() < 0.4 * np.bincount(cells).mean()  # the data itself is far from balanced


def test_balance_spec_names_intersectional_cells():
    assert balance_spec("skin") == "label+group:skin"
    assert balance_spec(["gender", "skin"]) == "label+group:gender+group:skin"
    with pytest.raises(ValueError, match="distinct"):
        balance_spec(["skin", "skin"])


def test_balanced_stream_is_seeded_resumable_and_balanced(biased_faces):
    def labels(**kwargs):
        stream = epoch_stream(biased_faces, 50, epochs=2, seed=3, balance="label+group:skin", **kwargs)
        return np.concatenate([b["label"].numpy() * 3 + b["attributes"]["skin"].numpy() for b in stream])

    full = labels()
    assert len(full) == 2 * len(biased_faces)  # an epoch is still N faces
    np.testing.assert_array_equal(labels(), full)
    np.testing.assert_array_equal(labels(start_step=17), full[17 * 50:])  # resumed mid-epoch: the same faces
    share = np.bincount(full, minlength=21) / len(full)
    assert share.min() > 0.02 and share.max() < 0.09  # data: 1.4 %–23 % per cell


def test_balanced_stream_of_images_on_disk_is_seeded_and_resumable(biased_faces, tmp_path):
    import cv2

    from kerasfer.data import FaceData

    faces = biased_faces[np.arange(90)]
    paths = []
    for i, image in enumerate(faces.images):
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], image[..., ::-1])
    on_disk = FaceData(images=None, paths=np.array(paths), labels=faces.labels, attributes=faces.attributes,
                       group_names=faces.group_names, image_size=faces.image_size, channels=3)

    def labels(**kwargs):
        stream = epoch_stream(on_disk, 20, epochs=2, seed=1, balance="label+group:skin", **kwargs)
        return np.concatenate([b["label"].numpy() for b in stream])

    full = labels()
    assert len(full) == 2 * 90
    np.testing.assert_array_equal(labels(start_step=3), full[3 * 20:])
    assert np.bincount(full, minlength=7).min() >= 10  # 7 emotions, every one drawn


def test_balanced_trains_through_train_model(biased_faces):
    _, metrics = train_model("balanced", biased_faces, biased_faces, epochs=1, verbose=0, **PHONE)
    assert metrics["model"] == "balanced" and metrics["attribute"] == "skin" and metrics["reweight_attribute"] is None


# ----------------------------------------------------------------------------------------- group DRO
def test_group_dro_raises_the_weight_of_the_cell_that_loses_most():
    model = GroupDROClassifier(input_shape=(32, 32, 3), groups={"skin": 3}, step_size=0.5, **PHONE)
    batch = {"label": np.array([0, 0, 1, 1]), "attributes": {"skin": np.array([0, 0, 2, -1])}}
    loss = np.array([0.5, 0.5, 3.0, 9.0], "float32")
    objective = float(model._objective(batch, loss, np.ones(4, "float32")))
    q = keras.ops.convert_to_numpy(model.cell_weights)
    # cells: skin 0 × angry (index 0) lost 0.5, skin 2 × disgust (2·7 + 1 = 15) lost 3; the unknown group is out
    expected = np.full(21, 1 / 21)
    expected[0] *= np.exp(0.5 * 0.5)
    expected[15] *= np.exp(0.5 * 3.0)
    expected /= expected.sum()
    np.testing.assert_allclose(q, expected, rtol=1e-5)
    np.testing.assert_allclose(objective, expected[0] * 0.5 + expected[15] * 3.0, rtol=1e-5)
    assert q.argmax() == 15


def test_group_dro_checks_its_settings():
    with pytest.raises(ValueError, match="step_size"):
        GroupDROClassifier(input_shape=(32, 32, 3), step_size=0, **PHONE)
    with pytest.raises(ValueError, match="weight_decay"):
        GroupDROClassifier(input_shape=(32, 32, 3), weight_decay=-1, **PHONE)
    with pytest.raises(ValueError, match="hair"):
        GroupDROClassifier(input_shape=(32, 32, 3), attribute="hair", **PHONE)


def test_group_dro_trains_with_weight_decay_and_saves_its_cell_weights(biased_faces, tmp_path):
    model, metrics = train_model("group_dro", biased_faces, biased_faces, epochs=1, verbose=0, out=tmp_path,
                                 attribute=["gender", "skin"], **PHONE)
    assert isinstance(model.optimizer, keras.optimizers.AdamW) and model.optimizer.weight_decay == 0.1
    table = metrics["cell_weights"]
    assert len(table) == 6 and set(table["female/dark"]) == set(biased_faces.label_names)
    assert abs(sum(w for row in table.values() for w in row.values()) - 1) < 1e-3
    q = keras.ops.convert_to_numpy(model.cell_weights)
    assert np.ptp(q) > 1e-3  # the weights moved away from uniform (1/42 each)
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded.cell_weights), q)
    assert loaded.attribute == ["gender", "skin"]


# ------------------------------------------------------------------------------------------- erasure
def test_erasure_removes_linear_leakage_and_keeps_the_head_working(biased_faces, tmp_path):
    from kerasfer.fairness import leakage

    model, metrics = train_model("erasure", biased_faces, biased_faces, epochs=2, verbose=0, out=tmp_path, **PHONE)
    assert metrics["erasure"]["attributes"] == ["skin"] and metrics["erasure"]["rank"] == 2
    assert metrics["erasure"]["epochs"] == 5 and metrics["erasure"]["head_loss"] < 2.0
    probe = leakage(model, biased_faces, "skin", n_boot=0)["balanced_accuracy"]
    before = leakage(model.pre_erasure_model(), biased_faces, "skin", n_boot=0)["balanced_accuracy"]
    assert probe < 0.40 and before > probe + 0.08  # chance 0.333; measured 0.28-0.33 after, 0.47-0.63 before
    images = biased_faces.images[:16].astype("float32")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)


def test_erase_and_refit_adds_an_eraser_to_a_trained_baseline(biased_faces, tmp_path):
    model, _ = train_model("baseline", biased_faces, epochs=1, verbose=0, **PHONE)
    assert model.eraser is None
    report = erase_and_refit(model, biased_faces, ["skin", "gender"], epochs=1)
    assert report["attributes"] == ["skin", "gender"] and report["rank"] == 3 and model.erasure == ("skin", "gender")
    model.save(tmp_path / "erased.keras")
    loaded = keras.saving.load_model(tmp_path / "erased.keras")
    images = biased_faces.images[:8].astype("float32")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)


def test_erase_and_refit_refuses_what_it_cannot_do(biased_faces):
    from kerasfer.models.mitigations import DomainIndependentClassifier

    model, _ = train_model("baseline", biased_faces, epochs=1, verbose=0, **PHONE)
    with pytest.raises(ValueError, match="name the attribute"):
        erase_and_refit(model, biased_faces)
    with pytest.raises(ValueError, match="hair"):
        erase_and_refit(model, biased_faces, "hair")
    with pytest.raises(ValueError, match="epochs"):
        erase_and_refit(model, biased_faces, "skin", epochs=-1)
    with pytest.raises(ValueError, match="one weight per face"):
        erase_and_refit(model, biased_faces, "skin", sample_weight=np.ones(3))
    blocks = DomainIndependentClassifier(input_shape=(32, 32, 3), **PHONE)
    with pytest.raises(ValueError, match="21 outputs"):
        erase_and_refit(blocks, biased_faces, "skin")
    with pytest.raises(ValueError, match="emotion model"):
        erase_and_refit(keras.Sequential([keras.layers.Dense(2)]), biased_faces, "skin")


# ------------------------------------------------------------------------------------ shared checks
@pytest.mark.parametrize("name", ["balanced", "group_dro", "domain_independent", "erasure"])
def test_group_aware_methods_need_an_attribute(name):
    bare = make_synthfaces(64, seed=1, image_size=32)
    bare.attributes.clear()
    with pytest.raises(ValueError, match="protected attribute"):
        train_model(name, bare, epochs=1, verbose=0, **PHONE)


def test_an_unknown_attribute_is_named(biased_faces):
    with pytest.raises(ValueError, match="hair"):
        train_model("balanced", biased_faces, epochs=1, verbose=0, attribute="hair", **PHONE)


def test_reweighting_balances_intersectional_cells(biased_faces):
    from kerasfer.data import balanced_weights

    weights = balanced_weights(biased_faces, ["gender", "skin"], max_weight=None)
    cells = balance_cells(biased_faces, balance_spec(["gender", "skin"]))
    totals = np.bincount(cells, weights=weights)
    np.testing.assert_allclose(totals, totals.mean(), rtol=1e-4)  # every (gender × skin × emotion) cell weighs the same
    _, metrics = train_model("reweighted", biased_faces, epochs=1, verbose=0, attribute=["gender", "skin"], **PHONE)
    assert metrics["reweight_attribute"] == ["gender", "skin"]

"""Domain-independent training: one block of class scores per group, trained on the face's own block,
served as the sum over blocks — no group needed at inference, saved, loaded and exported like the baseline."""

import keras
import numpy as np
import pytest

from kerasfer.models.mitigations import DomainIndependentClassifier
from kerasfer.models.mitigations.domain_independent import GroupBlockSum
from kerasfer.training import train_model


def tiny(**kwargs):
    return DomainIndependentClassifier(input_shape=(32, 32, 3), size="phone", width=8, latent_dim=8,
                                       groups={"skin": 3, "gender": 2}, **kwargs)


def test_the_block_sum_is_the_softmax_of_the_summed_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 3 * 4)).astype("float32")
    joint = keras.ops.softmax(logits, axis=-1)
    served = keras.ops.convert_to_numpy(GroupBlockSum(3, 4)(joint))
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(logits.reshape(5, 3, 4).sum(axis=1), axis=-1))
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_each_face_trains_on_its_own_groups_block():
    model = tiny()
    joint = keras.ops.softmax(np.random.default_rng(1).normal(size=(3, 21)).astype("float32"), axis=-1)
    batch = {"attributes": {"skin": np.array([0, 2, -1])}}
    probs = keras.ops.convert_to_numpy(model._group_probs(batch, joint))
    blocks = keras.ops.convert_to_numpy(joint).reshape(3, 3, 7)
    np.testing.assert_allclose(probs[0], blocks[0, 0] / blocks[0, 0].sum(), atol=1e-6)
    np.testing.assert_allclose(probs[1], blocks[1, 2] / blocks[1, 2].sum(), atol=1e-6)
    np.testing.assert_allclose(probs[2], keras.ops.convert_to_numpy(model.block_sum(joint))[2], atol=1e-6)


def test_intersectional_blocks_and_bad_attributes():
    assert tiny(attribute=["gender", "skin"]).num_groups == 6
    with pytest.raises(ValueError, match="hair"):
        tiny(attribute="hair")


def test_trains_saves_and_exports_without_a_group_input(tiny_faces, tmp_path):
    from kerasfer.export import to_tflite
    from kerasfer.export.verify import LiteRTModel

    model, metrics = train_model("domain_independent", tiny_faces, tiny_faces, epochs=1, verbose=0, out=tmp_path,
                                 size="phone", width=8, latent_dim=8)
    assert model.attribute == "skin" and model.num_groups == 3 and model.head.output_shape == (None, 21)
    assert metrics["model"] == "domain_independent" and 0 <= metrics["accuracy"] <= 1
    images = tiny_faces.images[:8].astype("float32")
    served = model.predict(images, verbose=0)
    assert served.shape == (8, 7) and np.allclose(served.sum(axis=1), 1, atol=1e-5)
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), served, atol=1e-6)
    np.testing.assert_allclose(model.classifier_model().predict(images, verbose=0), served, atol=1e-6)
    to_tflite(model, tmp_path / "m.tflite", mode="float32")
    np.testing.assert_allclose(LiteRTModel(tmp_path / "m.tflite").predict(images), served, atol=1e-4)


def test_data_without_attributes_is_refused(tiny_faces):
    from kerasfer.data import FaceData

    bare = FaceData(tiny_faces.images, tiny_faces.labels)
    with pytest.raises(ValueError, match="domain_independent works on a protected attribute"):
        train_model("domain_independent", bare, epochs=1, verbose=0)

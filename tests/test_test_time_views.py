"""Test-time views: a classifier that averages the probabilities of a face, its mirror and its shifts."""

import keras
import numpy as np
import pytest

from kerasfer.data import make_synthfaces
from kerasfer.export.int8_rewrite import rewrite_for_int8
from kerasfer.models.classifier import EmotionClassifier
from kerasfer.models.test_time import count_views, shifted

TINY = dict(size="phone", width=8, latent_dim=8)


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    mirrored = EmotionClassifier((32, 32, 1), test_time_mirror=True, **TINY)
    last = mirrored.head.layers[-1]  # sharpen the untrained softmax, so a face and its mirror differ visibly
    last.set_weights([w * 300 for w in last.get_weights()])
    plain = EmotionClassifier.from_config({**mirrored.get_config(), "test_time_mirror": False})
    plain.set_weights(mirrored.get_weights())
    images = make_synthfaces(16, seed=1, image_size=32, channels=1).images.astype("float32")
    return mirrored, plain, images


def test_inference_averages_the_image_and_its_mirror(models):
    mirrored, plain, images = models
    expected = (np.asarray(plain(images)) + np.asarray(plain(images[:, :, ::-1]))) / 2
    np.testing.assert_allclose(np.asarray(mirrored(images)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(mirrored.classifier_model()(images)), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(plain(images)), expected, atol=1e-4), "the mirror must change something"


def test_the_setting_is_saved_with_the_model(models, tmp_path):
    from kerasfer.models.saving import load_model

    mirrored, _, images = models
    mirrored.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.test_time_mirror is True
    np.testing.assert_allclose(np.asarray(loaded(images)), np.asarray(mirrored(images)), rtol=1e-5, atol=1e-6)


def test_the_int8_rewrite_keeps_the_mirror(models):
    mirrored, _, images = models
    rewritten = rewrite_for_int8(mirrored, images)  # raises if the rewritten function differs
    assert any(layer.name == "test_time_average" for layer in rewritten.layers)


def _edge_shift(images, rows, columns):
    """numpy's reference: pixel (i, j) of the result is the source's clipped (i + rows, j + columns)."""
    h, w = images.shape[1:3]
    pad = max(abs(rows), abs(columns))
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    return padded[:, pad + rows:pad + rows + h, pad + columns:pad + columns + w]


@pytest.mark.parametrize("rows,columns", [(2, 0), (-2, 0), (0, 3), (0, -1), (1, -2)])
def test_a_shift_repeats_the_edge(rows, columns):
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 9, 1)).astype("float32")
    np.testing.assert_array_equal(np.asarray(shifted(images, rows, columns)), _edge_shift(images, rows, columns))


def test_ten_views_average_the_face_its_shifts_and_their_mirrors(models):
    mirrored, plain, images = models
    viewed = EmotionClassifier.from_config({**mirrored.get_config(), "test_time_shift": 2})
    viewed.set_weights(mirrored.get_weights())
    views = [images] + [_edge_shift(images, r, c) for r, c in ((2, 0), (-2, 0), (0, 2), (0, -2))]
    views += [view[:, :, ::-1] for view in views]
    assert len(views) == count_views(True, 2) == 10 and count_views(False, 2) == 5 and count_views(False, 0) == 1
    expected = np.mean([np.asarray(plain(view)) for view in views], axis=0)
    np.testing.assert_allclose(np.asarray(viewed(images)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(viewed.classifier_model()(images)), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(mirrored(images)), expected, atol=1e-4), "the shifts must change something"
    rewritten = rewrite_for_int8(viewed, images)  # raises if the rewritten function differs
    np.testing.assert_allclose(np.asarray(rewritten(images)), expected, atol=2e-3)


def test_a_trained_model_with_ten_views_exports_to_int8_and_agrees(tmp_path):
    """The 10-view graph (slices, concatenations, reversals) of a trained model (`fer`'s, the start that
    uses it) converts to int8 and runs in LiteRT with its top-1."""
    from kerasfer.export import to_tflite, verify
    from kerasfer.models.fer_xception import pretrained_classifier

    model = pretrained_classifier(test_time_mirror=True, test_time_shift=2)
    faces = make_synthfaces(160, seed=4, image_size=64, channels=1)
    probs = np.asarray(model.predict(faces.images.astype("float32"), verbose=0))
    assert probs.max(axis=1).mean() > 0.3, "a model whose top-1 is not a tie"
    path = tmp_path / "viewed.tflite"
    to_tflite(model, path, mode="int8", representative_data=faces[:64])
    assert verify(path, model, faces)["agreement"] >= 0.9  # SynthFaces are far from FER2013: the fer test's floor


def test_bad_shifts_are_refused():
    with pytest.raises(ValueError, match="`test_time_shift` must be 0"):
        EmotionClassifier((32, 32, 1), test_time_shift=16, **TINY)
    with pytest.raises(ValueError, match="`test_time_shift` must be 0"):
        EmotionClassifier((32, 32, 1), test_time_shift=-1, **TINY)

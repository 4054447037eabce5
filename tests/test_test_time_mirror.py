"""`test_time_mirror`: a classifier that averages the image's and its mirror's probabilities at inference."""

import keras
import numpy as np
import pytest

from kerasfer.data import make_synthfaces
from kerasfer.export.int8_rewrite import rewrite_for_int8
from kerasfer.models.classifier import EmotionClassifier

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
    assert any(layer.name == "mirror_average" for layer in rewritten.layers)

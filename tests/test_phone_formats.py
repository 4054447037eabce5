"""Phone formats: TFLite Model Metadata inside every export (labels.txt as an associated file) and the
same file in MediaPipe Tasks' ImageClassifier, against LiteRT and Keras."""

import zipfile

import keras
import numpy as np
import pytest

from kerasfer.constants import ACTION_UNITS, EMOTIONS
from kerasfer.data import make_synthfaces
from kerasfer.export import read_sidecar, to_tflite, verify
from kerasfer.export import tflite as tflite_module
from kerasfer.export.mediapipe_check import SCORE_TOLERANCE, check_in_mediapipe
from kerasfer.export.metadata import ModelInfo, embed_metadata, read_metadata, with_verification
from kerasfer.export.verify import LiteRTModel
from kerasfer.models import AUClassifier, EmotionClassifier
from kerasfer.models.predict import predict_proba

pytest.importorskip("mediapipe", reason="the phone formats need mediapipe: `make install` installs it")


@pytest.fixture(scope="module")
def rgb_model():
    keras.utils.set_random_seed(3)
    return EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=8)


@pytest.fixture(scope="module")
def exports(rgb_model, tiny_faces, tmp_path_factory):
    """The model as float32 and int8 `.tflite` files, with their sidecars."""
    out = tmp_path_factory.mktemp("formats")
    info = ModelInfo(name="test FER", version="2.1", author="Test Lab", license="Apache-2.0")
    return {mode: (out / f"m_{mode}.tflite",
                   to_tflite(rgb_model, out / f"m_{mode}.tflite", mode=mode, representative_data=tiny_faces,
                             num_calibration=64, info=info))
            for mode in ("float32", "int8")}


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_export_opens_as_a_zip_holding_labels_and_carries_the_metadata(exports, mode):
    path, sidecar = exports[mode]
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["labels.txt"]
        assert archive.getinfo("labels.txt").compress_type == zipfile.ZIP_STORED
        assert archive.read("labels.txt").decode().splitlines() == list(EMOTIONS)
    meta = read_metadata(path.read_bytes())
    assert sidecar["metadata"] is True
    assert (meta["name"], meta["version"], meta["author"], meta["license"]) == ("test FER", "2.1", "Test Lab",
                                                                                "Apache-2.0")
    assert meta["min_parser_version"] == "1.0.0"
    # raw pixels in: mean 0, std 1, range 0..255, and the graph's own normalisation named
    assert meta["input"] | {"description": None} == {"color": "rgb", "mean": [0.0] * 3, "std": [1.0] * 3,
                                                     "min": [0.0] * 3, "max": [255.0] * 3, "description": None}
    assert "0–255" in meta["input"]["description"] and "x · 0.0078125 − 1" in meta["input"]["description"]
    assert meta["output"]["associated_files"] == ["labels.txt"]
    assert f"export mode {mode}" in meta["description"]


def test_metadata_leaves_the_arithmetic_bit_identical(exports, rgb_model, tiny_faces, tmp_path):
    path, sidecar = exports["int8"]
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(tflite_module.convert(tflite_module.inference_model(rgb_model), mode="float32"))
    again = tmp_path / "again.tflite"
    again.write_bytes(embed_metadata(bare.read_bytes(), exports["float32"][1]))
    images = tiny_faces.load_images()[:16]
    np.testing.assert_array_equal(LiteRTModel(bare).predict(images), LiteRTModel(again).predict(images))
    # embedding twice replaces, never stacks: one metadata buffer, one labels.txt
    twice = embed_metadata(again.read_bytes(), exports["float32"][1])
    assert len(twice) == len(again.read_bytes())
    assert zipfile.ZipFile(again).namelist() == ["labels.txt"]


def test_verification_summary_goes_into_the_description_only(exports, rgb_model, tiny_faces, tmp_path):
    path, sidecar = exports["int8"]
    result = verify(path, rgb_model, tiny_faces, ["skin"], latency_runs=2, mediapipe=False)
    edited = with_verification(path.read_bytes(), sidecar, result)
    before, after = read_metadata(path.read_bytes()), read_metadata(edited)
    assert f"top-1 agreement with Keras {100 * result['agreement']:.1f} %" in after["description"]
    assert "worst group skin=" in after["description"]
    assert {k: v for k, v in after.items() if k != "description"} == \
        {k: v for k, v in before.items() if k != "description"}


def test_action_unit_export_carries_au_labels_and_thresholds(tmp_path):
    keras.utils.set_random_seed(4)
    model = AUClassifier(input_shape=(32, 32, 3), width=8, latent_dim=8)
    model.au_thresholds.assign(np.linspace(0.3, 0.7, len(ACTION_UNITS)).astype("float32"))
    sidecar = to_tflite(model, tmp_path / "au.tflite")
    files = zipfile.ZipFile(tmp_path / "au.tflite")
    assert files.read("labels.txt").decode().splitlines() == list(ACTION_UNITS)
    thresholds = [float(t) for t in files.read("au_thresholds.txt").decode().split()]
    np.testing.assert_allclose(thresholds, np.linspace(0.3, 0.7, len(ACTION_UNITS)), atol=1e-6)
    meta = read_metadata((tmp_path / "au.tflite").read_bytes())
    assert meta["output"]["associated_files"] == ["labels.txt", "au_thresholds.txt"]
    assert "multi-label" in meta["description"] and sidecar["labels"] == list(ACTION_UNITS)


def test_grey_model_is_marked_grayscale_and_mediapipe_says_why_it_skips(tmp_path):
    keras.utils.set_random_seed(5)
    model = EmotionClassifier(input_shape=(32, 32, 1), width=8, latent_dim=8)
    to_tflite(model, tmp_path / "grey.tflite")
    meta = read_metadata((tmp_path / "grey.tflite").read_bytes())
    assert meta["input"]["color"] == "grey" and meta["input"]["mean"] == [0.0]
    result = verify(tmp_path / "grey.tflite", model, make_synthfaces(32, seed=5, image_size=32, channels=1),
                    latency_runs=2)
    assert result["mediapipe"]["runtime"] is None and "RGB models only" in result["mediapipe"]["skipped"]


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_mediapipe_image_classifier_agrees_with_litert_and_keras(exports, rgb_model, tiny_faces, mode):
    path, _ = exports[mode]
    result = verify(path, rgb_model, tiny_faces, ["skin"], latency_runs=2)
    check = result["mediapipe"]
    assert check["runtime"].startswith("MediaPipe Tasks ImageClassifier")
    assert check["n"] == len(tiny_faces) and check["labels_match"]
    assert check["agreement_litert"] == 1.0 and check["within_one_step"]
    assert check["max_score_difference"] <= SCORE_TOLERANCE
    assert check["agreement_keras"] == pytest.approx(result["agreement"], abs=0.02)


def test_mediapipe_check_catches_a_model_that_disagrees(exports, tiny_faces):
    path, sidecar = exports["float32"]
    pixels = tiny_faces.load_images().astype(np.uint8)[:8]
    wrong = np.roll(LiteRTModel(path).predict(pixels), 1, axis=1)  # scores moved one class over
    check = check_in_mediapipe(path, pixels, wrong, wrong.argmax(1), sidecar["labels"])
    assert check["agreement_litert"] < 1.0 and not check["within_one_step"]
    assert not check_in_mediapipe(path, pixels, LiteRTModel(path).predict(pixels), wrong.argmax(1),
                                  list(reversed(EMOTIONS)))["labels_match"]


def test_without_mediapipe_the_export_says_so(rgb_model, tiny_faces, tmp_path, monkeypatch):
    monkeypatch.setattr(tflite_module, "mediapipe_available", lambda: False)
    with pytest.warns(UserWarning, match=r"without TFLite Model Metadata.*kerasfer\[phone\]"):
        sidecar = to_tflite(rgb_model, tmp_path / "bare.tflite")
    assert sidecar["metadata"] is False
    assert not zipfile.is_zipfile(tmp_path / "bare.tflite")
    with pytest.raises(ValueError, match="no TFLite Model Metadata"):
        read_metadata((tmp_path / "bare.tflite").read_bytes())
    result = verify(tmp_path / "bare.tflite", rgb_model, tiny_faces, latency_runs=2)
    assert result["mediapipe"]["runtime"] is None and "no TFLite Model Metadata" in result["mediapipe"]["skipped"]



def test_action_unit_export_is_verified_on_au_decisions(tmp_path):
    keras.utils.set_random_seed(6)
    model = AUClassifier(input_shape=(32, 32, 3), width=8, latent_dim=8)
    data = make_synthfaces(64, seed=6, image_size=32)
    to_tflite(model, tmp_path / "au.tflite", mode="int8", representative_data=data, num_calibration=32)
    result = verify(tmp_path / "au.tflite", model, data, ["skin"], latency_runs=2)
    assert result["metric"] == "macro F1 over Action Units"
    thresholds = np.asarray(model.au_thresholds)
    keras_on = predict_proba(model, data) >= thresholds
    lite_on = LiteRTModel(tmp_path / "au.tflite").predict(data.load_images()) >= thresholds
    assert result["agreement"] == pytest.approx((keras_on == lite_on).mean())
    from sklearn.metrics import f1_score

    assert result["keras_accuracy"] == pytest.approx(f1_score(data.aus, keras_on, average="macro", zero_division=0))
    assert set(result["per_group"]["skin"]) == {"light", "medium", "dark"}
    described = read_metadata(with_verification((tmp_path / "au.tflite").read_bytes(), read_sidecar(
        tmp_path / "au.tflite"), result))["description"]
    assert "AU decision agreement" in described and "AU macro F1" in described
    no_aus = make_synthfaces(16, seed=7, image_size=32)
    no_aus.aus = None
    with pytest.raises(ValueError, match="AU labels"):
        verify(tmp_path / "au.tflite", model, no_aus, latency_runs=2)

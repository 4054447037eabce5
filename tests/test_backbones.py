"""`backbone=`: keras.applications encoders take raw pixels, train, save, export and explain like the
kerasfer encoder; weights come from a file (never downloaded in tests); QAT refuses them clearly."""

import keras
import numpy as np
import pytest

from kerasfer.data import make_synthfaces
from kerasfer.explain import group_heatmaps
from kerasfer.export import to_tflite
from kerasfer.export.verify import LiteRTModel
from kerasfer.models import EmotionClassifier, FairVAE
from kerasfer.models.backbones import APPLICATIONS, build_backbone_encoder
from kerasfer.models.predict import predict_proba


@pytest.fixture(scope="module")
def faces():
    return make_synthfaces(64, seed=21, image_size=32, channels=1)


@pytest.fixture(scope="module")
def trained(faces):
    keras.utils.set_random_seed(0)
    model = EmotionClassifier(input_shape=(32, 32, 1), backbone="mobilenet_v3_small", latent_dim=16)
    model.compile(optimizer="adam")
    model.fit(faces.dataset(32), epochs=1, verbose=0, shuffle=False)
    return model


def test_a_backbone_model_saves_exports_and_explains(trained, faces, tmp_path):
    images = faces.images[:8].astype("float32")
    path = tmp_path / "m.keras"
    trained.save(path)
    reloaded = keras.models.load_model(path)
    assert reloaded.backbone == "mobilenet_v3_small"
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), trained.predict(images, verbose=0), atol=1e-5)
    to_tflite(trained, tmp_path / "f.tflite", mode="float32")
    np.testing.assert_allclose(LiteRTModel(tmp_path / "f.tflite").predict(faces.images), predict_proba(trained, faces),
                               atol=1e-4)  # raw pixels in: the backbone's preprocessing is in the graph
    maps = group_heatmaps(trained, faces, "skin", max_per_group=4)
    assert set(maps) == {"light", "medium", "dark"}


@pytest.mark.slow
def test_a_backbone_model_exports_to_int8(trained, faces, tmp_path):
    meta = to_tflite(trained, tmp_path / "q.tflite", mode="int8", representative_data=faces)
    assert meta["input"]["dtype"] == "uint8"
    assert LiteRTModel(tmp_path / "q.tflite").predict(faces.images).shape == (64, 7)


def test_qat_refuses_a_backbone_with_a_clear_message(trained, faces, tmp_path):
    with pytest.raises(ValueError, match="mobilenet_v3_small"):
        to_tflite(trained, tmp_path / "qat.tflite", mode="int8", representative_data=faces, qat_epochs=1)


def test_weights_come_from_a_file_and_fairvae_takes_a_backbone(tmp_path):
    keras.utils.set_random_seed(1)
    source = build_backbone_encoder((32, 32, 3), "mobilenet_v3_small")
    base = next(layer for layer in source.layers if isinstance(layer, keras.Model))
    base.save_weights(tmp_path / "base.weights.h5")
    loaded = build_backbone_encoder((32, 32, 3), "mobilenet_v3_small", weights=str(tmp_path / "base.weights.h5"))
    loaded_base = next(layer for layer in loaded.layers if isinstance(layer, keras.Model))
    for a, b in zip(base.get_weights(), loaded_base.get_weights()):
        np.testing.assert_array_equal(a, b)
    vae = FairVAE(input_shape=(32, 32, 3), protected={"skin": 3}, backbone="mobilenet_v3_small", latent_dim=16,
                  generator_width=8)
    assert vae.get_config()["backbone"] == "mobilenet_v3_small"
    assert vae.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0).shape == (2, 7)


@pytest.mark.parametrize("name", sorted(set(APPLICATIONS) - {"mobilenet_v3_small"}))
def test_every_application_builds_on_raw_pixels(name):
    encoder = build_backbone_encoder((32, 32, 1), name, latent_dim=8)
    assert encoder.output_shape == (None, 8)
    assert encoder.get_layer("feature_map").output.shape[-1] > 0
    assert np.isfinite(encoder.predict(np.full((1, 32, 32, 1), 255.0, "float32"), verbose=0)).all()


@pytest.mark.parametrize("kwargs, match", [({"backbone": "resnet9000"}, "backbone"),
                                           ({"backbone": "efficientnet_b0", "backbone_weights": "/no/such.h5"},
                                            "weights"),
                                           ({"backbone": "mobilenet_v3_small", "input_shape": (16, 16, 3)}, "32")])
def test_bad_backbone_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EmotionClassifier(**{"input_shape": (32, 32, 3), **kwargs})


@pytest.fixture(scope="module")
def hub_preset(tmp_path_factory):
    """A small keras-hub ResNet saved as a preset directory, with an ImageNet-style image converter."""
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(3)
    preset = tmp_path_factory.mktemp("hub") / "tiny_resnet"
    keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
        use_pre_activation=False, image_shape=(None, None, 3)).save_to_preset(str(preset))
    keras_hub.layers.ResNetImageConverter(scale=[1 / 58.4, 1 / 57.1, 1 / 57.4],
                                          offset=[-2.12, -2.04, -1.80]).save_to_preset(str(preset))
    return preset


def test_a_keras_hub_preset_trains_saves_without_its_directory_and_exports(hub_preset, faces, tmp_path):
    import shutil

    preset = tmp_path / "copy"
    shutil.copytree(hub_preset, preset)
    keras.utils.set_random_seed(0)
    model = EmotionClassifier(input_shape=(32, 32, 1), backbone=f"keras_hub:{preset}", latent_dim=16)
    affine = model.encoder.get_layer("pixel_preprocess")
    assert affine.scale == pytest.approx([1 / 58.4, 1 / 57.1, 1 / 57.4]) and affine.offset[0] == pytest.approx(-2.12)
    model.compile(optimizer="adam")
    model.fit(faces.dataset(32), epochs=1, verbose=0, shuffle=False)
    model.save(tmp_path / "m.keras")
    shutil.rmtree(preset)  # the saved file carries the architecture: the preset is not needed to load it
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    images = faces.images[:8].astype("float32")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)
    reloaded.save(tmp_path / "again.keras")  # a loaded hub model saves again
    to_tflite(reloaded, tmp_path / "f.tflite", mode="float32")
    np.testing.assert_allclose(LiteRTModel(tmp_path / "f.tflite").predict(faces.images), predict_proba(model, faces),
                               atol=1e-4)
    assert set(group_heatmaps(reloaded, faces, "skin", max_per_group=2)) == {"light", "medium", "dark"}
    with pytest.raises(ValueError, match="keras_hub:"):
        to_tflite(reloaded, tmp_path / "qat.tflite", mode="int8", representative_data=faces, qat_epochs=1)


def test_a_hub_preset_without_converter_scales_pixels_to_unit_range(hub_preset, tmp_path):
    import shutil

    preset = tmp_path / "bare"
    shutil.copytree(hub_preset, preset)
    (preset / "image_converter.json").unlink()
    vae = FairVAE(input_shape=(32, 32, 3), protected={"skin": 3}, backbone=f"keras_hub:{preset}", latent_dim=16,
                  generator_width=8)
    assert vae.encoder.get_layer("pixel_preprocess").scale == pytest.approx(1 / 255)
    assert vae.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0).shape == (2, 7)


@pytest.mark.parametrize("backbone, weights, match", [("keras_hub:/no/such/preset", None, "config.json"),
                                                      ("keras_hub:PRESET", "imagenet", "own weights")])
def test_bad_hub_settings_raise(hub_preset, backbone, weights, match):
    with pytest.raises(ValueError, match=match):
        EmotionClassifier(input_shape=(32, 32, 3), backbone=backbone.replace("PRESET", str(hub_preset)),
                          backbone_weights=weights)

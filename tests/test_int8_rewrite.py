"""`rewrite_for_int8`: the rewritten graph computes the same function, with equal channel ranges, exact pixel
centring and a narrow logit range — and it quantizes with better top-1 agreement than the plain graph."""

import keras
import numpy as np
import pytest

from kerasfer.data import make_synthfaces
from kerasfer.export import read_sidecar, to_tflite
from kerasfer.export import int8_rewrite
from kerasfer.export.int8_rewrite import (LOGIT_FLOOR_MARGIN, MAX_CHANNEL_SCALE, _correct_rounding_bias,
                                         _rounding_error, rewrite_for_int8)
from kerasfer.export.representative import representative_images
from kerasfer.export.verify import LiteRTModel
from kerasfer.models import AUClassifier, EmotionClassifier, FairVAE
from kerasfer.models.predict import predict_proba


@pytest.fixture(scope="module")
def trained():
    """A small classifier trained briefly on 32×32 grey SynthFaces, its calibration images and a test set."""
    keras.utils.set_random_seed(1)
    train = make_synthfaces(1500, seed=31, image_size=32, channels=1)
    test = make_synthfaces(400, seed=32, image_size=32, channels=1)
    # the phone preset: the separable blocks every rewrite has a pattern for
    model = EmotionClassifier(input_shape=(32, 32, 1), size="phone", width=8, latent_dim=16, head_units=32)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    # 8 epochs, not 4: at 4 the model was unconfident enough that, with other seeds (a stand-in for other
    # CPUs' kernels, oneDNN off), int8 agreement fell to 0.89 and the stem's channels were near-equal
    # before the rewrite; at 8 seeds 1, 3, 7 and 11 pass, oneDNN on and off
    model.fit(train.dataset(64), epochs=8, verbose=0)
    return model, representative_images(train, 128), test


def test_rewrite_computes_the_same_probabilities(trained, monkeypatch):
    """Exact but for the bias correction, which moves each layer by its expected weight-rounding shift."""
    model, calibration, test = trained
    source = predict_proba(model, test)
    corrected = rewrite_for_int8(model, calibration).predict(test.images.astype("float32"), verbose=0)
    np.testing.assert_allclose(corrected, source, atol=0.05)
    monkeypatch.setattr(int8_rewrite, "_correct_rounding_bias", lambda part, inputs: None)
    exact = rewrite_for_int8(model, calibration).predict(test.images.astype("float32"), verbose=0)
    np.testing.assert_allclose(exact, source, atol=2e-3)
    assert model.encoder.get_layer("normalize").scale == pytest.approx(1 / 128)  # the source is untouched


def test_pixels_are_centred_exactly_and_the_stem_takes_the_scale(trained):
    model, calibration, _ = trained
    encoder = rewrite_for_int8(model, calibration).get_layer("encoder")
    normalize = encoder.get_layer("normalize")
    assert (normalize.scale, normalize.offset) == (1.0, -128.0)
    np.testing.assert_allclose(encoder.get_layer("stem_conv").get_weights()[0],
                               model.encoder.get_layer("stem_conv").get_weights()[0] / 128, rtol=1e-6)


def test_channel_ranges_are_equalized(trained, monkeypatch):
    model, calibration, _ = trained
    monkeypatch.setattr(int8_rewrite, "_correct_rounding_bias", lambda part, inputs: None)  # it nudges ranges
    encoder = rewrite_for_int8(model, calibration).get_layer("encoder")
    for name in ("stem_relu", "block2_dw_relu", "block3_pw_relu", "feature_map"):
        before = _channel_max(model.encoder, name, calibration)
        after = _channel_max(encoder, name, calibration)
        live = before > 1e-3 * before.max()
        lifted = before[live] * MAX_CHANNEL_SCALE >= before.max()  # channels the cap does not hold back
        np.testing.assert_allclose(after[live][lifted], after.max(), rtol=1e-3, err_msg=name)
        assert np.median(before[live] / before.max()) < 0.9, name  # there was something to equalize


def _channel_max(encoder, layer_name, images):
    values = keras.Model(encoder.input, encoder.get_layer(layer_name).output).predict(images, verbose=0)
    return values.reshape(-1, values.shape[-1]).max(axis=0)


def test_logits_are_shifted_into_a_narrow_floored_range(trained, monkeypatch):
    """A confident head (logits ×8 here) gets a fused-ReLU logit layer spanning well under its old range."""
    model, calibration, _ = trained
    monkeypatch.setattr(int8_rewrite, "_correct_rounding_bias", lambda part, inputs: None)
    confident = _clone(model)
    kernel, bias = confident.head.get_layer("emotion").get_weights()
    confident.head.get_layer("emotion").set_weights([8 * kernel, 8 * bias])
    head = rewrite_for_int8(confident, calibration).get_layer("emotion_head")
    assert isinstance(head.layers[-1], keras.layers.Softmax)
    z = confident.encoder.predict(calibration, verbose=0)
    logits = keras.Model(head.input, head.layers[-2].output).predict(z, verbose=0)
    hidden = keras.Model(confident.head.input, confident.head.get_layer("hidden").output).predict(z, verbose=0)
    original = hidden @ (8 * kernel) + 8 * bias
    assert logits.min() >= 0  # the floor is a ReLU fused into the layer
    assert np.ptp(logits) < 0.6 * np.ptp(original), (np.ptp(logits), np.ptp(original))
    assert logits.max(axis=1).min() >= LOGIT_FLOOR_MARGIN - 1e-3  # every image's top class sits above the floor


def test_an_unconfident_head_is_left_as_is(trained):
    """Logits that centring cannot narrow (the same top class, nearly the same logits, for every face): the
    softmax layer stays. Built, not trained, so the test does not depend on how confident training got."""
    model, calibration, _ = trained
    unconfident = _clone(model)
    layer = unconfident.head.get_layer("emotion")
    kernel, bias = layer.get_weights()
    layer.set_weights([1e-3 * kernel, np.linspace(0, 1, len(bias)).astype("float32")])
    head = rewrite_for_int8(unconfident, calibration).get_layer("emotion_head")
    assert head.layers[-1].name == "emotion" and isinstance(head.layers[-1], keras.layers.Dense)


def _clone(model):
    copy = EmotionClassifier(input_shape=model.image_shape, size=model.size, width=model.width,
                             latent_dim=model.latent_dim, head_units=model.head_units)
    copy.set_weights(model.get_weights())
    return copy


def test_int8_export_is_equalized_and_agrees_better(trained, tmp_path):
    model, calibration, test = trained
    keras_pred = predict_proba(model, test).argmax(1)
    agrees = {}
    for rewrite in (False, True):
        path = tmp_path / f"rewrite{rewrite}.tflite"
        meta = to_tflite(model, path, mode="int8", representative_data=calibration, int8_rewrite=rewrite)
        assert meta["int8_rewrite"] is rewrite and read_sidecar(path)["int8_rewrite"] is rewrite
        agrees[rewrite] = LiteRTModel(path).predict(test.images).argmax(1) == keras_pred
    # Paired comparison on the same faces: only the faces where exactly one export disagrees with Keras
    # tell the two apart, so allow two standard errors of that count (McNemar), not a fixed margin.
    discordant = int((agrees[True] != agrees[False]).sum())
    difference = int(agrees[True].sum()) - int(agrees[False].sum())
    assert difference >= -2 * np.sqrt(discordant), (agrees[True].mean(), agrees[False].mean(), discordant)
    assert agrees[True].mean() >= 0.9, agrees[True].mean()
    assert to_tflite(model, tmp_path / "f.tflite", mode="float32")["int8_rewrite"] is False


def test_the_standard_preset_is_rewritten_exactly_and_exports(tmp_path):
    """Conv → ReLU → max-pool → flatten has no equalization pattern; the stem still takes the pixel scale,
    and the rewritten export agrees with Keras at least as well as the plain one (paired, as above)."""
    keras.utils.set_random_seed(2)
    train = make_synthfaces(1500, seed=33, image_size=32, channels=1)
    test = make_synthfaces(400, seed=34, image_size=32, channels=1)
    model = EmotionClassifier(input_shape=(32, 32, 1), width=8, latent_dim=16, head_units=32)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(train.dataset(64), epochs=4, verbose=0)
    calibration = representative_images(train, 128)
    encoder = rewrite_for_int8(model, calibration).get_layer("encoder")  # raises if the function changed
    assert encoder.get_layer("normalize").offset == -128.0
    keras_pred = predict_proba(model, test).argmax(1)
    agrees = {}
    for rewrite in (False, True):
        path = tmp_path / f"standard{rewrite}.tflite"
        to_tflite(model, path, mode="int8", representative_data=calibration, int8_rewrite=rewrite)
        agrees[rewrite] = LiteRTModel(path).predict(test.images).argmax(1) == keras_pred
    discordant = int((agrees[True] != agrees[False]).sum())
    assert int(agrees[True].sum()) - int(agrees[False].sum()) >= -2 * np.sqrt(discordant), discordant
    assert agrees[True].mean() >= 0.85, agrees[True].mean()


def test_models_built_with_the_old_normalization_keep_it(trained):
    """x / 127.5 - 1 maps no integer pixel to 0, so only the channel and logit rewrites apply."""
    model, calibration, test = trained
    old = _clone(model)
    layer = old.encoder.get_layer("normalize")
    layer.scale = 1 / 127.5
    rewritten = rewrite_for_int8(old, calibration)
    assert rewritten.get_layer("encoder").get_layer("normalize").scale == pytest.approx(1 / 127.5)
    np.testing.assert_allclose(rewritten.predict(test.images[:64].astype("float32"), verbose=0),
                               predict_proba(old, test[:64]), atol=0.05)


def test_variational_encoder_and_sigmoid_head_are_rewritten_where_possible():
    data = make_synthfaces(64, seed=5, image_size=32)
    images = data.images.astype("float32")
    vae = FairVAE(input_shape=(32, 32, 3), protected={"skin": 3}, size="phone", width=8, latent_dim=16,
                  generator_width=8)  # the variational phone encoder: the one with equalization patterns
    np.testing.assert_allclose(rewrite_for_int8(vae, images).predict(images, verbose=0), predict_proba(vae, data),
                               atol=0.05)
    au = AUClassifier(input_shape=(32, 32, 3), num_aus=4, width=8, latent_dim=16)
    rewritten = rewrite_for_int8(au, images)
    assert rewritten.get_layer("au_head").layers[-1].get_config()["activation"] == "sigmoid"  # left as is
    np.testing.assert_allclose(rewritten.predict(images, verbose=0), predict_proba(au, data), atol=0.05)


def test_bias_correction_cancels_the_mean_shift_of_rounded_weights():
    """Emulate TFLite's symmetric per-channel int8 weights: the corrected model's mean output matches float.

    Pointwise conv → BatchNorm → pooling → dense is linear and every conv tap sees every position, so the
    expected shift ``Σ Δw · E[input]`` is exact: what remains is float32 round-off, whatever the CPU
    and the (seeded) weights.
    """
    rng = np.random.default_rng(0)
    inputs = keras.Input((6, 6, 3))
    conv = keras.layers.Conv2D(4, 1, use_bias=False, kernel_initializer=keras.initializers.GlorotUniform(seed=1),
                               name="conv")
    norm = keras.layers.BatchNormalization(name="bn")
    dense = keras.layers.Dense(5, kernel_initializer=keras.initializers.GlorotUniform(seed=2), name="dense")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(norm(conv(inputs)))))
    norm.set_weights([rng.uniform(0.5, 2, 4), rng.normal(0, 0.5, 4), rng.normal(0, 0.5, 4), rng.uniform(0.5, 2, 4)])
    x = (rng.random((64, 6, 6, 3)) * 3 + 1).astype("float32")  # positive mean inputs: rounding bias shows
    float_out = model.predict(x, verbose=0)
    reference = model.get_weights()

    def rounded_output():
        for layer in (conv, dense):  # round the kernels as TFLite will
            kernel, *rest = layer.get_weights()
            layer.set_weights([kernel + _rounding_error(kernel, tuple(range(kernel.ndim - 1))), *rest])
        return model.predict(x, verbose=0)

    uncorrected = rounded_output()
    model.set_weights(reference)
    _correct_rounding_bias(model, x)
    corrected = rounded_output()
    shift_before = np.abs((uncorrected - float_out).mean(axis=0)).max()
    shift_after = np.abs((corrected - float_out).mean(axis=0)).max()
    round_off = 64 * np.finfo(np.float32).eps * np.abs(float_out).max()
    assert shift_before > 100 * round_off, (shift_before, round_off)  # there was a shift to cancel
    assert shift_after < 0.01 * shift_before + round_off, (shift_before, shift_after)

"""LEACE erasure: the closed form removes every linear trace of a planted attribute, is idempotent
and edits a rank k−1 subspace only, lives in the model as a frozen Dense that survives save/load and
int8 export, and bad settings are named."""

import keras
import numpy as np
import pytest

from kerasfer.data import make_synthfaces
from kerasfer.fairness import leakage, probe_leakage
from kerasfer.models import EmotionClassifier, FairVAE
from kerasfer.models.erasure import fit_leace, refit_erasure
from kerasfer.training import train_model


def planted(n=6000, seed=0):
    """A 16-d latent whose first three coordinates (and a mix of others) carry a 3-group attribute."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 3, n)
    latents = rng.normal(size=(n, 16)) @ rng.normal(size=(16, 16))
    latents[:, :3] += 4.0 * np.eye(3)[groups]
    return latents, groups


def test_erasure_drives_a_held_out_linear_probe_to_chance():
    latents, groups = planted()
    fit, held_out = slice(0, 4000), slice(4000, None)
    kernel, bias = fit_leace(latents[fit], np.eye(3)[groups[fit]])
    erased = latents[held_out] @ kernel + bias
    before = probe_leakage(latents[held_out], groups[held_out], n_boot=50)
    after = probe_leakage(erased, groups[held_out], n_boot=50)
    assert before["balanced_accuracy"] > 0.8
    assert abs(after["balanced_accuracy"] - 1 / 3) < 0.05, after
    fitted = latents[fit] @ kernel + bias
    concept = np.eye(3)[groups[fit]] - np.eye(3)[groups[fit]].mean(0)
    cross = (fitted - fitted.mean(0)).T @ concept / len(fitted)
    assert np.abs(cross).max() < 1e-4  # on the faces it was fitted on, no cross-covariance is left


def test_erasure_is_idempotent_and_edits_only_a_rank_k_minus_1_subspace():
    latents, groups = planted()
    kernel, bias = fit_leace(latents, np.eye(3)[groups])
    once = latents @ kernel + bias
    again_kernel, again_bias = fit_leace(once, np.eye(3)[groups])
    np.testing.assert_allclose(once @ again_kernel + again_bias, once, atol=1e-3)
    assert round(np.trace(np.eye(16) - kernel)) == 2  # 3 one-hot columns, centred: a rank-2 edit
    singular = np.linalg.svd(latents - once, compute_uv=False)
    assert (singular > 1e-6 * singular[0]).sum() == 2  # the other 14 directions are untouched


@pytest.fixture(scope="module")
def erased_model():
    train = make_synthfaces(1200, seed=3, image_size=32, bias="demo")
    model, metrics = train_model("baseline", train, epochs=4, seed=0, verbose=0, size="phone", erasure="skin")
    return model, train


def test_a_trained_eraser_leaves_no_linear_skin_signal_in_the_training_latents(erased_model):
    model, train = erased_model
    assert model.eraser is not None and not model.eraser.trainable
    result = leakage(model, train, "skin", n_boot=50)
    assert result["balanced_accuracy"] < result["chance"] + 0.05, result
    assert leakage(model.pre_erasure_model(), train, "skin", n_boot=50)["balanced_accuracy"] > \
        result["balanced_accuracy"] + 0.1


def test_the_eraser_survives_save_load_and_int8_export(erased_model, tmp_path):
    from kerasfer.export import to_tflite
    from kerasfer.export.verify import LiteRTModel

    model, train = erased_model
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    assert reloaded.erasure == ("skin",)
    for a, b in zip(reloaded.eraser.get_weights(), model.eraser.get_weights()):
        np.testing.assert_array_equal(a, b)
    test = make_synthfaces(400, seed=4, image_size=32)
    to_tflite(model, tmp_path / "q.tflite", mode="int8", representative_data=train)
    keras_top1 = model.predict(test.images.astype("float32"), verbose=0).argmax(1)
    assert (LiteRTModel(tmp_path / "q.tflite").predict(test.images).argmax(1) == keras_top1).mean() > 0.9


def test_fairvae_erases_before_its_head(tiny_faces):
    vae = FairVAE(input_shape=(32, 32, 3), protected={"skin": 3, "gender": 2}, width=8, latent_dim=8,
                  generator_width=8, erasure=("skin", "gender"))
    summary = refit_erasure(vae, tiny_faces)
    assert summary["attributes"] == ["skin", "gender"] and summary["rank"] == 3
    assert vae.get_config()["erasure"] == ["skin", "gender"]


@pytest.mark.parametrize("build, match", [
    (lambda: FairVAE(input_shape=(32, 32, 3), protected={"skin": 3}, erasure=("hair",)), "hair"),
    (lambda: EmotionClassifier(input_shape=(32, 32, 3), erasure=[]), "`erasure`"),
])
def test_bad_erasure_settings_name_the_attribute(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_refit_without_an_eraser_and_data_without_the_attribute_are_refused(tiny_faces):
    with pytest.raises(ValueError, match="no eraser"):
        refit_erasure(EmotionClassifier(input_shape=(32, 32, 3), size="phone", width=8), tiny_faces)
    with pytest.raises(ValueError, match="erasure of \\['hair'\\]"):
        train_model("baseline", tiny_faces, epochs=1, verbose=0, erasure="hair")

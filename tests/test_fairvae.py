"""FairVAE: shared harness, every loss term tracked and falling, the adversary reduces leakage, bad config."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfer.data import make_synthfaces
from kerasfer.fairness import leakage
from kerasfer.models import FairVAE
from kerasfer.models.layers import GradientReversal
from model_harness import run_model_checks

TERMS = ("loss", "reconstruction", "kl", "alignment", "classification", "accuracy")
ADVERSARY_TERMS = ("adversary", "adversary_accuracy")  # logged when lambda_adv > 0


def tiny_vae(**kwargs):
    kwargs.setdefault("input_shape", (32, 32, 3))
    return FairVAE(width=8, latent_dim=16, generator_width=8, **kwargs)


def test_shared_model_checks(tiny_faces, tmp_path):
    model = tiny_vae()
    model.compile(optimizer="adam")
    history = run_model_checks(model, tiny_faces, tmp_path, expected_outputs=7, history_keys=TERMS)
    assert not model.adversaries and "adversary" not in history.history  # λ_adv = 0: none built


def test_au_head_option(tiny_faces, tmp_path):
    model = tiny_vae(head="au", protected={"skin": 3})
    model.compile(optimizer="adam")
    history = run_model_checks(model, tiny_faces, tmp_path, expected_outputs=13,
                               history_keys=("loss", "classification", "au_accuracy"))
    assert 0 <= history.history["au_accuracy"][0] <= 1


def test_every_loss_term_is_finite_and_training_lowers_them():
    keras.utils.set_random_seed(0)
    data = make_synthfaces(512, seed=3, image_size=32, bias="demo")
    # β large enough that KL is a real objective here (with the default 0.01 it trades against the class).
    model = tiny_vae(beta=0.5, beta_warmup_steps=0, adv_warmup_steps=0, lambda_adv=0.5)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(data.dataset(64), epochs=6, verbose=0).history
    for term in TERMS + ADVERSARY_TERMS:
        assert np.all(np.isfinite(history[term])), term
    for term in ("reconstruction", "kl", "classification", "alignment"):
        assert history[term][-1] < history[term][0], f"{term} did not fall: {history[term]}"


def test_warmup_counter_is_saved_and_ramps(tiny_faces, tmp_path):
    model = tiny_vae(adv_warmup_steps=10)
    model.compile(optimizer="adam")
    model.fit(tiny_faces.dataset(32), epochs=1, verbose=0)
    assert float(model.step_counter.numpy()) == 3.0
    model.save(tmp_path / "m.keras")
    assert float(keras.models.load_model(tmp_path / "m.keras").step_counter.numpy()) == 3.0


def test_gradient_reversal_flips_the_gradient_sign():
    x = tf.constant([[1.0, -2.0, 3.0]])
    layer = GradientReversal(0.5)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(3.0 * y)
    np.testing.assert_allclose(y.numpy(), x.numpy())
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), [[-1.5, -1.5, -1.5]])


def test_two_stage_freezes_the_encoder_in_stage_two(tiny_faces):
    model = tiny_vae(training="two_stage")
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="fit_two_stage"):
        model.fit(tiny_faces.dataset(32), epochs=1, verbose=0)
    encoder_before = [w.numpy().copy() for w in model.encoder.weights]
    head_before = [w.numpy().copy() for w in model.head.weights]
    model.fit_two_stage(tiny_faces.dataset(32), vae_epochs=1, classifier_epochs=0, verbose=0)
    encoder_mid = [w.numpy().copy() for w in model.encoder.weights]
    assert any(not np.allclose(a, b) for a, b in zip(encoder_before, encoder_mid))
    assert all(np.allclose(a, b.numpy()) for a, b in zip(head_before, model.head.weights)), "stage 1 trains no head"
    model.fit_two_stage(tiny_faces.dataset(32), vae_epochs=0, classifier_epochs=1, verbose=0)
    assert all(np.allclose(a, b.numpy()) for a, b in zip(encoder_mid, model.encoder.weights)), "stage 2 froze E"
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(head_before, model.head.weights))


@pytest.mark.slow  # the leakage numbers are measured by benchmarks/fairness_synthfaces.py; 32 s
def test_fairness_terms_lower_latent_leakage_on_biased_data():
    """With the adversary and alignment on (their default weights) a probe recovers skin tone from z
    far less well than with both off."""
    train = make_synthfaces(3000, seed=5, image_size=32, bias="demo")
    test = make_synthfaces(1050, seed=6, image_size=32)
    scores, held_out = {}, {}
    for lam in (0.0, 1.0):
        keras.utils.set_random_seed(0)
        model = tiny_vae(input_shape=(32, 32, 3), protected={"skin": 3}, lambda_adv=0.5 * lam,
                         lambda_align=1.0 * lam, adv_warmup_steps=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(train.dataset(64), epochs=6, verbose=0)
        probe = leakage(model, test, "skin", n_boot=0)
        scores[lam], held_out[lam] = probe["balanced_accuracy"], probe["n_test"]
    # Two probes scored on ~315 held-out faces each: the drop must exceed two standard errors of the
    # difference, not a margin fitted to one CPU's run.
    se = np.sqrt(sum(scores[lam] * (1 - scores[lam]) / held_out[lam] for lam in scores))
    assert scores[1.0] < scores[0.0] - 2 * se, (scores, se)
    assert scores[1.0] < scores[0.0] - 0.05, scores


@pytest.mark.parametrize(
    "kwargs, match",
    [({"protected": {"height": 1}}, "height"), ({"protected": {"skin": "3"}}, "skin"),
     ({"alignment": "pairwise"}, "alignment"), ({"lambda_adv": -1.0}, "lambda_adv"), ({"beta": -0.1}, "beta"),
     ({"head": "valence"}, "head"), ({"training": "alternating"}, "training"),
     ({"adversary_input": "logits"}, "adversary_input"), ({"reconstruction_scale": 3}, "reconstruction_scale"),
     ({"adversary_loss": "wasserstein"}, "adversary_loss"),
     ({"reconstruction_scale": 4, "input_shape": (48, 48, 3)}, "reconstruction_scale")],
)
def test_bad_configuration_raises_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_vae(**kwargs)


def test_coarse_reconstruction_and_mean_adversary_train(tiny_faces):
    """reconstruction_scale=2 makes G draw a half-size face (cheaper step); the adversary may read z_mean."""
    model = tiny_vae(reconstruction_scale=2, adversary_input="mean")
    assert model.generator.output_shape == (None, 16, 16, 3)
    model.compile(optimizer="adam")
    history = model.fit(tiny_faces.dataset(32), epochs=1, verbose=0)
    assert np.isfinite(history.history["reconstruction"][0])
    assert FairVAE.from_config(model.get_config()).generator.output_shape == (None, 16, 16, 3)


def test_confusion_adversary_trains_each_player_on_its_own_objective(tiny_faces):
    """adversary_loss="confusion": D learns to predict the group (its cross-entropy on a stopped z) while
    the encoder is pushed towards D's uniform prediction; one step moves both, and the setting is saved."""
    model = tiny_vae(protected={"skin": 3}, adversary_loss="confusion", lambda_adv=0.5, adv_warmup_steps=0)
    model.compile(optimizer="adam")
    adversary = [w.numpy().copy() for w in model.adversaries["skin"].trainable_weights]
    encoder = [w.numpy().copy() for w in model.encoder.trainable_weights]
    batch = next(iter(tiny_faces.dataset(32)))
    terms, _ = model._terms(batch, training=False)
    confusion = keras.ops.convert_to_numpy(terms["confusion"][0][0])
    np.testing.assert_array_less(np.log(3) - 1e-4, confusion)  # CE against uniform >= log(groups)
    model.fit(tiny_faces.dataset(32), epochs=1, verbose=0)
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(adversary, model.adversaries["skin"].trainable_weights))
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(encoder, model.encoder.trainable_weights))
    assert FairVAE.from_config(model.get_config()).adversary_loss == "confusion"


def test_data_with_more_groups_than_protected_stops_training_naming_the_attribute(tiny_faces):
    model = tiny_vae(protected={"skin": 2})  # SynthFaces has 3 skin groups
    model.compile(optimizer="adam")
    with pytest.raises(tf.errors.InvalidArgumentError, match="skin"):
        model.fit(tiny_faces.dataset(32), epochs=1, verbose=0)


def test_group_counts_of_other_datasets_are_accepted(tiny_faces):
    """RAF-DB-style data: 5 age groups where SynthFaces has 3."""
    from kerasfer import FaceData

    age = np.arange(len(tiny_faces)) % 5
    data = FaceData(images=tiny_faces.images, labels=tiny_faces.labels, attributes={"age": age},
                    group_names={"age": ("0-3", "4-19", "20-39", "40-69", "70+")})
    model = tiny_vae(protected={"age": 5}, lambda_adv=0.5)
    assert model.label_noise == "age" and model.transition.num_groups == 5  # "auto": the only attribute
    model.compile(optimizer="adam")
    history = model.fit(data.dataset(32), epochs=1, verbose=0).history
    assert np.isfinite(history["adversary"][0]) and np.isfinite(history["alignment"][0])


def test_batch_without_a_protected_attribute_is_an_error(tiny_faces):
    from kerasfer import FaceData

    data = FaceData(images=tiny_faces.images, labels=tiny_faces.labels, attributes={"skin": tiny_faces.attributes["skin"]})
    model = tiny_vae(protected={"gender": 2})
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="gender"):
        model.fit(data.dataset(32), epochs=1, verbose=0)

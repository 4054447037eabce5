"""Action Units: AUClassifier, per-AU thresholds, the AU annotation-bias knob and the AU bias study."""

import keras
import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from kerasfer.constants import ACTION_UNITS
from kerasfer.data import AU_SKIN_BIAS, BiasSpec, make_synthfaces
from kerasfer.data.specs import load_data
from kerasfer.models import AUClassifier, FairVAE, apply_thresholds, best_thresholds, load_model, tune_thresholds
from kerasfer.models.thresholds import rescale_to_threshold
from kerasfer.study import au_audit
from model_harness import run_model_checks


def tiny_au(**kwargs):
    return AUClassifier(input_shape=(32, 32, 3), width=8, latent_dim=16, **kwargs)


# ------------------------------------------------------------------------------------ model
def test_shared_model_checks(tiny_faces, tmp_path):
    model = tiny_au()
    model.compile(optimizer="adam")
    history = run_model_checks(model, tiny_faces, tmp_path, expected_outputs=len(ACTION_UNITS),
                               history_keys=("loss", "au_accuracy"))
    assert 0 <= history.history["au_accuracy"][0] <= 1


def test_unknown_aus_are_masked_out_of_the_loss(tiny_faces):
    model = tiny_au()
    model.compile(optimizer="adam")
    aus = tiny_faces.aus.astype(np.float32)
    images = tiny_faces.images[:16].astype(np.float32)
    known = {"image": images, "aus": aus[:16]}
    # Half of the entries unknown: the loss is the mean over the known ones only.
    masked = aus[:16].copy()
    masked[:, ::2] = -1
    probs = np.asarray(model(images))
    expected = keras.ops.binary_crossentropy(aus[:16, 1::2], probs[:, 1::2])
    got = model.evaluate(_one_batch({"image": images, "aus": masked}), verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], np.mean(np.asarray(expected).mean(axis=1)), rtol=1e-4)
    assert model.evaluate(_one_batch(known), verbose=0, return_dict=True)["loss"] > 0


def _one_batch(batch):
    import tensorflow as tf

    return tf.data.Dataset.from_tensors(batch)


def test_missing_au_labels_and_bad_arguments_are_clear_errors(tiny_faces):
    model = tiny_au()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="no 'aus'"):
        model.fit(_one_batch({"image": tiny_faces.images[:4].astype("float32")}), verbose=0)
    with pytest.raises(ValueError, match="num_aus"):
        tiny_au(num_aus=0)
    no_aus = tiny_faces[:8]
    no_aus.aus = None
    with pytest.raises(ValueError, match="Action Unit labels"):
        tune_thresholds(model, no_aus)


# -------------------------------------------------------------------------------- thresholds
def test_best_thresholds_on_fixed_arrays():
    aus = np.array([[1, 0], [1, 0], [0, 1], [0, -1], [1, 0], [0, 0]])
    probs = np.array([[0.30, 0.9], [0.40, 0.2], [0.20, 0.8], [0.10, 0.99], [0.35, 0.3], [0.25, 0.1]])
    thresholds = best_thresholds(aus, probs)
    # AU 0: positives score 0.30-0.40, negatives at most 0.25 -> the lowest positive is the best cut.
    # AU 1: the one positive scores 0.8; the unknown row (0.99) is ignored; 0.9 is a false positive
    # either way, so the cut is 0.8 (F1 2/3), not 0.99.
    np.testing.assert_allclose(thresholds, [0.30, 0.8], atol=1e-6)
    predicted = apply_thresholds(probs, thresholds)
    assert f1_score(aus[:, 0], predicted[:, 0]) == 1.0
    assert f1_score(aus[:, 0], apply_thresholds(probs, 0.5)[:, 0]) == 0.0  # 0.5 misses every positive
    # An AU with no positive keeps 0.5.
    assert best_thresholds(np.zeros((3, 1)), np.full((3, 1), 0.7))[0] == 0.5
    with pytest.raises(ValueError, match="shape"):
        best_thresholds(aus, probs[:, :1])


def test_rescaling_keeps_auc_and_moves_the_threshold_to_one_half():
    rng = np.random.default_rng(0)
    probs = rng.random((200, 3))
    truth = (probs + rng.normal(0, 0.3, probs.shape) > 0.6).astype(int)
    thresholds = np.array([0.2, 0.5, 0.8])
    rescaled = rescale_to_threshold(probs, thresholds)
    np.testing.assert_array_equal(rescaled >= 0.5, probs >= thresholds)
    for a in range(3):
        assert roc_auc_score(truth[:, a], rescaled[:, a]) == pytest.approx(roc_auc_score(truth[:, a], probs[:, a]))
    assert rescaled.min() >= 0 and rescaled.max() <= 1


def test_tuning_thresholds_improves_f1_and_survives_a_keras_round_trip(tmp_path):
    """A constructed case: an AU model trained where annotators missed most AUs under-reports
    them (probabilities well below 0.5); tuning the cut on validation data recovers F1."""
    keras.utils.set_random_seed(0)
    spec = BiasSpec(au_noise=(("skin", "light", 0.7, None), ("skin", "medium", 0.7, None),
                              ("skin", "dark", 0.7, None)))
    train = make_synthfaces(1024, seed=30, image_size=32, bias=spec)
    val = make_synthfaces(256, seed=31, image_size=32)
    test = make_synthfaces(256, seed=32, image_size=32)
    model = tiny_au()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(train.dataset(64, seed=0), epochs=4, verbose=0)
    before = f1_score(test.aus, model.predict_aus(test), average="macro", zero_division=0)
    thresholds = model.tune_thresholds(val)
    after = f1_score(test.aus, model.predict_aus(test), average="macro", zero_division=0)
    assert after > before + 0.05, f"tuned macro-F1 {after:.3f} vs {before:.3f} at 0.5"
    assert (thresholds < 0.5).mean() > 0.5  # the model under-reports: most cuts move down
    np.testing.assert_allclose(model.au_thresholds.numpy(), thresholds)
    model.save(tmp_path / "au.keras")
    np.testing.assert_allclose(load_model(tmp_path / "au.keras").au_thresholds.numpy(), thresholds)


# ---------------------------------------------------------------------------------- AU bias knob
def test_au_noise_hides_present_aus_of_one_group_only():
    clean = make_synthfaces(3000, seed=5, image_size=16)
    spec = BiasSpec(au_noise=(("skin", "dark", 0.5, ("AU12", "AU06")),))
    noisy = make_synthfaces(3000, seed=5, image_size=16, bias=spec)
    np.testing.assert_array_equal(noisy.images, clean.images)  # the faces keep every AU
    np.testing.assert_array_equal(noisy.labels, clean.labels)
    assert (noisy.aus <= clean.aus).all()  # only misses, never invented AUs
    dark = clean.attributes["skin"] == 2
    changed = noisy.aus != clean.aus
    assert not changed[~dark].any()
    columns = [ACTION_UNITS.index("AU12"), ACTION_UNITS.index("AU06")]
    assert not np.delete(changed, columns, axis=1).any()
    missed = changed[dark][:, columns].sum() / clean.aus[dark][:, columns].sum()
    assert 0.4 < missed < 0.6
    with pytest.raises(ValueError, match="au_noise"):
        BiasSpec(au_noise=(("skin", "dark", 0.5, ("AU99",)),))
    with pytest.raises(ValueError, match="rate"):
        BiasSpec(au_noise=(("skin", "dark", 2.0, None),))


def test_skin_bias_spec_for_the_cli():
    train = load_data("synthfaces:skin-bias", split="train", n=600, image_size=16)
    test = load_data("synthfaces:skin-bias", split="test", n=600, image_size=16)
    assert (train.attributes["skin"] == 2).mean() < 0.25  # dark skin rare in training
    assert abs((test.attributes["skin"] == 2).mean() - 1 / 3) < 0.01  # clean, balanced test split
    dark, light = train.attributes["skin"] == 2, train.attributes["skin"] == 0
    assert train.aus[dark].mean() < 0.7 * train.aus[light].mean()  # annotators missed dark-skin AUs
    assert AU_SKIN_BIAS.au_noise
    with pytest.raises(ValueError, match="skin-bias"):
        load_data("synthfaces:nope")


def test_fairvae_au_head_exports_and_keeps_tuned_thresholds(tiny_faces, tmp_path):
    model = FairVAE(input_shape=(32, 32, 3), protected={"skin": 3}, head="au", width=8, latent_dim=8,
                    generator_width=8)
    functional = model.classifier_model()
    assert type(functional).__name__ == "Functional" and functional.output_shape == (None, len(ACTION_UNITS))
    np.testing.assert_allclose(model.au_thresholds.numpy(), 0.5)
    thresholds = tune_thresholds(model, tiny_faces)
    assert thresholds.shape == (len(ACTION_UNITS),) and ((thresholds >= 0) & (thresholds <= 1)).all()
    np.testing.assert_allclose(model.au_thresholds.numpy(), thresholds)
    model.save(tmp_path / "vae.keras")
    np.testing.assert_allclose(load_model(tmp_path / "vae.keras").au_thresholds.numpy(), thresholds)
    assert not hasattr(FairVAE(input_shape=(32, 32, 3), width=8, latent_dim=8), "au_thresholds")


# ------------------------------------------------------------------------------------- study
def test_per_au_group_metrics_on_fixed_arrays():
    rng = np.random.default_rng(3)
    n = 120
    aus = rng.integers(0, 2, size=(n, 3))
    aus[:5, 2] = -1  # unknown labels are left out of that AU
    probs = np.clip(0.55 * aus + rng.random((n, 3)) * 0.6, 0, 1).astype(np.float32)
    groups = np.repeat([0, 1], n // 2)
    thresholds = np.array([0.4, 0.5, 0.7], np.float32)
    result = au_audit(aus, probs, thresholds, groups, attribute="skin", group_names=("light", "dark"),
                      au_names=("AU01", "AU02", "AU04"), n_boot=50, min_count=10)
    table = result.per_class.set_index(["group", "class"])
    f1 = {}
    for g, group in enumerate(("light", "dark")):
        for a, au in enumerate(("AU01", "AU02", "AU04")):
            keep = (groups == g) & (aus[:, a] >= 0)
            expected = f1_score(aus[keep, a], probs[keep, a] >= thresholds[a])
            f1[group, au] = expected
            assert table.loc[(group, au), "f1"] == pytest.approx(expected)
            assert table.loc[(group, au), "auc"] == pytest.approx(roc_auc_score(aus[keep, a], probs[keep, a]))
            assert table.loc[(group, au), "f1_low"] <= expected <= table.loc[(group, au), "f1_high"]
    gaps = result.gaps.set_index("metric")
    assert gaps.loc["f1_difference (AU04)", "value"] == pytest.approx(abs(f1["light", "AU04"] - f1["dark", "AU04"]))


@pytest.mark.slow  # the whole study through the CLI; 22 s (notebook 03 runs the study in the fast suite)
def test_study_cli_writes_every_table_and_figure(tmp_path, capsys):
    import json

    from kerasfer.cli.main import main

    out = tmp_path / "study"
    code = main(["study", "au", "--data", "synthfaces:skin-bias", "--out", str(out), "--n-train", "240",
                 "--n-test", "150", "--image-size", "32", "--epochs", "1", "--width", "8", "--latent-dim", "8",
                 "--n-boot", "10", "--heatmap-aus", "AU12,AU04"])
    assert code == 0
    assert "F1 gap between groups" in capsys.readouterr().out
    names = ["report.html", "study.json", "metrics.json", "summary.csv", "per_au.csv", "gaps.csv",
             "baseline.keras", "fairvae.keras"]
    names += [f"figures/{f}.png" for f in ("f1_by_group", "heatmaps_baseline", "heatmaps_fairvae",
                                             "differences_baseline", "differences_fairvae")]
    for name in names:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    study = json.loads((out / "study.json").read_text())
    assert json.loads((out / "metrics.json").read_text())["summary"] == study["summary"]
    assert {r["model"] for r in study["summary"]} == {"baseline", "fairvae"}
    assert len(study["per_au"]) == 2 * len(ACTION_UNITS) * 3  # model × AU × skin group
    assert len(study["gaps"]) == 2 * (len(ACTION_UNITS) + 1)  # per AU and of the mean
    assert study["settings"]["heatmap_aus"] == ["AU12", "AU04"]
    html = (out / "report.html").read_text()
    for section in ("findings", "summary", "per-au", "heatmaps", "thresholds", "method"):
        assert f'id="{section}"' in html, section
    assert html.count("data:image/png;base64,") == 5
    assert "http://" not in html and "https://" not in html  # self-contained
    reloaded = load_model(out / "fairvae.keras")
    np.testing.assert_allclose(reloaded.au_thresholds.numpy(), list(study["thresholds"]["fairvae"].values()),
                               rtol=1e-6)
    assert main(["study", "au", "--out", str(out), "--data", "synthfaces", "--n-train", "64", "--n-test", "32",
                 "--epochs", "1", "--attribute", "race"]) == 2
    assert "Unknown attribute 'race'" in capsys.readouterr().err


def test_au_classifier_exports_to_tflite(tiny_faces, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from kerasfer.export import to_tflite

    model = tiny_au()
    model.au_thresholds.assign(np.full(len(ACTION_UNITS), 0.25, "float32"))
    sidecar = to_tflite(model, tmp_path / "au.tflite", labels=ACTION_UNITS)
    assert sidecar["labels"] == list(ACTION_UNITS)
    assert sidecar["output"]["thresholds"] == [0.25] * len(ACTION_UNITS)  # the phone cuts where Keras does
    interpreter = Interpreter(str(tmp_path / "au.tflite"))
    interpreter.allocate_tensors()
    images = tiny_faces.images[:1].astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, np.asarray(model(images)), atol=1e-5)


def test_study_refuses_bad_input_before_training(tiny_faces):
    from kerasfer.study import au_bias

    no_aus = tiny_faces[:10]
    no_aus.aus = None
    with pytest.raises(ValueError, match="`test` has no Action Unit labels"):
        au_bias(tiny_faces, no_aus)
    with pytest.raises(ValueError, match="Unknown attribute 'race'"):
        au_bias(tiny_faces, tiny_faces, attribute="race")
    with pytest.raises(ValueError, match="epochs"):
        au_bias(tiny_faces, tiny_faces, epochs=0)
    with pytest.raises(ValueError, match="heatmap_aus"):
        au_bias(tiny_faces, tiny_faces, heatmap_aus=["AU99"])
    with pytest.raises(ValueError, match="val_fraction"):
        au_bias(tiny_faces, tiny_faces, val_fraction=1.5)


def test_audit_scores_an_au_model_at_its_tuned_thresholds(tiny_faces):
    """`audit(model, data)` cuts each AU at the model's `au_thresholds`, not at 0.5."""
    from kerasfer.fairness import audit, audit_predictions
    from kerasfer.models.predict import predict_proba

    model = tiny_au()
    model.au_thresholds.assign(np.linspace(0.2, 0.8, len(ACTION_UNITS)).astype("float32"))
    settings = dict(n_boot=0, n_perm=0, intersections=None, min_count=1)
    result = audit(model, tiny_faces, ["skin"], latent=False, heatmaps=False, **settings)
    probs = predict_proba(model, tiny_faces)
    tuned = audit_predictions(tiny_faces.aus, rescale_to_threshold(probs, model.au_thresholds.numpy()),
                              {"skin": tiny_faces.attributes["skin"]}, label_names=ACTION_UNITS, **settings)
    np.testing.assert_allclose(result.to_frame("groups").filter(like="f1").to_numpy(dtype=float),
                               tuned.to_frame("groups").filter(like="f1").to_numpy(dtype=float))

"""The audit's numbers: hand-computed values, agreement with scikit-learn/fairlearn, CIs and p-values."""

import warnings

import keras
import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference
from sklearn.metrics import accuracy_score, f1_score, recall_score, roc_auc_score

from kerasfer.fairness import AuditResult, audit, audit_predictions, one_vs_rest_gaps
from kerasfer.fairness.bootstrap import permutation_p_value
from kerasfer.models import EmotionClassifier


def _gap(result, attribute, metric, column="value"):
    frame = result.to_frame("gaps")
    return frame.loc[(attribute, metric), column]


def _group(result, attribute, group, column):
    return result.to_frame("groups").loc[(attribute, group), column]


# ------------------------------------------------------------------------------ hand-computed
def test_metrics_equal_hand_computed_values():
    y_true = [0, 0, 1, 1, 2, 2, 0, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0, 0, 1, 2, 2]
    groups = {"g": ["a"] * 6 + ["b"] * 4}
    r = audit_predictions(y_true, y_pred, groups, n_boot=0, n_perm=0, min_count=1, intersections=None)
    assert _group(r, "g", "a", "count") == 6 and _group(r, "g", "b", "count") == 4
    assert _group(r, "g", "a", "accuracy") == pytest.approx(4 / 6)
    assert _group(r, "g", "a", "macro_f1") == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert _group(r, "g", "b", "accuracy") == 1.0
    per_class = r.to_frame("per_class")
    assert per_class.loc[("g", "a"), "tpr"].tolist() == pytest.approx([0.5, 1.0, 0.5])
    assert per_class.loc[("g", "a"), "fpr"].tolist() == pytest.approx([0.25, 0.25, 0.0])
    assert per_class.loc[("g", "a"), "selection_rate"].tolist() == pytest.approx([2 / 6, 3 / 6, 1 / 6])
    assert _gap(r, "g", "equalized_odds_difference") == pytest.approx(0.5)
    assert _gap(r, "g", "demographic_parity_difference") == pytest.approx(1 / 3)
    assert _gap(r, "g", "accuracy_difference") == pytest.approx(1 / 3)
    assert _gap(r, "g", "fairness_ratio") == pytest.approx(2 / 3)
    assert _gap(r, "g", "worst_group_accuracy") == pytest.approx(2 / 3)
    assert r.confusion["g"]["a"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_one_vs_rest_gap_is_the_max_over_classes_where_class_2_carries_it():
    # Both groups are perfect on classes 0 and 1; group b misses half of class 2 (called 0).
    y_true = np.array([0, 0, 1, 1, 2, 2] * 2)
    y_pred = np.array([0, 0, 1, 1, 2, 2] + [0, 0, 1, 1, 2, 0])
    groups = np.array([0] * 6 + [1] * 6)
    r = audit_predictions(y_true, y_pred, {"g": groups}, n_boot=0, n_perm=0, min_count=1, intersections=None)
    per_class = one_vs_rest_gaps(y_true, y_pred, groups, 3)  # fairlearn, one class at a time
    assert per_class["equalized_odds_difference"].idxmax() == 2
    assert _gap(r, "g", "equalized_odds_difference") == pytest.approx(0.5)
    dpd = per_class["demographic_parity_difference"].max()
    assert _gap(r, "g", "demographic_parity_difference") == pytest.approx(dpd)
    assert _gap(r, "g", "demographic_parity_difference") == pytest.approx(1 / 6)
    # fairlearn's call on the raw multi-class labels scores class 1 only and sees no gap at all
    assert demographic_parity_difference(y_true, y_pred, sensitive_features=groups) == 0.0


def test_metrics_agree_with_sklearn_and_fairlearn_on_random_predictions():
    rng = np.random.default_rng(0)
    n = 600
    y_true = rng.integers(0, 7, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, 7, n))
    groups = rng.integers(0, 3, n)
    r = audit_predictions(y_true, y_pred, {"skin": groups}, group_names={"skin": ("light", "medium", "dark")},
                          n_boot=0, n_perm=0, intersections=None)
    for g, name in enumerate(("light", "medium", "dark")):
        m = groups == g
        assert _group(r, "skin", name, "accuracy") == pytest.approx(accuracy_score(y_true[m], y_pred[m]))
        assert _group(r, "skin", name, "macro_f1") == pytest.approx(f1_score(y_true[m], y_pred[m], average="macro"))
        recall = recall_score(y_true[m], y_pred[m], average=None, labels=range(7))
        tpr = r.to_frame("per_class").sort_index().loc[("skin", name), "tpr"]
        assert tpr.tolist() == pytest.approx(recall.tolist())
    fair = one_vs_rest_gaps(y_true, y_pred, groups, 7).max()
    assert _gap(r, "skin", "equalized_odds_difference") == pytest.approx(fair["equalized_odds_difference"])
    assert _gap(r, "skin", "demographic_parity_difference") == pytest.approx(fair["demographic_parity_difference"])


# --------------------------------------------------------------------------- CIs and p-values
def _noisy(n, seed, accuracy=(0.8, 0.8)):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 2, n)
    y_true = rng.integers(0, 7, n)
    correct = rng.random(n) < np.asarray(accuracy)[groups]
    y_pred = np.where(correct, y_true, (y_true + rng.integers(1, 7, n)) % 7)
    return y_true, y_pred, groups


def test_confidence_intervals_contain_the_estimate_and_shrink_as_data_grows():
    widths = []
    for n in (300, 3000):
        y_true, y_pred, groups = _noisy(n, seed=1)
        r = audit_predictions(y_true, y_pred, {"g": groups}, n_boot=200, n_perm=0, intersections=None)
        row = r.to_frame("groups").loc[("g", "0")]
        assert row["accuracy_low"] <= row["accuracy"] <= row["accuracy_high"]
        widths.append(row["accuracy_high"] - row["accuracy_low"])
        assert r.overall["accuracy"]["ci_low"] < r.overall["accuracy"]["value"] < r.overall["accuracy"]["ci_high"]
    # the width of a proportion's CI goes as 1/sqrt(n): ten times the data, about a third the width
    assert widths[1] < 0.5 * widths[0]
    assert widths[1] == pytest.approx(widths[0] / np.sqrt(10), rel=0.35)


def test_bootstrap_intervals_agree_with_fairlearn_metricframe():
    from fairlearn.metrics import MetricFrame

    y_true, y_pred, groups = _noisy(800, seed=7, accuracy=(0.85, 0.7))
    frame = MetricFrame(metrics=accuracy_score, y_true=y_true, y_pred=y_pred, sensitive_features=groups,
                        n_boot=40, ci_quantiles=[0.025, 0.975], random_state=0)  # MetricFrame: ~0.1 s a resample
    r = audit_predictions(y_true, y_pred, {"g": groups}, n_boot=400, n_perm=0, intersections=None)
    ours = r.to_frame("groups").loc["g"]
    for g in (0, 1):
        assert ours.loc[str(g), "accuracy"] == pytest.approx(frame.by_group[g])
        # different resamples, same method: the interval ends agree within Monte Carlo noise (~3 sd)
        assert ours.loc[str(g), "accuracy_low"] == pytest.approx(frame.by_group_ci[0][g], abs=0.035)
        assert ours.loc[str(g), "accuracy_high"] == pytest.approx(frame.by_group_ci[1][g], abs=0.035)


def test_p_value_large_without_a_gap_and_small_with_a_planted_gap():
    y_true, y_pred, groups = _noisy(1200, seed=2, accuracy=(0.8, 0.8))
    fair = audit_predictions(y_true, y_pred, {"g": groups}, n_boot=0, n_perm=200, intersections=None)
    assert _gap(fair, "g", "accuracy_difference", "p_value") > 0.1
    y_true, y_pred, groups = _noisy(1200, seed=2, accuracy=(0.9, 0.7))
    unfair = audit_predictions(y_true, y_pred, {"g": groups}, n_boot=0, n_perm=200, intersections=None)
    for metric in ("accuracy_difference", "equalized_odds_difference", "fairness_ratio"):
        assert _gap(unfair, "g", metric, "p_value") < 0.01, metric


def test_identical_groups_have_zero_gaps_and_p_value_one():
    y_true, y_pred, _ = _noisy(200, seed=3)
    y_true, y_pred = np.tile(y_true, 2), np.tile(y_pred, 2)
    groups = np.repeat([0, 1], 200)
    r = audit_predictions(y_true, y_pred, {"g": groups}, n_boot=50, n_perm=100, intersections=None)
    assert _gap(r, "g", "equalized_odds_difference") == 0.0
    assert _gap(r, "g", "equalized_odds_difference", "p_value") == 1.0
    assert permutation_p_value(0.3, np.array([0.1, 0.5, np.nan])) == pytest.approx(2 / 3)


# ------------------------------------------------------------------------ groups and intersections
def test_unknown_groups_left_out_and_counted_small_groups_warn_intersections_named():
    y_true, y_pred, _ = _noisy(400, seed=4)
    rng = np.random.default_rng(4)
    gender = rng.integers(0, 2, 400)
    gender[:25] = -1
    skin = np.r_[np.full(10, 2), rng.integers(0, 2, 390)]  # "dark" only 10 samples
    with pytest.warns(UserWarning, match="skin=dark: only 10 samples"):
        r = audit_predictions(y_true, y_pred, {"gender": gender, "skin": skin},
                              group_names={"gender": ("male", "female"), "skin": ("light", "medium", "dark")},
                              n_boot=20, n_perm=20)
    assert r.unknown == {"gender": 25, "skin": 0, "gender × skin": 25}
    assert r.to_frame("groups").loc["gender", "count"].sum() == 375
    assert bool(_group(r, "skin", "dark", "small")) and _gap(r, "skin", "equalized_odds_difference") >= 0
    assert _gap(r, "skin", "accuracy_difference", "groups_compared") == 2  # dark left out of the gaps
    assert "female × light" in r.to_frame("groups").loc["gender × skin"].index
    assert r.settings["intersections"] == ["gender × skin"]
    assert any("dark" in note for note in r.notes)


def test_one_usable_group_gives_nan_gaps_not_a_crash():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = audit_predictions([0, 1, 1, 0], [0, 1, 0, 0], {"g": [0, 0, 0, 1]}, n_boot=10, n_perm=10, min_count=2)
    assert np.isnan(_gap(r, "g", "equalized_odds_difference"))
    assert any("fewer than two groups" in note for note in r.notes)


def test_attribute_without_known_groups_is_left_out_with_a_note():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = audit_predictions([0, 1, 2, 0], [0, 1, 1, 0], {"a": [-1] * 4, "b": [0, 1, 0, 1]}, n_boot=10, n_perm=10,
                              min_count=1)
    assert r.settings["attributes"] == ["b"] and r.unknown["a"] == 4
    assert any(note.startswith("a: no labelled sample") for note in r.notes)
    with pytest.raises(ValueError, match="no attribute"):
        audit_predictions([0, 1], [0, 1], {"a": [-1, -1]})


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="y_pred"):
        audit_predictions([0, 1], [0], {"g": [0, 1]})
    with pytest.raises(ValueError, match=r"groups\['g'\]"):
        audit_predictions([0, 1], [0, 1], {"g": [0]})
    with pytest.raises(ValueError, match="n_boot"):
        audit_predictions([0, 1], [0, 1], {"g": [0, 1]}, n_boot=-1)
    with pytest.raises(ValueError, match="intersections"):
        audit_predictions([0, 1], [0, 1], {"g": [0, 1]}, intersections=[("g", "h")])


# ----------------------------------------------------------------------------------- AU models
def test_au_metrics_per_group_match_sklearn_and_find_a_planted_gap():
    rng = np.random.default_rng(5)
    n = 800
    aus = rng.integers(0, 2, (n, 3))
    groups = rng.integers(0, 2, n)
    noise = np.where(groups[:, None] == 1, 0.9, 0.3)  # AU scores are much noisier for group 1
    probs = np.clip(0.5 * aus + 0.25 + noise * (rng.random((n, 3)) - 0.5), 0, 1)
    aus[:20, 0] = -1
    r = audit_predictions(aus, probs, {"g": groups}, label_names=("AU01", "AU06", "AU12"), n_boot=100, n_perm=100,
                          intersections=None)
    assert r.task == "au"
    per_au = r.to_frame("per_class")
    for g in (0, 1):
        for a, au in enumerate(("AU01", "AU06", "AU12")):
            m = (groups == g) & (aus[:, a] >= 0)
            assert per_au.loc[("g", str(g), au), "auc"] == pytest.approx(roc_auc_score(aus[m, a], probs[m, a]))
            assert per_au.loc[("g", str(g), au), "f1"] == pytest.approx(f1_score(aus[m, a], probs[m, a] >= 0.5))
            assert per_au.loc[("g", str(g), au), "auc_low"] <= per_au.loc[("g", str(g), au), "auc_high"]
    assert _gap(r, "g", "mean_auc_difference") > 0.05  # measured 0.094
    assert _gap(r, "g", "mean_auc_difference", "p_value") < 0.05
    assert _gap(r, "g", "auc_difference (AU12)", "p_value") < 0.05


# ------------------------------------------------------------------------------ through a model
def test_audit_of_a_kerasfer_model_has_every_part(tiny_faces, tmp_path):
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = audit(model, tiny_faces, ["gender", "skin"], n_boot=50, min_count=10, heatmaps_per_group=4)
    assert isinstance(r, AuditResult) and r.task == "emotion"
    assert set(r.groups["attribute"]) == {"gender", "skin", "gender × skin"}
    assert set(r.leakage["attribute"]) == {"gender", "skin"}
    assert len(r.projection["x"]) == len(tiny_faces)
    assert set(r.heatmaps) == {"gender", "skin"} and set(r.heatmaps["gender"]["groups"]) == {"male", "female"}
    assert "accuracy" in r.summary() and "gender" in r.summary()
    import json

    r.to_json(tmp_path / "audit.json")
    saved = json.loads((tmp_path / "audit.json").read_text())
    assert saved["task"] == "emotion" and len(saved["groups"]) == len(r.groups)
    assert "NaN" not in (tmp_path / "audit.json").read_text()  # strict JSON
    assert set(r.metrics()["gaps"]) == {"gender", "skin", "gender × skin"}


def test_audit_of_a_plain_keras_model_skips_latent_and_explains_why(tiny_faces):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = audit(model, tiny_faces, ["gender"], n_boot=20, min_count=10)
    assert r.leakage is None and r.projection is None and r.heatmaps is None
    assert any("heatmaps skipped" in note for note in r.notes)
    with pytest.raises(ValueError, match="task"):
        audit(model, tiny_faces, task="speech")


def test_au_permutation_null_computes_the_same_auc_and_f1_with_ties():
    from kerasfer.fairness.multilabel import au_permutation_metrics

    rng = np.random.default_rng(6)
    aus = rng.integers(0, 2, (300, 2))
    aus[:15, 1] = -1
    probs = np.round(np.clip(0.4 * aus + 0.6 * rng.random((300, 2)), 0, 1), 1)  # rounded: many ties
    # one group: every "permutation" holds all samples, so each row must equal scikit-learn on all of them
    null = au_permutation_metrics(aus, probs, np.zeros(300, int), 1, n_perm=4)
    for a in range(2):
        known = aus[:, a] >= 0
        assert null["auc"][:, 0, a] == pytest.approx([roc_auc_score(aus[known, a], probs[known, a])] * 4)
        assert null["f1"][:, 0, a] == pytest.approx([f1_score(aus[known, a], probs[known, a] >= 0.5)] * 4)

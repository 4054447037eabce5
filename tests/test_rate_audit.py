"""The label-free audit: predicted emotion rates per group, DP difference, negative-emotion rate."""

import json
import warnings

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference

from kerasfer.constants import EMOTIONS
from kerasfer.fairness import audit, rate_audit
from kerasfer.models import EmotionClassifier

ANGRY, DISGUST, FEAR, HAPPY, SAD, SURPRISE, NEUTRAL = range(7)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kwargs)


def _rate(result, attribute, group, emotion, column="rate"):
    return result.to_frame("rates").loc[(attribute, group, emotion), column]


def _gap(result, attribute, metric, column="value"):
    return result.to_frame("rate_gaps").loc[(attribute, metric), column]


def _fairlearn_dpd(y_pred, groups, num_classes=7):
    """fairlearn's demographic-parity difference one emotion at a time (one-vs-rest), max over emotions."""
    dummy = np.zeros(len(y_pred), int)  # selection rates ignore the truth
    return max(demographic_parity_difference(dummy, (y_pred == c).astype(int), sensitive_features=groups)
               for c in range(num_classes))


# ------------------------------------------------------------------------------ hand-computed
def test_rates_per_group_and_intersection_equal_hand_computed_values():
    # gender m: 4 faces (happy, happy, angry, sad); f: 4 faces (happy, sad, sad, fear)
    y_pred = np.array([HAPPY, HAPPY, ANGRY, SAD, HAPPY, SAD, SAD, FEAR])
    gender = np.array(["m"] * 4 + ["f"] * 4)
    skin = np.array(["light", "dark"] * 4)
    r = rate_audit(y_pred, {"gender": gender, "skin": skin}, n_boot=0, n_perm=0, min_count=1)
    assert r.task == "emotion" and not r.labelled and r.rates is not None
    assert _rate(r, "gender", "m", "happy") == pytest.approx(2 / 4)
    assert _rate(r, "gender", "f", "sad") == pytest.approx(2 / 4)
    assert _rate(r, "gender", "f", "happy") == pytest.approx(1 / 4)
    assert _rate(r, "gender", "m", "neutral") == 0.0
    groups = r.to_frame("rate_groups")
    assert groups.loc[("gender", "m"), "negative_rate"] == pytest.approx(2 / 4)  # angry + sad
    assert groups.loc[("gender", "f"), "negative_rate"] == pytest.approx(3 / 4)  # sad, sad, fear
    # intersections: m × light = faces 0, 2 (happy, angry); f × dark = faces 5, 7 (sad, fear)
    assert _rate(r, "gender × skin", "m × light", "angry") == pytest.approx(1 / 2)
    assert groups.loc[("gender × skin", "f × dark"), "negative_rate"] == 1.0
    assert groups.loc[("gender × skin", "m × light"), "count"] == 2
    # per emotion max − min between m and f: happy 1/4, sad 1/4, angry 1/4, fear 1/4 → DPD 1/4
    assert _gap(r, "gender", "demographic_parity_difference") == pytest.approx(0.25)
    assert _gap(r, "gender", "negative_rate_difference") == pytest.approx(0.25)
    assert _gap(r, "gender", "negative_rate_difference", "high_group") == "f"
    assert _gap(r, "gender", "negative_rate_difference", "low_group") == "m"
    assert _gap(r, "gender", "rate_difference (neutral)") == 0.0
    # negative rates: m × light (happy, angry), m × dark (happy, sad), f × light (happy, sad) 1/2; f × dark 1
    assert _gap(r, "gender × skin", "negative_rate_difference") == pytest.approx(0.5)
    assert _gap(r, "gender × skin", "negative_rate_difference", "high_group") == "f × dark"
    assert _gap(r, "gender × skin", "demographic_parity_difference") == pytest.approx(0.5)
    assert r.settings["rate_intersections"] == ["gender × skin"]
    assert r.settings["negative"] == ["angry", "disgust", "fear", "sad"]


def test_dp_difference_equals_fairlearn_one_vs_rest_maximised_over_emotions():
    rng = np.random.default_rng(0)
    n = 900
    groups = rng.integers(0, 3, n)
    y_pred = np.where(rng.random(n) < 0.2 * groups, HAPPY, rng.integers(0, 7, n))
    probs = np.eye(7)[y_pred] * 0.6 + rng.random((n, 7)) * 0.1  # probabilities give the same argmax
    r = rate_audit(probs, {"skin": groups}, n_boot=0, n_perm=0, intersections=None)
    assert _gap(r, "skin", "demographic_parity_difference") == pytest.approx(_fairlearn_dpd(y_pred, groups))
    assert _gap(r, "skin", "demographic_parity_difference", "class") == "happy"
    for c, emotion in enumerate(EMOTIONS):
        fair = demographic_parity_difference(np.zeros(n), (y_pred == c).astype(int), sensitive_features=groups)
        assert _gap(r, "skin", f"rate_difference ({emotion})") == pytest.approx(fair)


# --------------------------------------------------------------------------- CIs and p-values
def test_confidence_intervals_bracket_the_estimates():
    rng = np.random.default_rng(1)
    n = 600
    groups = rng.integers(0, 2, n)
    y_pred = rng.integers(0, 7, n)
    r = rate_audit(y_pred, {"g": groups}, n_boot=300, n_perm=0, intersections=None)
    rates = r.rates
    assert (rates["rate_low"] <= rates["rate"] + 1e-12).all() and (rates["rate"] <= rates["rate_high"] + 1e-12).all()
    assert (rates["rate_high"] - rates["rate_low"] > 0).all()
    neg = r.rate_groups
    assert (neg["negative_rate_low"] <= neg["negative_rate"]).all()
    assert (neg["negative_rate"] <= neg["negative_rate_high"]).all()
    gaps = r.rate_gaps
    assert ((gaps["ci_low"] <= gaps["value"] + 1e-12) & (gaps["value"] <= gaps["ci_high"] + 1e-12)).all()
    assert gaps["p_value"].isna().all()  # n_perm=0: untested


def test_p_value_small_for_a_group_dependent_predictor_and_large_for_a_random_one():
    rng = np.random.default_rng(2)
    n = 1000
    groups = rng.integers(0, 2, n)
    random_pred = rng.integers(0, 7, n)
    fair = rate_audit(random_pred, {"g": groups}, n_boot=0, n_perm=300, intersections=None)
    assert _gap(fair, "g", "demographic_parity_difference", "p_value") > 0.1
    assert _gap(fair, "g", "negative_rate_difference", "p_value") > 0.1
    # group 1's faces are called angry 30 % more often
    biased_pred = np.where((groups == 1) & (rng.random(n) < 0.3), ANGRY, random_pred)
    biased = rate_audit(biased_pred, {"g": groups}, n_boot=0, n_perm=300, intersections=None)
    for metric in ("demographic_parity_difference", "negative_rate_difference", "rate_difference (angry)"):
        assert _gap(biased, "g", metric, "p_value") < 0.01, metric
    assert _gap(biased, "g", "demographic_parity_difference", "class") == "angry"
    assert _gap(biased, "g", "negative_rate_difference", "high_group") == "1"


# ------------------------------------------------------------------------ small groups, negative
def test_small_groups_are_reported_but_left_out_of_the_gaps():
    rng = np.random.default_rng(3)
    groups = np.r_[np.zeros(100, int), np.ones(100, int), np.full(5, 2)]
    y_pred = np.r_[rng.integers(0, 7, 200), np.full(5, ANGRY)]  # the 5-face group: always angry
    with pytest.warns(UserWarning, match="predicted rates: g=2: only 5 samples"):
        r = rate_audit(y_pred, {"g": groups}, n_boot=20, n_perm=20, min_count=30)
    assert bool(r.to_frame("rate_groups").loc[("g", "2"), "small"])
    assert _rate(r, "g", "2", "angry") == 1.0  # reported
    assert _gap(r, "g", "demographic_parity_difference", "groups_compared") == 2
    assert _gap(r, "g", "rate_difference (angry)") < 0.5  # without the small group the angry gap is noise-sized
    assert "2" not in (_gap(r, "g", "demographic_parity_difference", "high_group"),
                       _gap(r, "g", "demographic_parity_difference", "low_group"))
    one = _quiet(rate_audit, y_pred, {"g": groups}, n_boot=10, n_perm=10, min_count=150)
    assert np.isnan(_gap(one, "g", "demographic_parity_difference"))  # no two groups large enough: NaN, no crash


def test_negative_aggregate_is_configurable_and_validated():
    rng = np.random.default_rng(4)
    y_pred = rng.integers(0, 7, 300)
    groups = rng.integers(0, 2, 300)
    r = rate_audit(y_pred, {"g": groups}, n_boot=0, n_perm=0, intersections=None)
    for g in ("0", "1"):
        rates = r.to_frame("rates").loc[("g", g), "rate"]
        assert r.to_frame("rate_groups").loc[("g", g), "negative_rate"] == pytest.approx(
            rates[["angry", "disgust", "fear", "sad"]].sum())
    happy = rate_audit(y_pred, {"g": groups}, negative=("happy",), n_boot=0, n_perm=0, intersections=None)
    happy_rate = _rate(happy, "g", "0", "happy")
    assert happy.to_frame("rate_groups").loc[("g", "0"), "negative_rate"] == pytest.approx(happy_rate)
    assert _gap(happy, "g", "negative_rate_difference") == pytest.approx(_gap(happy, "g", "rate_difference (happy)"))
    with pytest.raises(ValueError, match="negative"):
        rate_audit(y_pred, {"g": groups}, negative=("furious",))
    with pytest.raises(ValueError, match="y_pred"):
        rate_audit(np.full(3, 9), {"g": [0, 1, 0]})


# ------------------------------------------------------------------------------ through a model
@pytest.fixture(scope="module")
def model():
    return EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=8)


def _with_labels(faces, known):
    out = faces[np.arange(len(faces))]
    out.labels = np.where(known, faces.labels, -1)
    return out


def test_audit_of_unlabelled_faces_gives_rates_leakage_heatmaps_and_the_report_section(model, tiny_faces, tmp_path):
    faces = _with_labels(tiny_faces, np.zeros(len(tiny_faces), bool))
    r = _quiet(audit, model, faces, ["gender", "skin"], n_boot=50, min_count=10, heatmaps_per_group=4)
    assert not r.labelled and r.groups.empty and r.gaps.empty
    assert set(r.rates["attribute"]) == {"gender", "skin", "gender × skin"}
    assert r.rate_groups.groupby("attribute")["count"].sum()["gender"] == len(faces)  # every face
    assert set(r.leakage["attribute"]) == {"gender", "skin"} and set(r.heatmaps) == {"gender", "skin"}
    summary = r.summary()
    assert "no emotion label" in summary
    for attribute in ("gender", "skin", "gender × skin"):  # one line each: DP difference and negative-rate gap
        assert any(line.strip().startswith(f"{attribute}: DPD") and "negative-rate gap" in line
                   for line in summary.splitlines()), attribute
    r.to_json(tmp_path / "audit.json")
    text = (tmp_path / "audit.json").read_text()
    assert "NaN" not in text and len(json.loads(text)["rate_gaps"]) == len(r.rate_gaps)
    metrics = json.loads(json.dumps(r.metrics(), allow_nan=False))
    assert set(metrics["rates"]["skin"]) == {"demographic_parity_difference", "negative_rate_difference"}
    html = r.to_html(tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Predicted emotion rates (no labels needed)" in html and '<section id="rates">' in html
    assert "Rhue (2018" in html and "Racial influence on automated perceptions of emotions" in html
    assert "smile intensity" in html and "cannot tell a biased model from groups that really differ" in html
    assert "Not measured: accuracy-based gaps need emotion labels" in html
    assert html.count('alt="gender: predicted rate per emotion and group"') == 1
    assert "DP difference" in r._repr_html_()


def test_partly_labelled_faces_get_both_parts(model, tiny_faces):
    known = np.arange(len(tiny_faces)) % 2 == 0
    faces = _with_labels(tiny_faces, known)
    r = _quiet(audit, model, faces, ["gender", "skin"], n_boot=30, min_count=5, heatmaps=False, latent=False)
    assert r.labelled and r.overall["count"] == known.sum()
    assert r.groups.groupby("attribute")["count"].sum()["gender"] == known.sum()  # accuracy: labelled faces
    assert r.rate_groups.groupby("attribute")["count"].sum()["gender"] == len(faces)  # rates: every face
    assert r.settings["n_labelled"] == known.sum() and r.settings["n"] == len(faces)
    summary = r.summary()
    assert "accuracy" in summary and "predicted emotion rates on all 96 faces" in summary
    assert "nan" not in summary  # a zero gap names no groups


def test_fully_labelled_rate_dpd_equals_the_labelled_audits(model, tiny_faces):
    # min_count 17: the 32-face skin groups take part, some of the ~16-face gender × skin groups are small
    r = _quiet(audit, model, tiny_faces, ["gender", "skin"], n_boot=0, n_perm=0, min_count=17, heatmaps=False,
               latent=False)
    labelled = r.to_frame("gaps").loc[("skin", "demographic_parity_difference"), "value"]
    assert _gap(r, "skin", "demographic_parity_difference") == pytest.approx(labelled)  # same faces, same figure
    small = [note for note in r.notes if "only" in note]
    assert small and not any(note.startswith("predicted rates:") for note in small)  # a small group said once


def test_cli_audits_unlabelled_fairface(model, tmp_path, capsys):
    from kerasfer.cli.main import main
    from kerasfer.data.miniature import make_mini_fairface

    mini = make_mini_fairface(tmp_path / "fairface", n_train=2, n_val=40, seed=1)
    model.save(tmp_path / "model.keras")
    out = tmp_path / "audit"
    argv = ["audit", "--model", str(tmp_path / "model.keras"), "--data", mini.spec, "--n-boot", "20",
            "--min-count", "5", "--attributes", "gender,race", "--no-heatmaps", "--out", str(out)]
    assert main(argv + ["--negative", "angry,sad"]) == 0
    printed = capsys.readouterr().out
    assert "no emotion label" in printed and "gender: DPD" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["rates"]) == {"gender", "race", "gender × race"} and metrics["gaps"] == {}
    assert json.loads((out / "audit.json").read_text())["settings"]["negative"] == ["angry", "sad"]
    assert "Predicted emotion rates (no labels needed)" in (out / "report.html").read_text(encoding="utf-8")
    assert main(argv + ["--negative", "angry,furious"]) == 2
    assert "--negative" in capsys.readouterr().err


def test_identical_groups_have_zero_gaps_name_no_groups_and_p_value_one():
    y_pred = np.tile(np.random.default_rng(5).integers(0, 7, 100), 2)
    r = rate_audit(y_pred, {"g": np.repeat([0, 1], 100)}, n_boot=50, n_perm=50, intersections=None)
    assert _gap(r, "g", "demographic_parity_difference") == 0.0
    assert _gap(r, "g", "demographic_parity_difference", "p_value") == 1.0
    assert _gap(r, "g", "demographic_parity_difference", "ci_low") == 0.0
    dpd = r.to_frame("rate_gaps").loc[("g", "demographic_parity_difference")]
    assert dpd[["class", "high_group", "low_group"]].isna().all()  # no gap: no emotion, no pair of groups
    assert "nan" not in r.summary() and "g: DPD 0.000" in r.summary()

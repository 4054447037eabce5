"""`kerasfer compare` / `kerasfer.compare`: the rule, the CIs, the files, resuming, and bad input."""

import json

import numpy as np
import pytest

from kerasfer.comparison import check_methods, compare, recommend, selection_rule
from kerasfer.data import make_synthfaces
from kerasfer.fairness import equalized_odds_gap
from kerasfer.fairness.groups import cell_balanced_accuracy
from kerasfer.fairness.seed_intervals import seed_mean_intervals

PHONE = dict(size="phone", width=8, latent_dim=8)


def test_the_rule_takes_the_fairest_method_that_keeps_the_baselines_accuracy():
    validation = {"baseline": {"balanced_accuracy": 0.70, "false_positive_rate_difference": 0.60},
                  "reweighted": {"balanced_accuracy": 0.695, "false_positive_rate_difference": 0.40},
                  "group_dro": {"balanced_accuracy": 0.65, "false_positive_rate_difference": 0.10},  # too inaccurate
                  "fairvae": {"balanced_accuracy": 0.74, "false_positive_rate_difference": 0.45}}
    assert recommend(validation) == "reweighted"
    assert recommend(validation, tolerance=0.06) == "group_dro"
    assert recommend(validation, tolerance=0.0) == "fairvae"  # the only one at or above the baseline
    validation["reweighted"]["balanced_accuracy"] = 0.675  # more than 2 points below the baseline
    assert recommend(validation) == "fairvae"
    assert recommend({"baseline": validation["baseline"], "x": {"balanced_accuracy": 0.5,
                                                               "false_positive_rate_difference": 0.0}}) == "baseline"
    tie = {"baseline": {"balanced_accuracy": 0.7, "false_positive_rate_difference": None},
           "a": {"balanced_accuracy": 0.72, "false_positive_rate_difference": None}}
    assert recommend(tie) == "a"  # no gap measurable: the more accurate
    with pytest.raises(ValueError, match="baseline"):
        recommend({"a": validation["fairvae"]})
    assert "2 point(s) below the baseline's" in selection_rule("skin") and "skin" in selection_rule("skin")
    assert "label-noise matrices" in selection_rule("skin", source="corrected")


def test_methods_are_checked_and_the_baseline_comes_first():
    assert check_methods("balanced, group_dro") == ("baseline", "balanced", "group_dro")
    assert check_methods(["baseline", "erasure", "erasure"]) == ("baseline", "erasure")
    with pytest.raises(ValueError, match="grop_dro.*choose from baseline, reweighted, balanced, group_dro"):
        check_methods("balanced,grop_dro")


def test_cell_balanced_accuracy_is_sklearns_balanced_accuracy_of_the_cells():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    y, g = rng.integers(0, 7, 500), rng.integers(0, 3, 500)
    p = np.where(rng.random(500) < 0.6, y, rng.integers(0, 7, 500))
    y[:10], g[10:20] = -1, -1
    keep = (y >= 0) & (g >= 0)
    expected = balanced_accuracy_score(g[keep] * 7 + y[keep], g[keep] * 7 + p[keep])
    assert cell_balanced_accuracy(y, p, g) == pytest.approx(expected)


def test_seed_mean_intervals_agree_with_fairlearn_and_cover_the_mean():
    rng = np.random.default_rng(1)
    y, g = rng.integers(0, 7, 900), rng.integers(0, 3, 900)
    preds = np.stack([np.where(rng.random(900) < 0.5 + 0.1 * g, y, rng.integers(0, 7, 900)) for _ in range(3)])
    names, labels = ("a", "b", "c"), tuple("0123456")
    result = seed_mean_intervals(y, preds, g, names, labels, n_boot=300)
    eod = np.mean([equalized_odds_gap(y, p, g, 7) for p in preds])
    assert result["equalized_odds_difference"]["mean"] == pytest.approx(eod)
    assert result["accuracy"]["mean"] == pytest.approx(np.mean(preds == y))
    worst = np.mean([min(np.mean(p[g == k] == y[g == k]) for k in range(3)) for p in preds])
    assert result["worst_group_accuracy"]["mean"] == pytest.approx(worst)
    for metric in result.values():
        assert metric["ci_low"] <= metric["mean"] <= metric["ci_high"]
        assert metric["ci_high"] - metric["ci_low"] > 0.01
    few = seed_mean_intervals(y[:40], preds[:, :40], g[:40], names, labels, n_boot=50)  # groups of < 30 faces
    assert few["equalized_odds_difference"]["mean"] is None and few["accuracy"]["mean"] is not None
    with pytest.raises(ValueError, match="same test faces"):
        seed_mean_intervals(y[:5], preds, g, names, labels)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    train = make_synthfaces(400, seed=3, image_size=32, bias="demo")
    test = make_synthfaces(350, seed=4, image_size=32)
    result = compare(train, test, methods="reweighted,erasure", seeds=2, epochs=1, out=out, n_boot=50, verbose=0,
                     **PHONE)
    return result, out, train, test


def test_compare_writes_the_specified_files(compared):
    result, out, _, _ = compared
    saved = json.loads((out / "compare.json").read_text())
    assert saved["recommended"] in ("baseline", "reweighted", "erasure") and saved["rule"] == result["rule"]
    assert list(saved["methods"]) == ["baseline", "reweighted", "erasure"]
    for row in saved["methods"].values():
        assert set(row) >= {"accuracy", "worst_group_accuracy", "gaps", "leakage", "train_seconds", "validation"}
        assert set(row["gaps"]) == {"gender", "skin", "age"} and "equalized_odds_difference" in row["gaps"]["skin"]
        assert 0 <= row["leakage"]["skin"]["balanced_accuracy"] <= 1 and row["seeds"] == 2
        ci = row["intervals"]["skin"]["accuracy"]
        assert ci["ci_low"] <= row["accuracy"] <= ci["ci_high"]
    assert saved["methods"]["erasure"]["leakage"]["skin"]["balanced_accuracy"] < 0.5  # chance 0.333
    page = (out / "compare.html").read_text()
    assert "data:image/png;base64," in page and saved["recommended"] in page and "Pareto" in page
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["runs"]["erasure"]) == 2 and metrics["runs"]["erasure"][0]["erasure"]["attributes"] == ["skin"]
    assert (out / "runs" / "reweighted" / "seed1" / "model.keras").exists()
    # the validation labels were corrected with the T_g of a label-noise model trained on each seed's fitting faces
    assert saved["validation"]["figures"] == "corrected" and "label-noise matrices" in saved["rule"]
    assert len(saved["validation"]["label_noise"]) == 2 and (out / "runs" / "label_noise" / "seed0" / "run.json").exists()
    matrix = np.array(saved["validation"]["label_noise"][0]["groups"]["dark"])
    assert matrix.shape == (7, 7) and np.allclose(matrix.sum(axis=1), 1, atol=1e-3)
    baseline = saved["methods"]["baseline"]
    assert set(baseline["validation_seeds"][1]) == {"annotated", "corrected"}
    assert baseline["validation"]["balanced_accuracy"] == pytest.approx(
        np.mean([s["corrected"]["balanced_accuracy"] for s in baseline["validation_seeds"]]))
    low, high = baseline["validation"]["intervals"]["false_positive_rate_difference"]
    assert low < high and len(baseline["test_seeds"]) == 2
    assert saved["recommended"] in saved["validation"]["statement"] and "Validation figures" in page


def test_compare_reuses_finished_runs_and_retrains_when_settings_change(compared, monkeypatch):
    import kerasfer.training

    result, out, train, test = compared
    class Retrained(Exception):
        pass

    def refuse(*args, **kwargs):
        raise Retrained("retrained a finished run")

    monkeypatch.setattr(kerasfer.training, "train_model", refuse)
    again = compare(train, test, methods="reweighted,erasure", seeds=2, epochs=1, out=out, n_boot=50, verbose=0,
                    tolerance=0.05, **PHONE)  # choosing differently needs no retraining
    assert again["methods"]["erasure"]["accuracy"] == result["methods"]["erasure"]["accuracy"]
    assert again["settings"]["tolerance"] == 0.05
    with pytest.raises(Retrained):
        compare(train, test, methods="reweighted", seeds=1, epochs=2, out=out, n_boot=50, verbose=0, **PHONE)
    other = make_synthfaces(400, seed=30, image_size=32, bias="demo")  # same size and settings, other faces
    with pytest.raises(Retrained):
        compare(other, test, methods="reweighted", seeds=1, epochs=1, out=out, n_boot=50, verbose=0, **PHONE)


def test_a_trusted_validation_set_is_read_as_it_is(tmp_path):
    train = make_synthfaces(300, seed=3, image_size=32, bias="demo")
    clean = make_synthfaces(200, seed=5, image_size=32)
    result = compare(train, clean, methods="balanced", seeds=1, epochs=1, validation=clean, out=tmp_path, n_boot=20,
                     verbose=0, **PHONE)
    assert result["validation"]["figures"] == "trusted" and result["validation"]["label_noise"] == []
    assert "trusted validation set" in result["rule"] and not (tmp_path / "runs" / "label_noise").exists()
    predictions = np.array(json.loads((tmp_path / "runs" / "balanced" / "seed0" / "run.json").read_text())[
        "validation_predictions"])
    assert len(predictions) == len(clean)  # every seed fitted the whole training split, chose on `clean`
    from kerasfer.comparison.records import VALIDATION_MIN_CELL
    from kerasfer.fairness.noise_corrected import validation_figures

    figures = validation_figures(clean.labels, predictions, clean.attributes["skin"], 3, 7, min_cell=VALIDATION_MIN_CELL)
    assert result["methods"]["balanced"]["validation"]["balanced_accuracy"] == pytest.approx(figures["balanced_accuracy"])
    other = make_synthfaces(50, seed=6, image_size=32)
    other.group_names = {**other.group_names, "skin": ("a", "b", "c")}
    with pytest.raises(ValueError, match="validation data's skin groups"):
        compare(train, clean, validation=other)


def test_compare_refuses_bad_input(compared):
    _, _, train, test = compared
    with pytest.raises(ValueError, match="seeds"):
        compare(train, test, seeds=0)
    with pytest.raises(ValueError, match="hair"):
        compare(train, test, attribute="hair")
    with pytest.raises(ValueError, match="val_fraction"):
        compare(train, test, val_fraction=1.5)
    with pytest.raises(ValueError, match="sets \\['seed'\\] itself"):
        compare(train, test, seed=3)
    with pytest.raises(ValueError, match="tolerance"):
        compare(train, test, tolerance=1)  # a share: 1 would be 100 points
    unlabelled = test[np.arange(20)]
    unlabelled.labels[:] = -1
    with pytest.raises(ValueError, match="labels in the test data"):
        compare(train, unlabelled)


def test_compare_cli_end_to_end_and_typos(tmp_path, capsys):
    from kerasfer.cli.main import main

    args = ["compare", "--n-train", "300", "--n-test", "200", "--image-size", "32", "--epochs", "1", "--seeds", "1",
            "--n-boot", "20", "--size", "phone", "--out", str(tmp_path)]
    assert main([*args, "--methods", "balanced", "--no-noise-correction"]) == 0
    printed = capsys.readouterr().out
    assert "recommended:" in printed and "balanced" in printed and "as annotated" in printed
    assert "label_noise" not in json.loads((tmp_path / "compare.json").read_text())["methods"]
    assert set(json.loads((tmp_path / "compare.json").read_text())["methods"]) == {"baseline", "balanced"}
    assert main([*args, "--methods", "balanced,grop_dro"]) == 2
    assert "grop_dro" in capsys.readouterr().err
    assert main([*args, "--seeds", "0"]) == 2
    assert main([*args, "--attribute", "hair"]) == 2


def test_the_false_positive_rate_gap_is_fairlearns_and_small_cells_can_be_left_out():
    from fairlearn.metrics import MetricFrame, false_positive_rate

    from kerasfer.fairness.confusion import gap_metrics, group_confusion, group_metrics

    rng = np.random.default_rng(2)
    y, g = rng.integers(0, 4, 600), rng.integers(0, 3, 600)
    p = np.where(rng.random(600) < 0.4 + 0.2 * g, y, rng.integers(0, 4, 600))
    metrics = group_metrics(group_confusion(y, p, g, 3, 4))
    expected = max(MetricFrame(metrics=false_positive_rate, y_true=y == c, y_pred=p == c,
                               sensitive_features=g).difference() for c in range(4))
    assert gap_metrics(metrics)["false_positive_rate_difference"] == pytest.approx(expected)
    y[(g == 2) & (y == 1)] = 0  # group 2 has no face of class 1 left but 1 ...
    y[np.flatnonzero(g == 2)[:1]] = 1  # ... one, whose TPR is 0 or 1 by chance
    metrics = group_metrics(group_confusion(y, p, g, 3, 4))
    with_all, without = gap_metrics(metrics)["equalized_odds_difference"], gap_metrics(metrics, min_cell=10)
    tpr = np.where(metrics["support"] >= 10, metrics["tpr"], np.nan)
    fpr = np.where(metrics["negatives"] >= 10, metrics["fpr"], np.nan)
    assert without["equalized_odds_difference"] == pytest.approx(np.nanmax(np.fmax(np.nanmax(tpr, 0) - np.nanmin(tpr, 0),
                                                                                   np.nanmax(fpr, 0) - np.nanmin(fpr, 0))))
    assert without["equalized_odds_difference"] <= with_all

"""The validation figures corrected by T_g, and the rule on biased validation labels (`compare`'s choice)."""

import numpy as np
import pytest

from kerasfer.comparison import indistinguishable, recommend
from kerasfer.fairness.confusion import group_confusion
from kerasfer.fairness.groups import cell_balanced_accuracy
from kerasfer.fairness.noise_corrected import corrected_confusion, validation_figures

K, G = 7, 3


def noisy_world(n=30_000, rate=0.3, toward=0, noisy_group=2, from_class=None, seed=0):
    """True emotions, groups, labels, and the transitions of annotators who label `rate` of one group's
    faces (of `from_class`; None: of every class) `toward` one class."""
    rng = np.random.default_rng(seed)
    truth, groups = rng.integers(0, K, n), rng.integers(0, G, n)
    rows = np.arange(K) if from_class is None else np.array([from_class])
    transitions = np.broadcast_to(np.eye(K), (G, K, K)).copy()
    transitions[noisy_group, rows] *= 1 - rate
    transitions[noisy_group, rows, toward] += rate
    flip = (groups == noisy_group) & np.isin(truth, rows) & (rng.random(n) < rate)
    labels = np.where(flip, toward, truth)
    return truth, groups, labels, transitions, rng


def guess(target, accuracy, rng):
    """Predictions that equal `target` with probability `accuracy`, else a uniform class."""
    return np.where(rng.random(len(target)) < accuracy, target, rng.integers(0, K, len(target)))


def test_the_correction_recovers_the_true_confusion_matrices():
    truth, groups, labels, transitions, rng = noisy_world()
    predicted = guess(truth, 0.6, rng)
    true_cm = group_confusion(truth, predicted, groups, G, K)
    annotated_cm = group_confusion(labels, predicted, groups, G, K)
    corrected = corrected_confusion(annotated_cm, transitions)
    assert np.abs(annotated_cm - true_cm).max() > 300  # the annotators moved many faces
    assert np.abs(corrected - true_cm).max() < 80  # sampling noise of ~1,400-face cells
    np.testing.assert_allclose(corrected.sum(axis=-2), annotated_cm.sum(axis=-2))  # predicted totals kept
    np.testing.assert_allclose(corrected_confusion(true_cm, np.broadcast_to(np.eye(K), (G, K, K))), true_cm)
    resampled = np.stack([annotated_cm, annotated_cm])  # leading resample axes
    np.testing.assert_allclose(corrected_confusion(resampled, transitions)[1], corrected)


def test_uncorrected_figures_are_the_existing_ones():
    from kerasfer.fairness.confusion import gap_metrics, group_metrics

    truth, groups, labels, _, rng = noisy_world(n=2_000)
    predicted = guess(labels, 0.5, rng)
    figures = validation_figures(labels, predicted, groups, G, K, min_cell=10, n_boot=100)
    assert figures["balanced_accuracy"] == pytest.approx(cell_balanced_accuracy(labels, predicted, groups))
    assert figures["accuracy"] == pytest.approx(np.mean(labels == predicted))
    gaps = gap_metrics(group_metrics(group_confusion(labels, predicted, groups, G, K)), min_cell=10)
    assert figures["false_positive_rate_difference"] == pytest.approx(gaps["false_positive_rate_difference"])
    for name in ("accuracy", "balanced_accuracy"):
        low, high = figures["intervals"][name]
        assert low <= figures[name] <= high and high - low > 0.005, name
    for name in ("false_positive_rate_difference", "equalized_odds_difference"):
        low, high = figures["intervals"][name]  # a max over ranges is biased upwards under resampling
        assert high - low > 0.005 and low - 0.05 <= figures[name] <= high, name


def test_cells_under_min_cell_faces_are_left_out_of_the_balanced_accuracy():
    rng = np.random.default_rng(3)
    labels, groups = rng.integers(0, K, 3_000), rng.integers(0, G, 3_000)
    rare = np.flatnonzero((groups == 1) & (labels == 2))
    labels[rare[3:]] = 4  # group 1 keeps 3 faces of class 2, all predicted wrong
    predicted = labels.copy()
    predicted[rare[:3]] = 5
    assert validation_figures(labels, predicted, groups, G, K)["balanced_accuracy"] == pytest.approx(20 / 21)
    assert validation_figures(labels, predicted, groups, G, K, min_cell=10)["balanced_accuracy"] == pytest.approx(1.0)


def test_bad_transitions_are_refused():
    cm = np.ones((G, K, K))
    with pytest.raises(ValueError, match="shape"):
        corrected_confusion(cm, np.broadcast_to(np.eye(K), (2, K, K)))
    with pytest.raises(ValueError, match="row-stochastic"):
        corrected_confusion(cm, np.full((G, K, K), 0.5))
    singular = np.broadcast_to(np.eye(K), (G, K, K)).copy()
    singular[0] = 1 / K
    with pytest.raises(ValueError, match="singular"):
        corrected_confusion(cm, singular)


def test_a_method_that_fits_the_annotators_errors_loses_once_the_labels_are_corrected():
    """Annotators label 60 % of group 2's sad faces (class 3) angry (class 0). The baseline learned their
    habit and calls every such face angry; `fair` predicts what the faces show, as well as the baseline
    does otherwise."""
    truth, groups, labels, transitions, rng = noisy_world(n=8_000, rate=0.6, from_class=3)
    habit = np.where((groups == 2) & (truth == 3), 0, truth)
    methods = {"baseline": guess(habit, 0.8, rng), "fair": guess(truth, 0.8, rng)}

    def figures(correct):
        return {name: validation_figures(labels, p, groups, G, K, transitions if correct else None, min_cell=10,
                                         n_boot=100) for name, p in methods.items()}

    as_annotated, corrected = figures(False), figures(True)
    gap = "false_positive_rate_difference"
    # against the annotators' labels, `fair`'s true sad calls are false positives, the habit's mostly hits
    assert as_annotated["fair"][gap] > as_annotated["baseline"][gap]
    assert recommend(as_annotated) == "baseline"
    assert recommend(corrected) == "fair"
    assert corrected["fair"]["balanced_accuracy"] == pytest.approx(0.8 + 0.2 / K, abs=0.02)  # its true accuracy
    assert corrected["baseline"][gap] > 0.1 > 0.05 > corrected["fair"][gap]  # the habit's false angry calls
    assert indistinguishable(corrected, "fair") == []  # 8,000 faces tell them apart
    assert recommend(corrected, rank_by="equalized_odds_difference") == "fair"


def test_indistinguishable_names_the_candidates_whose_intervals_overlap():
    validation = {"baseline": {"balanced_accuracy": 0.70, "false_positive_rate_difference": 0.50,
                               "intervals": {"false_positive_rate_difference": [0.40, 0.60]}},
                  "a": {"balanced_accuracy": 0.70, "false_positive_rate_difference": 0.20,
                        "intervals": {"false_positive_rate_difference": [0.10, 0.30]}},
                  "b": {"balanced_accuracy": 0.71, "false_positive_rate_difference": 0.25,
                        "intervals": {"false_positive_rate_difference": [0.15, 0.35]}},
                  "c": {"balanced_accuracy": 0.50, "false_positive_rate_difference": 0.22,  # not a candidate
                        "intervals": {"false_positive_rate_difference": [0.12, 0.32]}}}
    assert recommend(validation) == "a"
    assert indistinguishable(validation, "a") == ["b"]
    validation["b"]["intervals"]["false_positive_rate_difference"] = None
    assert indistinguishable(validation, "a") == ["b"]  # no interval: cannot be told apart

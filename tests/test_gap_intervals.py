"""Gap CIs (`kerasfer.fairness.gap_intervals`): they contain their estimate, and cover the true gap
about 95 % of the time over repeated draws, with no gap and with a planted one."""

import warnings

import numpy as np
import pytest

from kerasfer.fairness import audit_predictions
from kerasfer.fairness.bootstrap import percentile_interval
from kerasfer.fairness.gap_intervals import (FIRST_STEP_SHARE, extremum_interval, pairwise_differences,
                                             pairwise_ratios)
from kerasfer.report.p_values import format_p_value

K = 7
GAPS = ("equalized_odds_difference", "demographic_parity_difference", "accuracy_difference", "fairness_ratio",
        "worst_group_accuracy")


def draw(rng, accuracy, n_per_group):
    """Labels uniform over K classes; group g's prediction right with probability accuracy[g], else uniform."""
    y, p, g = [], [], []
    for group, a in enumerate(accuracy):
        truth = rng.integers(0, K, n_per_group)
        wrong = rng.random(n_per_group) > a
        pred = np.where(wrong, (truth + rng.integers(1, K, n_per_group)) % K, truth)
        y.append(truth), p.append(pred), g.append(np.full(n_per_group, group))
    return np.concatenate(y), np.concatenate(p), np.concatenate(g)


def true_gaps(accuracy):
    """The population gaps of `draw`: TPR = accuracy, FPR = (1 − accuracy)/(K − 1), selection rate 1/K."""
    a = np.asarray(accuracy)
    return {"equalized_odds_difference": np.ptp(a), "demographic_parity_difference": 0.0,
            "accuracy_difference": np.ptp(a), "fairness_ratio": a.min() / a.max(), "worst_group_accuracy": a.min()}


def coverage(accuracy, draws=200, n_per_group=300, n_boot=400):
    rng = np.random.default_rng(0)
    truth = true_gaps(accuracy)
    covered = {m: 0 for m in GAPS}
    for i in range(draws):
        y, p, g = draw(rng, accuracy, n_per_group)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gaps = audit_predictions(y, p, {"g": g}, n_boot=n_boot, n_perm=0, intersections=None, seed=i,
                                     label_names=[str(k) for k in range(K)]).gaps.set_index("metric")
        for m in GAPS:
            low, value, high = gaps.loc[m, ["ci_low", "value", "ci_high"]]
            assert low - 1e-12 <= value <= high + 1e-12, (m, low, value, high)  # contains its estimate, always
            covered[m] += low - 1e-12 <= truth[m] <= high + 1e-12
    return {m: covered[m] / draws for m in GAPS}


@pytest.mark.parametrize("accuracy", [(0.7, 0.7, 0.7), (0.75, 0.7, 0.55)], ids=["no gap", "planted gap"])
def test_gap_intervals_cover_the_true_gap_near_the_nominal_rate(accuracy):
    """Measured: 0.92–0.965 with no gap, 0.94–0.995 with the planted gap (200 draws; SE ≈ 0.015)."""
    rates = coverage(accuracy)
    for metric, rate in rates.items():
        assert 0.88 <= rate <= 1.0, (metric, rates)
    assert 0.92 <= np.mean(list(rates.values())) <= 0.99, rates
    if accuracy[0] == accuracy[-1]:  # no gap: the interval reaches 0 at about the nominal rate, not always
        assert rates["accuracy_difference"] <= 0.98, rates


def test_a_percentile_interval_of_the_range_never_covers_a_zero_gap():
    """Why the method exists: max − min over groups is > 0 in every resample, so 0 lies below the interval."""
    rng = np.random.default_rng(1)
    accuracy = rng.binomial(300, 0.7, size=(400, 3)) / 300  # 400 resamples of 3 equal groups
    low, _ = percentile_interval(np.ptp(accuracy, axis=1))
    assert low > 0


def test_one_member_gives_the_studentized_bootstrap_interval():
    rng = np.random.default_rng(2)
    boot = 0.3 + 0.05 * rng.standard_normal((2000, 1))
    low, high = extremum_interval(np.array([0.31]), boot, level=0.9)
    level = 1 - (0.1 - 0.1 * FIRST_STEP_SHARE)
    c = np.quantile(np.abs(boot[:, 0] - 0.31) / boot[:, 0].std(), level)
    assert (low, high) == pytest.approx((0.31 - c * boot[:, 0].std(), 0.31 + c * boot[:, 0].std()))


def test_members_that_cannot_be_the_maximum_are_dropped_and_min_mirrors_max():
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((2000, 2))
    point = np.array([0.5, 0.0])
    boot = point + noise * [0.02, 0.1]
    both = extremum_interval(point, boot)
    alone = extremum_interval(point[:1], boot[:, :1])
    assert both == pytest.approx(alone)  # 0.0 ± 0.3 never reaches 0.5 − 0.06
    low, high = extremum_interval(-point, -boot, kind="min")
    assert (low, high) == pytest.approx((-both[1], -both[0]))
    with pytest.raises(ValueError, match="kind"):
        extremum_interval(point, boot, kind="range")
    with pytest.raises(ValueError, match="shape"):
        extremum_interval(point, boot[:, :1])


def test_nan_members_and_resamples_are_left_out():
    point = np.array([0.2, np.nan])
    boot = np.array([[0.1, 0.5], [0.3, np.nan], [0.25, 0.4], [0.15, np.nan]])
    low, high = extremum_interval(point, boot)
    assert np.isfinite([low, high]).all() and low <= 0.2 <= high
    assert np.isnan(extremum_interval(np.array([np.nan]), np.full((4, 1), np.nan))).all()


def test_pairwise_families():
    values = np.array([[0.9, 0.6, 0.3]])
    include = np.array([True, False, True])
    np.testing.assert_allclose(pairwise_differences(values, include), [[0.6, -0.6]])
    np.testing.assert_allclose(pairwise_ratios(values, include), [[3.0, 1 / 3]])
    per_class = np.arange(6.0).reshape(3, 2)  # (G, K)
    np.testing.assert_allclose(pairwise_differences(per_class, include, axis=-2), [[-4, 4], [-4, 4]])


def test_gaps_of_an_au_audit_contain_their_estimates():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, (600, 3))
    probs = np.clip(y * 0.6 + rng.random((600, 3)) * 0.5, 0, 1)
    groups = rng.integers(0, 3, 600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gaps = audit_predictions(y, probs, {"g": groups}, n_boot=100, n_perm=50, intersections=None).gaps
    assert len(gaps) == 10 and gaps["ci_low"].notna().all()
    assert ((gaps["ci_low"] <= gaps["value"] + 1e-12) & (gaps["value"] <= gaps["ci_high"] + 1e-12)).all(), gaps


def test_p_values_at_the_permutation_floor_read_as_an_upper_bound():
    assert format_p_value(1 / 1001, 1000) == "p < 0.001"
    assert format_p_value(1 / 201, 200) == "p < 0.005"
    assert format_p_value(0.0234, 1000) == "p = 0.023"
    assert format_p_value(float("nan"), 1000) == ""
    assert format_p_value(0.0004) == "p < 0.001"

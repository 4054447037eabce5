"""The alignment loss: MMD is ~0 for identical samples and grows with a mean shift; masks work."""

import numpy as np
import tensorflow as tf

from kerasfer.models.mmd import group_mmd, rbf_kernel, weighted_mmd


def _mmd(a, b):
    z = tf.constant(np.concatenate([a, b]), tf.float32)
    w_a = np.r_[np.full(len(a), 1 / len(a)), np.zeros(len(b))].astype("float32")
    w_b = np.r_[np.zeros(len(a)), np.full(len(b), 1 / len(b))].astype("float32")
    return float(weighted_mmd(rbf_kernel(z, z), w_a, w_b))


def test_identical_samples_have_zero_mmd():
    a = np.random.default_rng(0).normal(size=(64, 8))
    assert _mmd(a, a.copy()) < 1e-5


def test_identically_distributed_samples_have_about_zero_mmd():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    assert abs(_mmd(a, b)) < 0.05 * _mmd(a, b + 1.0)


def test_mmd_grows_with_the_mean_shift():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(128, 8)), rng.normal(size=(128, 8))
    values = [_mmd(a, b + shift) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[-1] > 10 * values[0]


def test_group_mmd_sees_a_group_shift_and_ignores_unknown_and_conditions_on_class():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(200, 4)).astype("float32")
    groups = np.repeat([0, 1], 100)
    aligned = float(group_mmd(z, groups, 2))
    z_shift = z.copy()
    z_shift[groups == 1] += 1.5
    assert float(group_mmd(z_shift, groups, 2)) > 5 * aligned
    # Shift explained entirely by the class: marginal MMD is large, conditional MMD is small.
    labels = groups.copy()
    assert float(group_mmd(z_shift, groups, 2, labels=labels, num_classes=2)) < 1e-6 + aligned
    unknown = groups.copy()
    unknown[groups == 1] = -1
    assert float(group_mmd(z_shift, unknown, 2)) == 0.0  # one known group: nothing to align

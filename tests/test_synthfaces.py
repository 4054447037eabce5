"""SynthFaces: determinism, shapes, bias knobs that measurably skew the data, AU consistency."""

import numpy as np
import pytest

from kerasfer import ACTION_UNITS, ATTRIBUTES, EMOTIONS
from kerasfer.constants import EMOTION_PROTOTYPES
from kerasfer.data import DEMO_BIAS, BiasSpec, au_prototype_matrix, make_synthfaces
from kerasfer.data.synthfaces import _render, _sample_style


def test_same_seed_same_data_and_different_seed_differs():
    a, b = make_synthfaces(300, seed=5), make_synthfaces(300, seed=5)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.aus, b.aus)
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(a.attributes[name], b.attributes[name])
    c = make_synthfaces(300, seed=6)
    assert not np.array_equal(a.images, c.images)


def test_shapes_and_dtypes():
    data = make_synthfaces(40, seed=0, image_size=48, channels=1)
    assert data.images.shape == (40, 48, 48, 1) and data.images.dtype == np.uint8
    assert data.labels.shape == (40,) and data.labels.dtype == np.int32
    assert data.aus.shape == (40, len(ACTION_UNITS)) and set(np.unique(data.aus)) <= {0, 1}
    assert set(data.attributes) == {"gender", "skin", "age"}
    assert len(ATTRIBUTES["skin"]) >= 3 and len(ATTRIBUTES["age"]) >= 3
    assert data.images.std() > 20, "images should not be blank"


def test_clean_data_is_balanced():
    data = make_synthfaces(2100, seed=1)
    assert np.bincount(data.labels, minlength=7).tolist() == [300] * 7
    assert np.bincount(data.attributes["skin"]).tolist() == [700] * 3
    assert np.bincount(data.attributes["gender"]).tolist() == [1050] * 2


def test_au_labels_follow_the_emotion_prototypes():
    data = make_synthfaces(3500, seed=2)
    proto = au_prototype_matrix()[data.labels]
    assert not np.any(data.aus & (1 - proto)), "an AU outside the emotion's prototype was labelled"
    happy = data.labels == EMOTIONS.index("happy")
    assert data.aus[happy][:, ACTION_UNITS.index("AU12")].mean() > 0.85
    assert data.aus[data.labels == EMOTIONS.index("neutral")].sum() == 0
    # Every non-neutral face shows at least one AU of its prototype; most show all of them.
    assert (data.aus[data.labels != EMOTIONS.index("neutral")].sum(axis=1) > 0).all()
    assert (data.aus == proto).all(axis=1).mean() > 0.6
    assert set(EMOTION_PROTOTYPES["happy"]) == {"AU06", "AU12"}


def test_expressions_change_the_pixels_where_the_aus_act():
    """Same faces drawn neutral and happy: the mouth and eye rows change, the forehead does not."""
    attributes = BiasSpec().sample_attributes(20, np.random.default_rng(0))
    style = _sample_style(attributes, np.random.default_rng(1))
    happy = np.zeros((20, len(ACTION_UNITS)), np.float32)
    happy[:, [ACTION_UNITS.index("AU06"), ACTION_UNITS.index("AU12")]] = 1.0
    neutral_img = _render(style, np.zeros_like(happy), 64, np.random.default_rng(2)).astype(float)
    happy_img = _render(style, happy, 64, np.random.default_rng(2)).astype(float)
    diff = np.abs(happy_img - neutral_img).mean(axis=(0, 3))
    assert diff[38:48, 16:48].mean() > 2.5, "the smile (AU12) should change the mouth"
    assert diff[24:36, 8:56].mean() > 1.0, "the cheek raiser (AU06) should change the eyes"
    assert diff[:12].mean() < 0.05, "the forehead should not change with a smile"


def test_representational_bias_changes_group_counts():
    data = make_synthfaces(4000, seed=4, bias=BiasSpec(proportions={"skin": (0.7, 0.2, 0.1)}))
    share = np.bincount(data.attributes["skin"], minlength=3) / 4000
    np.testing.assert_allclose(share, [0.7, 0.2, 0.1], atol=0.03)


def test_stereotypical_bias_skews_emotion_given_group():
    spec = BiasSpec(stereotype=0.6, stereotype_pairs=(("gender", "female", "happy"),))
    data = make_synthfaces(6000, seed=5, bias=spec)
    female = data.attributes["gender"] == 1
    happy = data.labels == EMOTIONS.index("happy")
    expected = 0.6 + 0.4 / 7
    assert abs(happy[female].mean() - expected) < 0.04
    assert abs(happy[~female].mean() - 1 / 7) < 0.03


def test_annotation_bias_flips_labels_of_one_group_only():
    spec = BiasSpec(label_noise=(("skin", "dark", 0.3, "angry"),))
    data = make_synthfaces(6000, seed=6, bias=spec)
    # A noisy label disagrees with the drawn Action Units (which keep the true expression): an AU
    # outside the label's prototype is present, or a non-neutral label has no AU at all.
    proto = au_prototype_matrix()[data.labels]
    outside = (data.aus & (1 - proto)).any(axis=1)
    empty = (data.aus.sum(axis=1) == 0) & (data.labels != EMOTIONS.index("neutral"))
    mismatch = outside | empty
    dark = data.attributes["skin"] == 2
    assert mismatch[dark].mean() > 0.2
    assert mismatch[~dark].mean() < 0.05
    assert (data.labels[dark] == 0).mean() > 0.3  # ~1/7 + 0.3 × 6/7


def test_demo_bias_is_the_documented_spec():
    data = make_synthfaces(3000, seed=7, bias="demo")
    dark = data.attributes["skin"] == 2
    assert dark.mean() < 0.2
    assert (data.labels[dark] == EMOTIONS.index("angry")).mean() > 0.5
    assert DEMO_BIAS.stereotype > 0


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"n": 0}, "n"),
        ({"n": -5}, "n"),
        ({"n": 10, "channels": 2}, "channels"),
        ({"n": 10, "image_size": 8}, "image_size"),
        ({"n": 10, "bias": "strong"}, "bias"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, parameter):
    with pytest.raises(ValueError, match=parameter):
        make_synthfaces(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"stereotype": 1.5}, "stereotype"),
        ({"stereotype": -0.1}, "stereotype"),
        ({"proportions": {"skin": (0.5, 0.6, -0.1)}}, "proportions"),
        ({"proportions": {"skin": (0.5, 0.5)}}, "proportions"),
        ({"proportions": {"height": (0.5, 0.5)}}, "unknown attribute 'height'"),
        ({"stereotype_pairs": (("gender", "other", "happy"),)}, "unknown group 'other'"),
        ({"stereotype_pairs": (("gender", "male", "bored"),)}, "unknown emotion 'bored'"),
        ({"label_noise": (("skin", "dark", 1.2, None),)}, "rate"),
        ({"label_noise": (("skin", "dark"),)}, "label_noise"),
    ],
)
def test_bad_bias_specs_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BiasSpec(**kwargs)


@pytest.mark.parametrize("image_size", [16, 20, 64])
def test_features_drawn_in_windows_match_the_whole_image(monkeypatch, image_size):
    """Eyes, brows, nose, mouth and wrinkles are computed on a window around them; the pixels must be
    exactly those of computing them on the whole image (20 px exercises the fall-back when a shape
    reaches a window's side)."""
    import kerasfer.data.synthfaces as synthfaces

    windowed = make_synthfaces(300, seed=3, image_size=image_size, bias="demo").images
    monkeypatch.setattr(synthfaces, "_window", lambda style, size, u_range, v_range: (slice(None), slice(None)))
    whole = make_synthfaces(300, seed=3, image_size=image_size, bias="demo").images
    np.testing.assert_array_equal(windowed, whole)


def test_a_window_that_cuts_a_shape_falls_back_to_the_whole_image():
    from kerasfer.data.synthfaces import _draw, _ellipse, _fill

    pix = ((np.arange(32, dtype=np.float32) + 0.5) / 32) * 2 - 1
    u, v = (np.broadcast_to(a, (2, 32, 32)) for a in np.meshgrid(pix, pix))

    def disk(u, v):
        return [(_fill(_ellipse(u, v, 0.1, 0.0, 0.3, 0.3), 1 / 16), 200.0)]

    whole = np.zeros((2, 32, 32, 3), np.float32)
    _draw(whole, u, v, (slice(None), slice(None)), disk)
    assert whole.any()
    for window in [(slice(14, 20), slice(14, 20)), (slice(0, 16), slice(0, 32)), (slice(5, 30), slice(16, 32))]:
        cut = np.zeros_like(whole)
        _draw(cut, u, v, window, disk)
        np.testing.assert_array_equal(cut, whole)

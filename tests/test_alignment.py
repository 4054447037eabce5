"""Face templates: where a model's training faces have their eyes, measured with BlazeFace, stored in the
model, and used to align the crops of `kerasfer predict` (eyes put exactly there, or the box crop when
the eyes are implausible)."""

import numpy as np
import pytest
import skimage.data

from kerasfer.data import make_synthfaces
from kerasfer.models import EmotionClassifier, load_model
from kerasfer.models.face_template import checked_template
from kerasfer.predict import crop_faces, find_faces
from kerasfer.predict.alignment import MIN_FACES, measure_face_template
from kerasfer.predict.faces import _square_matrix, template_matrix

TEMPLATE = [[0.37, 0.43], [0.63, 0.44]]


def test_synthfaces_template_is_stable_across_sizes_and_seeds():
    templates = []
    for seed, size in ((1, 48), (2, 64), (3, 96)):
        template, found = measure_face_template(make_synthfaces(200, seed=seed, image_size=size), seed=seed)
        assert found >= MIN_FACES and template is not None
        templates.append(template)
    templates = np.stack(templates)
    assert np.ptp(templates, axis=0).max() < 0.02  # the same geometry at every size
    np.testing.assert_allclose(templates.mean(axis=0), TEMPLATE, atol=0.03)  # eyes level, 0.26 of the crop apart


def test_no_template_where_blazeface_finds_no_faces():
    noise = np.random.default_rng(0).integers(0, 256, (60, 48, 48, 3)).astype(np.uint8)
    template, found = measure_face_template(noise)
    assert template is None and found < MIN_FACES


def test_template_crop_puts_the_eyes_exactly_on_the_template():
    astronaut = skimage.data.astronaut()
    boxes, eyes = find_faces(astronaut)
    box_scale = 64 / (max(boxes[0][2:]) * 1.4)
    forward = template_matrix(eyes[0], TEMPLATE, 64, 64, box_scale)
    moved = (forward @ np.c_[eyes[0], np.ones(2)].T)[:2].T
    np.testing.assert_allclose(moved, np.array(TEMPLATE) * 64, atol=1e-9)
    templated = crop_faces(astronaut, boxes, size=64, eyes=eyes, template=TEMPLATE)
    boxed = crop_faces(astronaut, boxes, size=64, eyes=eyes)
    assert templated.shape == boxed.shape == (1, 64, 64, 3) and not np.array_equal(templated, boxed)
    # the crop's own eyes (BlazeFace again, on the crop enlarged) sit on the template
    from PIL import Image

    big = np.asarray(Image.fromarray(templated[0]).resize((256, 256), Image.BILINEAR))
    _, again = find_faces(big, min_face=1)
    np.testing.assert_allclose(again[0] / 256, TEMPLATE, atol=0.04)


def test_implausible_eyes_fall_back_to_the_box_crop():
    astronaut = skimage.data.astronaut()
    boxes, eyes = find_faces(astronaut)
    box_scale = 64 / (max(boxes[0][2:]) * 1.4)
    profile = np.array([eyes[0][0], eyes[0][0] + [3.0, 0.0]])  # eyes 3 px apart: a profile
    rolled = np.array([eyes[0][0], eyes[0][0] + [30.0, 40.0]])  # 53° of roll: a false eye
    for pair in (profile, rolled):
        assert template_matrix(pair, TEMPLATE, 64, 64, box_scale) is None
        np.testing.assert_array_equal(crop_faces(astronaut, boxes, size=64, eyes=pair[None], template=TEMPLATE),
                                      crop_faces(astronaut, boxes, size=64, eyes=pair[None]))
    assert _square_matrix((10, 10), 20, 0.0, 64, 64)[0, 0] == pytest.approx(3.2)


def test_bad_templates_are_refused():
    for bad in ([[0.6, 0.4], [0.4, 0.4]], [[0.3, 1.2], [0.7, 0.4]], [0.3, 0.4], [[np.nan, 0.4], [0.7, 0.4]]):
        with pytest.raises(ValueError, match="face template"):
            checked_template(bad)
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=8)
    with pytest.raises(ValueError, match="face template"):
        model.face_template = [[0.7, 0.4], [0.3, 0.4]]


def test_the_template_is_saved_in_the_model_file(tmp_path):
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=8)
    assert model.face_template is None
    model.save(tmp_path / "plain.keras")
    assert load_model(tmp_path / "plain.keras").face_template is None  # files without one load as before
    model.face_template = TEMPLATE
    model.save(tmp_path / "aligned.keras")
    np.testing.assert_allclose(load_model(tmp_path / "aligned.keras").face_template, TEMPLATE)

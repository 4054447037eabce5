"""BlazeFace on LiteRT: the anchor layout, the decoding on a real face (scikit-image's astronaut), the
eye keypoints that level the crops, the weighted NMS, and bad input."""

import cv2
import numpy as np
import pytest
import skimage.data
from test_predict import ASTRONAUT_FACE, iou, make_scene

from kerasfer.predict import crop_faces, find_faces
from kerasfer.predict.blazeface import (BlazeFaceDetector, anchor_centres, model_file, search_windows, shared_detector,
                                       weighted_nms)
from kerasfer.predict.faces import _level_angle


def test_anchor_layout_matches_both_models():
    full, short = anchor_centres(192, (4,)), anchor_centres(128, (8, 16, 16, 16), 2)
    assert full.shape == (2304, 2) and short.shape == (896, 2)
    np.testing.assert_allclose(full[:2], [[0.5 / 48, 0.5 / 48], [1.5 / 48, 0.5 / 48]])
    np.testing.assert_allclose(short[:2], [[0.5 / 16, 0.5 / 16]] * 2)  # two anchors per cell of the stride-8 grid
    np.testing.assert_allclose(short[512:518], [[0.5 / 8, 0.5 / 8]] * 6)  # three stride-16 layers x 2 share a grid
    assert model_file("full_range").name == "face_detection_full_range.tflite"
    with pytest.raises(ValueError, match="short_range"):
        model_file("tiny")


@pytest.mark.parametrize("model", ["full_range", "short_range"])
def test_finds_the_astronaut_and_nothing_where_there_is_no_face(model):
    detector = BlazeFaceDetector(model)
    faces = detector.detect(skimage.data.astronaut())
    assert len(faces) == 1 and faces.scores[0] > 0.8
    assert iou(faces.boxes[0], ASTRONAUT_FACE) > 0.5
    (left, right) = faces.eyes[0]
    x, y, w, h = faces.boxes[0]
    assert x < left[0] < right[0] < x + w and y < left[1] < y + h / 2  # both eyes in the upper half of the box
    for empty in (skimage.data.coffee(), skimage.data.rocket(), np.full((240, 320, 3), 90, np.uint8)):
        assert len(detector.detect(empty)) == 0


def test_a_face_in_a_wide_scene_and_in_grey():
    scene, known = make_scene()
    boxes, eyes = find_faces(scene)
    assert len(boxes) == 1 and iou(boxes[0], known) > 0.5 and eyes.shape == (1, 2, 2)
    grey = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)  # (a 55-px face in grey scores only 0.15)
    for image in (grey, grey[..., None]):
        assert iou(find_faces(image)[0][0], ASTRONAUT_FACE) > 0.5
    assert len(find_faces(scene, min_face=int(known[2] * 1.5))[0]) == 0  # smaller than asked for
    boxes, eyes = find_faces(scene, detector="haar")
    assert len(boxes) == 1 and eyes is None


def test_the_eyes_follow_a_rotated_head_and_level_the_crop():
    image = skimage.data.astronaut()
    upright = _level_angle(shared_detector().detect(image).eyes[0])
    assert abs(upright) < 8
    x, y, w, h = ASTRONAUT_FACE
    tilted = cv2.warpAffine(image, cv2.getRotationMatrix2D((x + w / 2, y + h / 2), 20, 1.0), (512, 512),
                            borderMode=cv2.BORDER_REPLICATE)
    faces = shared_detector().detect(tilted)
    assert _level_angle(faces.eyes[0]) == pytest.approx(upright - 20, abs=5)  # OpenCV's +20 turns the head anticlockwise
    level = crop_faces(tilted, faces.boxes, size=96, eyes=faces.eyes)
    assert _level_angle(shared_detector().detect(cv2.resize(level[0], (288, 288))).eyes[0]) == pytest.approx(0, abs=5)
    with pytest.raises(ValueError, match=r"\(K, 2, 2\)"):
        crop_faces(tilted, faces.boxes, eyes=np.zeros((2, 2, 2)))


def test_weighted_nms_merges_a_cluster_into_its_score_weighted_mean():
    corners = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], float)
    scores = np.array([0.9, 0.3, 0.6])
    keypoints = np.arange(3 * 6 * 2, dtype=float).reshape(3, 6, 2)
    merged, merged_scores, merged_keypoints = weighted_nms(corners, scores, keypoints, 0.3)
    np.testing.assert_allclose(merged, [[0.25, 0.25, 10.25, 10.25], [50, 50, 60, 60]])
    np.testing.assert_allclose(merged_scores, [0.9, 0.6])
    np.testing.assert_allclose(merged_keypoints[0], (0.9 * keypoints[0] + 0.3 * keypoints[1]) / 1.2)
    empty = weighted_nms(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 6, 2)), 0.3)
    assert empty[0].shape == (0, 4) and empty[2].shape == (0, 6, 2)


def test_bad_settings_and_images_are_refused(tmp_path):
    with pytest.raises(ValueError, match="min_score"):
        BlazeFaceDetector(min_score=1.5)
    with pytest.raises(ValueError, match="nms_iou"):
        BlazeFaceDetector(nms_iou=0)
    with pytest.raises(ValueError, match="anchors"):  # the short-range file read as the full-range model
        BlazeFaceDetector("full_range", model_path=model_file("short_range"))
    with pytest.raises(ValueError, match="uint8"):
        shared_detector().detect(np.zeros((50, 50, 3), np.float32))
    with pytest.raises(ValueError, match="unknown face detector 'retinaface'"):
        find_faces(skimage.data.astronaut(), detector="retinaface")
    with pytest.raises(ValueError, match="min_face"):
        find_faces(skimage.data.astronaut(), min_face=0)


def test_search_windows_cover_a_large_photo_with_overlapping_tiles():
    assert search_windows(480, 640) == [(0, 0, 640)]  # a video frame: one pass, as MediaPipe
    assert search_windows(1080, 1920, tile=None) == [(0, 0, 1920)]
    windows = search_windows(1080, 1920)
    assert windows[0] == (0, 0, 1920) and {side for _, _, side in windows[1:]} == {640, 1280}
    for side in (640, 1280):
        covered = np.zeros((1080, 1920), bool)
        tiles = [(x, y) for x, y, s in windows if s == side]
        for x, y in tiles:
            assert x + side <= 1920 and (y + side <= 1080 or y == 0)
            covered[y:y + side, x:x + side] = True
        assert covered.all()
        steps = sorted({x for x, _ in tiles})
        assert all(b - a <= int(0.75 * side) for a, b in zip(steps, steps[1:]))  # neighbours overlap by >= 25 %


def _small_face_scene(face_side: int, at, size=(1080, 1920)):
    """The astronaut scaled so her face is `face_side` px, pasted with its surroundings at `at` into a large
    real, face-free photo; returns (scene, face box)."""
    ground = cv2.resize(skimage.data.coffee(), size[::-1], interpolation=cv2.INTER_LINEAR)
    scale = face_side / ASTRONAUT_FACE[2]
    small = cv2.resize(skimage.data.astronaut(), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    x, y = at
    ground[y:y + small.shape[0], x:x + small.shape[1]] = small
    fx, fy, fw, fh = (np.array(ASTRONAUT_FACE) * scale).round().astype(int)
    return ground, (x + fx, y + fy, fw, fh)


def test_tiles_find_a_small_face_in_a_large_photo_that_one_pass_misses():
    scene, face = _small_face_scene(48, (1300, 600))
    whole = BlazeFaceDetector(tile=None).detect(scene, min_face=30)
    assert not any(iou(box, face) > 0.5 for box in whole.boxes)  # 48 px of 1920 is 5 px at the 192-px input
    tiled = BlazeFaceDetector().detect(scene, min_face=30)
    assert len(tiled) == 1 and iou(tiled.boxes[0], face) > 0.5


def test_a_face_on_a_tile_edge_is_found_once():
    for at in ((439, 200), (1200, 380)):  # face across x = 640, the right edge of the first tile; inside one
        scene, face = _small_face_scene(90, at, size=(900, 1700))
        faces = BlazeFaceDetector().detect(scene, min_face=30)
        assert len(faces) == 1 and iou(faces.boxes[0], face) > 0.5, at


def test_mtcnn_is_an_option_behind_find_faces():
    pytest.importorskip("mtcnn", reason="the optional MTCNN detector needs `pip install mtcnn==1.0.0` (the dev extra)")
    boxes, eyes = find_faces(skimage.data.astronaut(), detector="mtcnn")
    assert len(boxes) == 1 and iou(boxes[0], ASTRONAUT_FACE) > 0.5
    (left, right) = eyes[0]
    assert left[0] < right[0] and abs(left[1] - right[1]) < 10  # image-left eye first, nearly level
    assert len(find_faces(skimage.data.coffee(), detector="mtcnn")[0]) == 0

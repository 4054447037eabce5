"""Face identities in videos: the IoU tracker, and `predict_paths` keeping a moving face's track id while
the detector runs only every few frames."""

import cv2
import numpy as np
import pytest
import skimage.data
from test_predict import ASTRONAUT_FACE, iou, models  # noqa: F401  (the models fixture)

from kerasfer.predict import predict_paths
from kerasfer.predict.tracking import IoUTracker, pairwise_iou


def test_tracks_continue_start_and_end():
    tracker = IoUTracker()
    assert tracker.update([[0, 0, 10, 10], [100, 0, 10, 10]]).tolist() == [0, 1]
    assert tracker.update([[102, 1, 10, 10], [2, 0, 10, 10]]).tolist() == [1, 0]  # order of the boxes does not matter
    assert tracker.update([[3, 0, 10, 10], [300, 300, 20, 20]]).tolist() == [0, 2]  # track 1 ended, 2 started
    assert tracker.update([]).tolist() == []
    assert tracker.update([[3, 0, 10, 10]]).tolist() == [3]  # after a frame without faces: a new track
    twins = IoUTracker()
    twins.update([[0, 0, 10, 10]])
    assert sorted(twins.update([[0, 0, 10, 10], [1, 0, 10, 10]]).tolist()) == [0, 1]  # one id per box
    with pytest.raises(ValueError, match="iou"):
        IoUTracker(iou=0)


def test_pairwise_iou():
    np.testing.assert_allclose(pairwise_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]]),
                               [[1.0, 50 / 150, 0.0]])
    assert pairwise_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


def test_a_moving_face_keeps_its_track_while_the_detector_runs_every_other_frame(tmp_path, models):  # noqa: F811
    face = cv2.resize(skimage.data.astronaut(), (300, 300), interpolation=cv2.INTER_AREA)  # the face: 56 px
    path = tmp_path / "walk.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (480, 320))
    starts = [(10 + 12 * t, 10) for t in range(6)]
    for x, y in starts:
        frame = np.full((320, 480, 3), 90, np.uint8)
        frame[y:y + 300, x:x + 300] = face
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()

    table = predict_paths([path], models["keras"], detect_every=2, progress=False)

    assert table["frame"].tolist() == list(range(6)) and table["track"].tolist() == [0] * 6
    boxes = table[["x", "y", "w", "h"]].to_numpy(float)
    np.testing.assert_array_equal(boxes[1], boxes[0])  # frame 1 reuses frame 0's detection
    assert not np.array_equal(boxes[2], boxes[0])  # frame 2 is detected again: the face moved 24 px
    s = 300 / 512
    fx, fy, fw, fh = ASTRONAUT_FACE
    for (x, y), box in zip(starts[::2], boxes[::2]):
        assert iou(box, (x + fx * s, y + fy * s, fw * s, fh * s)) > 0.5
    metrics = table.attrs["metrics"]
    assert metrics["detect_every"] == 2 and metrics["tracks"] == 1
    with pytest.raises(ValueError, match="detect-every"):
        predict_paths([path], models["keras"], detect_every=0, progress=False)

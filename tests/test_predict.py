"""`kerasfer predict`: a real face (scikit-image's astronaut) found in a scene, classified by .keras and .tflite."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import skimage.data

from kerasfer import EMOTIONS
from kerasfer.cli import main
from kerasfer.predict import crop_faces, detect_faces, eye_angle, predict_images, predict_paths

# The astronaut's face (brow to chin) in skimage.data.astronaut(), 512×512, labelled by eye: x, y, w, h.
ASTRONAUT_FACE = (170, 60, 95, 100)
PASTE_AT, PASTE_SIZE = (300, 100), 300  # where (x, y) and how large (px) the photo goes into the scene


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def make_scene(size=(480, 640), paste_at=PASTE_AT, paste_size=PASTE_SIZE):
    """The astronaut photo resized and pasted into a flat grey scene; returns (RGB scene, known face box)."""
    scene = np.full((*size, 3), 90, np.uint8)
    x, y = paste_at
    scene[y:y + paste_size, x:x + paste_size] = cv2.resize(skimage.data.astronaut(), (paste_size, paste_size),
                                                         interpolation=cv2.INTER_AREA)
    s = paste_size / 512
    fx, fy, fw, fh = ASTRONAUT_FACE
    return scene, (x + fx * s, y + fy * s, fw * s, fh * s)


def write_rgb(path, image):
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_faces):
    """An untrained 32×32 EmotionClassifier as .keras and as an int8 .tflite with its sidecar."""
    import keras

    from kerasfer.export import to_tflite
    from kerasfer.models import EmotionClassifier

    folder = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=16, head_units=16)
    model.save(folder / "fer.keras")
    to_tflite(model, folder / "fer.tflite", mode="int8", representative_data=tiny_faces, num_calibration=32)
    return {"keras": folder / "fer.keras", "tflite": folder / "fer.tflite"}


def check_rows(table, labels=EMOTIONS):
    assert set(table["emotion"]) <= set(labels)
    probs = table[[f"p_{label}" for label in labels]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(table["probability"], probs.max(axis=1), atol=1e-6)


def test_detect_faces_finds_the_astronaut_pasted_into_a_scene():
    scene, known = make_scene()
    boxes = detect_faces(scene)
    assert len(boxes) == 1
    assert iou(boxes[0], known) > 0.5
    assert detect_faces(np.full((240, 320, 3), 90, np.uint8)).shape == (0, 4)
    big = cv2.resize(scene, (2560, 1920), interpolation=cv2.INTER_CUBIC)  # searched at 1280 px, boxes mapped back
    (big_box,) = detect_faces(big)
    assert iou(big_box, [4 * v for v in known]) > 0.5
    with pytest.raises(ValueError, match="min_face"):
        detect_faces(scene, min_face=2)
    with pytest.raises(ValueError, match="uint8"):
        detect_faces(scene.astype(np.float32))


def test_eye_angle_follows_a_rotated_head_and_crops_come_out_level():
    image = skimage.data.astronaut()
    box = detect_faces(image)[0]
    upright = eye_angle(image, box)
    assert abs(upright) < 8  # she holds her head nearly level
    centre = (box[0] + box[2] / 2, box[1] + box[3] / 2)
    tilted = cv2.warpAffine(image, cv2.getRotationMatrix2D(centre, 12, 1.0), (512, 512),
                            borderMode=cv2.BORDER_REPLICATE)
    tilted_box = detect_faces(tilted)[0]
    assert eye_angle(tilted, tilted_box) == pytest.approx(upright - 12, abs=5)  # rotating by the angle levels the eyes
    crops = crop_faces(tilted, [tilted_box], size=48, channels=1)
    assert crops.shape == (1, 48, 48, 1) and crops.dtype == np.uint8
    assert crop_faces(image, [box], size=(40, 30), align=False).shape == (1, 40, 30, 3)


@pytest.mark.parametrize("kind", ["keras", "tflite"])
def test_predict_paths_on_a_folder_labels_the_face_and_skips_non_images(tmp_path, models, kind):
    scene, known = make_scene()
    photos = tmp_path / "photos"
    photos.mkdir()
    write_rgb(photos / "scene.jpg", scene)
    write_rgb(photos / "empty.png", np.full((120, 160, 3), 200, np.uint8))
    (photos / "notes.txt").write_text("not a photo")
    (photos / "broken.png").write_bytes(b"\x89PNG but not really")
    out = tmp_path / "out"

    table = predict_paths([photos], models[kind], out=out, progress=False)

    assert len(table) == 1 and table.loc[0, "file"].endswith("scene.jpg")
    assert iou(table.loc[0, ["x", "y", "w", "h"]].to_numpy(float), known) > 0.5
    check_rows(table)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model_kind"] == kind
    assert (metrics["photos"], metrics["frames"], metrics["frames_with_faces"], metrics["faces"]) == (2, 2, 1, 1)
    assert metrics["skipped"] == 2
    assert {s["file"].rsplit("/", 1)[1] for s in metrics["skipped_files"]} == {"notes.txt", "broken.png"}
    csv = pd.read_csv(out / "predictions.csv")
    assert list(csv.columns[:10]) == ["file", "frame", "face", "track", "x", "y", "w", "h", "emotion", "probability"]
    assert len(csv) == 1 and csv.loc[0, "emotion"] == table.loc[0, "emotion"]
    annotated = cv2.imread(str(out / "annotated" / "scene.jpg"))
    assert annotated.shape == scene.shape
    assert np.abs(annotated.astype(int) - scene[..., ::-1]).max() > 100  # the box and label are drawn


def test_video_every_nth_frame(tmp_path, models):
    scene, known = make_scene(size=(300, 400), paste_at=(120, 20), paste_size=260)
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (400, 300))
    assert writer.isOpened()
    for _ in range(7):
        writer.write(cv2.cvtColor(scene, cv2.COLOR_RGB2BGR))
    writer.release()

    table = predict_paths([path], models["keras"], out=tmp_path / "out", every=3, progress=False)

    assert table["frame"].tolist() == [0, 3, 6]
    assert all(iou(row, known) > 0.5 for row in table[["x", "y", "w", "h"]].to_numpy(float))
    check_rows(table)
    metrics = table.attrs["metrics"]
    assert (metrics["videos"], metrics["frames"], metrics["faces"], metrics["every"]) == (1, 3, 3, 3)
    assert sorted(p.name for p in (tmp_path / "out" / "annotated").iterdir()) == [
        "clip_frame000000.jpg", "clip_frame000003.jpg", "clip_frame000006.jpg"]


def test_predict_images_with_an_in_memory_model(models):
    from kerasfer.models import load_model

    scene, _ = make_scene()
    table = predict_images([scene, np.zeros((100, 100, 3), np.uint8)], load_model(models["keras"]),
                           names=["scene", "black"])
    assert table["file"].tolist() == ["scene"]
    check_rows(table)
    empty = predict_images([np.zeros((100, 100, 3), np.uint8)], models["keras"])
    assert len(empty) == 0 and "emotion" in empty.columns


def test_cli_predict_writes_outputs_and_refuses_bad_inputs(tmp_path, models, capsys):
    scene, _ = make_scene()
    photo = write_rgb(tmp_path / "scene.png", scene)
    out = tmp_path / "out"
    assert main(["predict", str(photo), "--model", str(models["tflite"]), "--out", str(out)]) == 0
    assert "1 face(s) in 1 of 1" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["faces"] == 1

    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "broken.jpg").write_bytes(b"nope")
    orphan = tmp_path / "orphan.tflite"
    orphan.write_bytes(models["tflite"].read_bytes())
    cases = [
        ([str(tmp_path / "missing.jpg")], models["keras"], "no such file or folder"),
        ([str(tmp_path / "notes.txt")], models["keras"], "unsupported file type '.txt'"),
        ([str(tmp_path / "broken.jpg")], models["keras"], "cannot read image"),
        ([str(photo)], tmp_path / "missing.keras", "--model: no such file"),
        ([str(photo)], tmp_path / "notes.txt", "--model must be a .keras or .tflite file"),
        ([str(photo)], orphan, "sidecar"),
        ([str(photo), "--every", "0"], models["keras"], "--every must be a positive integer"),
    ]
    for paths, model, message in cases:
        assert main(["predict", *paths, "--model", str(model), "--out", str(tmp_path / "o2")]) == 2, message
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (message, err)


def test_grey_models_get_grey_crops_and_non_emotion_models_are_refused():
    import keras

    inputs = keras.Input((24, 24, 1))
    grey = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(inputs)))
    scene, known = make_scene()
    table = predict_images([scene], grey)
    assert len(table) == 1 and iou(table.loc[0, ["x", "y", "w", "h"]].to_numpy(float), known) > 0.5
    check_rows(table)
    aus = keras.Model(inputs, keras.layers.Dense(13, activation="sigmoid")(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="emotion classifier with 7 outputs"):
        predict_images([scene], aus)

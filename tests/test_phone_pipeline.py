"""The phone's whole chain: `kerasfer export` writes BlazeFace beside the classifier, and the TF-free
`export/run_tflite.py --detector` finds, aligns and classifies the faces of a photo as `kerasfer predict` does."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from test_export import _load_runner
from test_predict import make_scene, models, write_rgb  # noqa: F401  (the models fixture)

from kerasfer.export.detector import DETECTOR_FORMAT, write_detector
from kerasfer.predict import predict_paths

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = [[0.37, 0.43], [0.63, 0.44]]  # SynthFaces' eyes (tests/test_alignment.py)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Three photos: the astronaut in a scene, turned 20°, and two faces side by side."""
    folder = tmp_path_factory.mktemp("photos")
    scene, _ = make_scene()
    astronaut = skimage.data.astronaut()
    tilted = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((220, 110), 20, 1.0), (512, 512),
                            borderMode=cv2.BORDER_REPLICATE)
    pair = np.concatenate([astronaut, cv2.flip(astronaut, 1)], axis=1)
    return [write_rgb(folder / f"{name}.png", image)
            for name, image in (("scene", scene), ("tilted", tilted), ("pair", pair))]


def test_the_detector_sidecar_describes_the_model(tmp_path):
    path = write_detector(tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["format"] == DETECTOR_FORMAT and meta["input"]["height"] == 192
    assert meta["anchors"] == {**meta["anchors"], "strides": [4], "per_layer": 1, "offset": 0.5}
    assert meta["min_score"] == 0.5 and meta["crop"]["margin"] == 0.2 and len(meta["sha256"]) == 64
    assert path.read_bytes()[4:8] == b"TFL3"


def _check_runner_matches_predict(model_path, photos, detector_path):
    """The runner's boxes, labels and probabilities on `photos` equal `kerasfer predict`'s; returns the table."""
    module = _load_runner()
    runner, detector = module.Runner(model_path), module.FaceDetector(detector_path)
    table = predict_paths(photos, model_path, progress=False)
    for photo in photos:
        ours = table[table["file"] == str(photo)]
        theirs = module.classify_faces(runner, detector, photo)
        assert [box for _, box, _, _ in theirs] == [tuple(row) for row in ours[["x", "y", "w", "h"]].to_numpy()]
        assert [label for _, _, label, _ in theirs] == ours["emotion"].tolist()
        # the same crops: kerasfer only renormalises the dequantized probabilities to sum to 1
        np.testing.assert_allclose([p for *_, p in theirs], ours["probability"], atol=1 / 256)
    return table


def test_runner_finds_the_same_boxes_and_labels_as_kerasfer_predict(models, photos, tmp_path):  # noqa: F811
    table = _check_runner_matches_predict(models["tflite"], photos, write_detector(tmp_path))
    assert len(table) == 4  # one, one and two faces


def test_runner_aligns_to_the_models_face_template_as_predict_does(photos, tiny_faces, tmp_path):
    import keras

    from kerasfer.export import to_tflite
    from kerasfer.models import EmotionClassifier

    keras.utils.set_random_seed(0)
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=16, head_units=16)
    model.face_template = TEMPLATE
    meta = to_tflite(model, tmp_path / "fer.tflite", mode="int8", representative_data=tiny_faces, num_calibration=32)
    assert meta["input"]["face_template"] == TEMPLATE
    detector_path = write_detector(tmp_path)
    assert json.loads(detector_path.with_suffix(".json").read_text())["crop"]["max_scale_ratio"] == 1.5
    _check_runner_matches_predict(tmp_path / "fer.tflite", photos, detector_path)


def test_runner_crops_are_kerasfers_pixel_for_pixel(photos):
    from PIL import Image

    from kerasfer.predict import crop_faces, find_faces

    module = _load_runner()
    for photo in photos:
        rgb = np.asarray(Image.open(photo).convert("RGB"))
        boxes, eyes = find_faces(rgb)
        for size, channels, template in ((32, 3, None), (48, 1, None), (40, 3, TEMPLATE)):
            ours = crop_faces(rgb, boxes, size=size, channels=channels, eyes=eyes, template=template)
            for crop, box, pair in zip(ours, boxes, eyes):
                theirs = module.align_crop(rgb, box, pair, margin=0.2, height=size, width=size, template=template)
                if channels == 1:
                    theirs = np.asarray(Image.fromarray(theirs).convert("L"))[..., None]
                np.testing.assert_array_equal(crop, theirs)


def test_runner_command_line_with_the_detector_is_tf_free(models, photos, tmp_path):  # noqa: F811
    detector_path = write_detector(tmp_path)
    code = ("import runpy, sys; sys.argv = ['run_tflite.py'] + sys.argv[1:]\n"
            "try:\n    runpy.run_path(%r, run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print('TF_LOADED' if 'tensorflow' in sys.modules or 'kerasfer' in sys.modules else 'TF_FREE')"
            % str(ROOT / "export" / "run_tflite.py"))
    proc = subprocess.run([sys.executable, "-c", code, str(models["tflite"]), str(photos[2]), "--detector",
                           str(detector_path)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "TF_FREE" and len(lines) == 3  # two faces, then the check
    path, face, x, y, w, h, label, prob = lines[0].split("\t")
    assert path == str(photos[2]) and face == "0" and int(w) > 40 and 0 < float(prob) <= 1
    bad = tmp_path / "not_a_detector.json"
    bad.write_text(json.dumps({"format": "something else"}))
    (tmp_path / "other.tflite").write_bytes(detector_path.read_bytes())
    (tmp_path / "other.json").write_text(bad.read_text())
    proc = subprocess.run([sys.executable, str(ROOT / "export" / "run_tflite.py"), str(models["tflite"]),
                           str(photos[0]), "--detector", str(tmp_path / "other.tflite")], capture_output=True, text=True)
    assert proc.returncode == 2 and "not a kerasfer face-detector sidecar" in proc.stderr

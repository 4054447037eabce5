"""Does aligning crops to the model's face template help? Box crops vs template crops of faces in scenes.

A baseline is trained on SynthFaces (`train_model`, which measures the training faces' template:
where BlazeFace finds their eyes). Each clean, balanced test face is then rendered larger, turned
(±15°), scaled (0.7–1.4×) and pasted at a random place into a 320 × 320 real photo without faces
(scikit-image's and scikit-learn's sample photos), as a face in the wild would appear. BlazeFace finds
it and the face is cropped two ways for the same model:

* ``box``: the detector's box grown by the margin, eyes levelled (the crop without a template);
* ``template``: the similarity that puts the eyes where the training faces have them.

Printed: the faces found, the accuracy on the original test images (the ceiling) and on each kind of
crop, with the difference, per seed. Seeded; nothing downloaded.

    python benchmarks/alignment.py [--seeds 0,1,2] [--n-train 3000] [--n-test 700] [--epochs 8]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

SCENE = 320


def backgrounds() -> list:
    """Real photos without a face, as RGB arrays."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    photos = [skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket(), load_sample_image("china.jpg")]
    return [cv2.resize(p, None, fx=480 / min(p.shape[:2]), fy=480 / min(p.shape[:2])) for p in photos]


def scene_of(face: np.ndarray, ground: np.ndarray, rng) -> tuple[np.ndarray, tuple]:
    """`face` turned, scaled and pasted into a SCENE-pixel crop of `ground`; returns (scene, pasted square)."""
    y0 = int(rng.integers(0, ground.shape[0] - SCENE))
    x0 = int(rng.integers(0, ground.shape[1] - SCENE))
    scene = ground[y0:y0 + SCENE, x0:x0 + SCENE].copy()
    side = int(face.shape[0] * rng.uniform(0.7, 1.4))
    matrix = cv2.getRotationMatrix2D((face.shape[1] / 2, face.shape[0] / 2), float(rng.uniform(-15, 15)),
                                     side / face.shape[0])
    matrix[:, 2] += (side - face.shape[1]) / 2, (side - face.shape[0]) / 2
    patch = cv2.warpAffine(face, matrix, (side, side), borderMode=cv2.BORDER_REPLICATE)
    x, y = int(rng.integers(0, SCENE - side)), int(rng.integers(0, SCENE - side))
    scene[y:y + side, x:x + side] = patch
    return scene, (x, y, side, side)


def run(seed: int, n_train: int, n_test: int, epochs: int) -> dict:
    """Train on one seed; the accuracies on the originals, the box crops and the template crops."""
    import keras

    from kerasfer.data import make_synthfaces
    from kerasfer.predict import crop_faces, find_faces
    from kerasfer.predict.classifier import FaceClassifier
    from kerasfer.training import train_model

    keras.utils.set_random_seed(seed)
    train = make_synthfaces(n_train, seed=100 + seed, image_size=64)
    model, metrics = train_model("baseline", train, epochs=epochs, seed=seed, verbose=0)
    test = make_synthfaces(n_test, seed=200 + seed, image_size=64)
    big = make_synthfaces(n_test, seed=200 + seed, image_size=128).load_images().astype(np.uint8)  # the same faces
    classifier = FaceClassifier(model)
    original = classifier.predict(test.load_images().astype(np.uint8)).argmax(1)
    rng = np.random.default_rng(seed)
    grounds = backgrounds()
    right = {"box": 0, "template": 0}
    found = 0
    for face, label in zip(big, test.labels):
        scene, square = scene_of(face, grounds[int(rng.integers(len(grounds)))], rng)
        boxes, eyes = find_faces(scene, min_face=20)
        if not len(boxes):
            continue
        centre = np.array([square[0] + square[2] / 2, square[1] + square[3] / 2])
        best = int(np.argmin(np.linalg.norm(boxes[:, :2] + boxes[:, 2:] / 2 - centre, axis=1)))
        found += 1
        for kind, template in (("box", None), ("template", model.face_template)):
            crop = crop_faces(scene, boxes[best:best + 1], size=64, eyes=eyes[best:best + 1], template=template)
            right[kind] += int(classifier.predict(crop).argmax(1)[0] == label)
    return {"seed": seed, "template": metrics["face_template"], "found": found, "n": n_test,
            "original": float((original == test.labels).mean()),
            "box": right["box"] / max(found, 1), "template_acc": right["template"] / max(found, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-test", type=int, default=700)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rows = [run(int(s), args.n_train, args.n_test, args.epochs) for s in args.seeds.split(",")]
    print(f"{'seed':>4} {'template eyes (l, r)':<30} {'found':>9} {'original':>9} {'box crop':>9} "
          f"{'template':>9} {'template - box':>15}")
    for r in rows:
        eyes = r["template"]["eyes"]
        print(f"{r['seed']:>4} {str(eyes):<30} {r['found']:>4}/{r['n']:<4} {r['original']:>9.3f} {r['box']:>9.3f} "
              f"{r['template_acc']:>9.3f} {100 * (r['template_acc'] - r['box']):>+14.1f}pt")
    gain = np.mean([r["template_acc"] - r["box"] for r in rows])
    print(f"\nmean over {len(rows)} seeds: template crop {100 * gain:+.1f} points of accuracy vs the box crop")


if __name__ == "__main__":
    main()

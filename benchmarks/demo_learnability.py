"""The foundation's learnability check, with the demo's exact settings (`kerasfer.demo.run_demo`).

1. Trained on *clean* SynthFaces, the baseline must reach >= 85 % on the clean test set (< 100 %).
2. Trained with `bias="demo"`, the same baseline must show a clear gap on the clean test set:
   worst group at least 10 points below the best.

Usage: python benchmarks/demo_learnability.py [--seed 0] [--n-train N] [--epochs E] [--image-size S]
(the demo's defaults unless given; twice the demo's time on 2 CPU cores)
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pandas as pd  # noqa: E402

from kerasfer.demo import DEMO_DEFAULTS, run_demo  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=DEMO_DEFAULTS["n_train"])
    parser.add_argument("--epochs", type=int, default=DEMO_DEFAULTS["epochs"])
    parser.add_argument("--image-size", type=int, default=DEMO_DEFAULTS["image_size"])
    parser.add_argument("--biases", default="clean,demo", help="which training sets: clean, demo or both")
    args = parser.parse_args()
    print(f"settings: n_train={args.n_train} epochs={args.epochs} image={args.image_size}px seed={args.seed}")
    rows = []
    for bias in [None if b == "clean" else b for b in args.biases.split(",")]:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            metrics = run_demo(out, bias=bias, seed=args.seed, verbose=0, n_train=args.n_train, epochs=args.epochs,
                               image_size=args.image_size)
        groups = {f"{a}={g}": v["accuracy"] for a, d in metrics["per_group"].items() for g, v in d.items()}
        best = max(groups, key=groups.get)
        rows.append({
            "training data": bias or "clean",
            "test accuracy": round(metrics["accuracy"], 3),
            "best group": f"{best} {groups[best]:.3f}",
            "worst group": f"{metrics['worst_group']} {metrics['worst_group_accuracy']:.3f}",
            "gap (points)": round(100 * (groups[best] - metrics["worst_group_accuracy"]), 1),
            "train s": metrics["train_seconds"],
            "wall s": round(time.perf_counter() - start, 1),
        })
    print(pd.DataFrame(rows).to_string(index=False))
    print("targets: clean accuracy >= 0.85 (< 1.0); demo-bias gap >= 10 points; demo training <= 180 s")


if __name__ == "__main__":
    main()

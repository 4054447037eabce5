"""The foundation's learnability check, with the demo's exact settings (`kerasfer.demo.run_demo`).

1. Trained on *clean* SynthFaces, the baseline must reach >= 85 % on the clean test set (< 100 %).
2. Trained with `bias="demo"`, the same baseline must show a clear gap on the clean test set:
   worst group at least 10 points below the best.

Usage: python benchmarks/demo_learnability.py [--seed 0]   (about 4-5 minutes on 2 CPU cores)
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pandas as pd  # noqa: E402

from kerasfer.demo import run_demo  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for bias in (None, "demo"):
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            metrics = run_demo(out, bias=bias, seed=args.seed, verbose=0)
        groups = {f"{a}={g}": v["accuracy"] for a, d in metrics["per_group"].items() for g, v in d.items()}
        best = max(groups, key=groups.get)
        rows.append({
            "training data": bias or "clean",
            "test accuracy": round(metrics["accuracy"], 3),
            "best group": f"{best} {groups[best]:.3f}",
            "worst group": f"{metrics['worst_group']} {metrics['worst_group_accuracy']:.3f}",
            "gap (points)": round(100 * (groups[best] - metrics["worst_group_accuracy"]), 1),
            "wall s": round(time.perf_counter() - start, 1),
        })
    print(pd.DataFrame(rows).to_string(index=False))
    print("targets: clean accuracy >= 0.85 (< 1.0); demo-bias gap >= 10 points; demo wall time < 180 s")


if __name__ == "__main__":
    main()

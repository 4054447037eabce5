"""SynthFaces rendering speed: 10,000 faces at 64×64×3 (target: under 5 s on 2 cores).

Usage: python benchmarks/synthfaces_speed.py [--n 10000] [--repeats 3]
"""

import argparse
import time

import pandas as pd

from kerasfer.data import make_synthfaces


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for bias in (None, "demo"):
        for channels in (3, 1):
            times = []
            for r in range(args.repeats):
                start = time.perf_counter()
                make_synthfaces(args.n, seed=r, image_size=64, channels=channels, bias=bias)
                times.append(time.perf_counter() - start)
            rows.append({"bias": bias or "clean", "channels": channels, "n": args.n,
                         "median_s": round(sorted(times)[len(times) // 2], 2), "target_s": 5.0})
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()

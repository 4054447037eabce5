"""Input pipeline speed: decode + augment throughput from JPEG files vs. the baseline's training rate.

Writes a fabricated RAF-DB (100×100 JPEGs, `kerasfer.data.miniature`), reads it with `read_rafdb`
at 64×64 and measures, in one process:

1. decode + resize only (images/s),
2. decode + resize + `default_augmentation()` — what training with augmentation draws,
3. cached decode + augmentation (second epoch of ``cache=True``),
4. the baseline `EmotionClassifier`'s training consumption (images/s of ``fit`` on in-memory
   batches, after a warm-up epoch that traces the graph),

then prints the table and the ratio pipeline / training (target >= 3).

Usage:
    python benchmarks/pipeline.py [--n 2000] [--batch-size 64] [--workdir /tmp/kerasfer-bench]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def rate(dataset, count: int) -> float:
    """Images per second of one pass over `dataset` (after pulling one warm-up batch)."""
    iterator = iter(dataset)
    next(iterator)
    seen, start = 0, time.perf_counter()
    for batch in iterator:
        seen += int(batch["image"].shape[0])
    return seen / (time.perf_counter() - start) if seen else float("nan")


def main(argv=None) -> dict:
    """Run the benchmark; return the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="JPEG files to write and read (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--workdir", default=None, help="where to write the JPEGs (default: a temp folder)")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from kerasfer.data import default_augmentation, read_rafdb
    from kerasfer.data.miniature import make_mini_rafdb
    from kerasfer.models import EmotionClassifier

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="kerasfer-bench-"))
    if not (workdir / "basic" / "EmoLabel").exists():
        make_mini_rafdb(workdir / "basic", n_train=args.n, n_test=1, original=False)
    data = read_rafdb(workdir / "basic", "train", image_size=args.image_size)
    n, b = len(data), args.batch_size
    augment = default_augmentation(seed=0)
    load = os.getloadavg()[0]

    results = {
        "decode + resize": rate(data.dataset(b, seed=0), n),
        "decode + resize + augment": rate(data.dataset(b, seed=0, augment=augment), n),
    }
    cached = data.dataset(b, seed=0, augment=augment, cache=True)
    rate(cached, n)  # first epoch fills the cache
    results["cached decode + augment (epoch 2)"] = rate(cached, n)

    images = data.load_images()
    from kerasfer.data import FaceData

    in_memory = FaceData(images=images, labels=data.labels)
    model = EmotionClassifier(input_shape=(args.image_size, args.image_size, 3))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    train_ds = in_memory.dataset(b, seed=0).cache()
    model.fit(train_ds.take(4), epochs=1, verbose=0)  # trace + warm up
    start = time.perf_counter()
    model.fit(train_ds, epochs=1, verbose=0)
    results["baseline training consumption"] = n / (time.perf_counter() - start)

    consume = results["baseline training consumption"]
    supply = results["decode + resize + augment"]
    print(f"\nkerasfer input pipeline, {n} JPEGs 100x100 -> {args.image_size}x{args.image_size}, batch {b}, "
          f"{os.cpu_count()} CPU(s), TF {tf.__version__}, 1-min load average at start {load:.1f}")
    print(f"{'stage':<40}{'images/s':>12}")
    for name, value in results.items():
        print(f"{name:<40}{value:>12.0f}")
    print(f"{'ratio decode+augment / training':<40}{supply / consume:>12.1f}x  (target >= 3x)")
    return {**results, "ratio": supply / consume, "load_average": load, "n": n}


if __name__ == "__main__":
    main()

"""Does FairVAE close the gap? The mitigations against the kerasfer baseline and the plain CNN, in two regimes.

Trained on SynthFaces in two regimes, evaluated on a clean, balanced test set:

* ``stereotype``: dark skin rare and stereotyped as angry, women stereotyped as happy (the demo's
  bias without its label noise);
* ``noisy``: the same plus biased annotators — 30 % of dark-skinned faces labelled angry whatever
  their expression (the demo's bias, `kerasfer.data.DEMO_BIAS`).

Mean ± std over seeds of: accuracy, worst-group accuracy (over skin groups), equalized-odds
difference for skin (max over classes, one-vs-rest, fairlearn), leakage of skin from the latent the
head reads (balanced accuracy of a held-out logistic-regression probe and of an MLP probe; chance =
0.333), wall time; plus the cost of one training step of FairVAE vs the baseline (same batch),
measured side by side (alternating epochs, median ratio). The plain CNN is the 20-line Keras model
of `benchmarks/capacity.py` (`fit`, Adam 1e-3; no latent, so no leakage).

Usage: python benchmarks/fairness_synthfaces.py [--seeds 3] [--regimes stereotype,noisy] [--methods ...]
                                               [--n-train 4000] [--epochs 10] [--image-size 32]
"""

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from kerasfer.data import make_synthfaces  # noqa: E402
from kerasfer.data.bias import DEMO_BIAS  # noqa: E402
from kerasfer.fairness import equalized_odds_gap, leakage  # noqa: E402
from kerasfer.models.predict import predict_proba  # noqa: E402
from kerasfer.training import build_model, train_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from capacity import plain_cnn, train_reference  # noqa: E402  (the 20-line CNN, trained the same way)

REGIMES = {"stereotype": replace(DEMO_BIAS, label_noise=()), "noisy": DEMO_BIAS}
#: FairVAE settings the rows start from. "FairVAE (default)" rows use the defaults of `FairVAE` and
#: `train_model` (standard encoder, head on z_mean, label noise on skin, MMD alignment, adversaries
#: watching only, loss reweighted by skin × label); the others name what they change.
OFF = {"reweight_attribute": None, "lambda_adv": 0.5}  # the previous releases: no reweighting, adversary on
PHONE = {**OFF, "size": "phone", "head_input": "sample", "label_noise": None}  # the previous release's default
STANDARD = {**OFF, "size": "standard", "head_input": "sample", "label_noise": None}
HEAD_MEAN = {**OFF, "size": "standard", "head_input": "mean", "label_noise": None}
ADVERSARY = {"lambda_adv": 0.5}
METHODS = {
    "plain CNN": (None, {}),
    "baseline": ("baseline", {}),
    "reweighted baseline": ("reweighted", {}),
    "reweighted baseline + label noise": ("reweighted", {"label_noise": "skin"}),
    "domain-independent baseline": ("domain_independent", {}),
    "baseline + label noise": ("baseline", {"label_noise": "skin"}),
    "baseline + erasure": ("baseline", {"erasure": ("skin",)}),
    "baseline + label noise + erasure": ("baseline", {"label_noise": "skin", "erasure": ("skin",)}),
    "FairVAE phone (previous default)": ("fairvae", PHONE),
    "FairVAE phone conditional": ("fairvae", {**PHONE, "adversary_conditional": True, "alignment": "conditional"}),
    "FairVAE phone + label noise": ("fairvae", {**PHONE, "label_noise": "skin"}),
    "FairVAE phone + erasure": ("fairvae", {**PHONE, "erasure": ("skin",)}),
    "FairVAE phone + label noise + erasure": ("fairvae", {**PHONE, "label_noise": "skin", "erasure": ("skin",)}),
    "FairVAE standard": ("fairvae", STANDARD),
    "FairVAE standard + label noise + erasure": ("fairvae", {**STANDARD, "label_noise": "skin", "erasure": ("skin",)}),
    "FairVAE standard head-mean": ("fairvae", HEAD_MEAN),
    "FairVAE standard head-mean + label noise": ("fairvae", {**HEAD_MEAN, "label_noise": "skin"}),
    "FairVAE (default)": ("fairvae", {}),
    "FairVAE (default) without reweighting": ("fairvae", {"reweight_attribute": None}),
    "FairVAE (default) without label noise": ("fairvae", {"label_noise": None}),
    "FairVAE (default) + intersectional label noise": ("fairvae", {"label_noise": ("gender", "skin", "age")}),
    "FairVAE (default) + erasure": ("fairvae", {"erasure": ("skin",)}),
    "FairVAE (default) + alignment x5": ("fairvae", {"lambda_align": 5.0}),
    "FairVAE (default) + alignment x5 + erasure": ("fairvae", {"lambda_align": 5.0, "erasure": ("skin",)}),
    "FairVAE (default) with generator width 8": ("fairvae", {"generator_width": 8}),
    "FairVAE (default) + adversary": ("fairvae", ADVERSARY),
    "FairVAE (default) + adversary without reweighting": ("fairvae", {**ADVERSARY, "reweight_attribute": None}),
    "FairVAE (default) + adversary x4": ("fairvae", {"lambda_adv": 2.0}),
    "FairVAE (default) + adversary on z_mean": ("fairvae", {**ADVERSARY, "adversary_input": "mean"}),
    "FairVAE (default) + conditional adversary": ("fairvae", {**ADVERSARY, "adversary_conditional": True}),
    "FairVAE (default) + confusion adversary": ("fairvae", {**ADVERSARY, "adversary_loss": "confusion"}),
}
#: What runs without --methods: the references and the main FairVAE settings.
DEFAULT_METHODS = ("plain CNN", "baseline", "reweighted baseline", "domain-independent baseline",
                   "FairVAE phone (previous default)",
                   "FairVAE (default)", "FairVAE (default) + adversary", "FairVAE (default) + confusion adversary")

def step_cost(image_size, batch_size=64, steps=30, rounds=7):
    """Seconds per training step of the baseline and FairVAE (defaults) on the same cached batches.

    The two alternate epoch by epoch, `rounds` times, and each round gives one ratio, so a slow phase
    of the machine hits both models alike; returns the medians and the per-round ratios.
    """
    data = make_synthfaces(batch_size * steps, seed=99, image_size=image_size, bias="demo")
    ds = data.dataset(batch_size).cache()
    models = {}
    for name in ("baseline", "fairvae"):
        models[name] = build_model(name, data.image_shape, **({"protected": {"skin": 3, "gender": 2, "age": 3}}
                                                              if name == "fairvae" else {}))
        models[name].compile(optimizer="adam")
        models[name].fit(ds, epochs=1, verbose=0)  # trace and warm up
    seconds = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(ds, epochs=1, verbose=0)
            seconds[name].append((time.perf_counter() - start) / steps)
    ratios = np.array(seconds["fairvae"]) / np.array(seconds["baseline"])
    return {**{name: float(np.median(s)) for name, s in seconds.items()}, "ratio": float(np.median(ratios)),
            "ratios": ratios}


def evaluate(name, kwargs, train, test, epochs, seed) -> dict:
    """Train one method (`name` None: the plain CNN) and measure it on `test`."""
    start = time.perf_counter()
    if name is None:
        model, _ = train_reference(plain_cnn, train, epochs, seed)
    else:
        model, _ = train_model(name, train, epochs=epochs, seed=seed, verbose=0, **kwargs)
    seconds = time.perf_counter() - start
    pred = predict_proba(model, test).argmax(1)
    skin = test.group_labels("skin")
    correct = pred == test.labels
    row = {"accuracy": float(correct.mean()),
           "worst skin acc": min(float(correct[skin == g].mean()) for g in np.unique(skin)),
           "EOD skin": equalized_odds_gap(test.labels, pred, skin, 7)}
    probes = {"linear": np.nan, "mlp": np.nan}
    if name is not None:
        probes = {p: leakage(model, test, "skin", probe=p, n_boot=0)["balanced_accuracy"] for p in probes}
    return {**row, "leakage skin": probes["linear"], "MLP leakage skin": probes["mlp"], "train s": seconds}


def target_line(row, references) -> str:
    """The issue's targets for one FairVAE row against the baseline and the plain CNN rows."""
    worst_eod = min(ref["EOD skin mean"] for ref in references)
    best_accuracy = max(ref["accuracy mean"] for ref in references)
    return (f"EOD {row['EOD skin mean'] / worst_eod:.2f}x the smaller reference's (target <= 0.5x), "
            f"accuracy {100 * (row['accuracy mean'] - best_accuracy):+.1f} points vs the better reference "
            f"(target >= -1), leakage - chance {100 * (row['leakage skin mean'] - 1 / 3):+.1f} points linear "
            f"(target <= 5), {100 * (row['MLP leakage skin mean'] - 1 / 3):+.1f} MLP")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--regimes", default=",".join(REGIMES), help="comma-separated subset of " + ", ".join(REGIMES))
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help="comma-separated subset of " + ", ".join(METHODS))
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=2100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args()
    regimes, methods = args.regimes.split(","), args.methods.split(",")
    for given, known, flag in ((regimes, REGIMES, "--regimes"), (methods, METHODS, "--methods")):
        if set(given) - set(known):
            parser.error(f"unknown {flag} {sorted(set(given) - set(known))}; choose from {list(known)}")
    print(f"settings: n_train={args.n_train} n_test={args.n_test} epochs={args.epochs} "
          f"image={args.image_size}px seeds={args.seeds} (2-core CPU)", flush=True)
    costs = step_cost(args.image_size)
    rows = []
    for regime in regimes:
        for seed in range(args.seeds):
            train = make_synthfaces(args.n_train, seed=100 + seed, image_size=args.image_size, bias=REGIMES[regime])
            test = make_synthfaces(args.n_test, seed=200 + seed, image_size=args.image_size)
            for label in methods:
                rows.append({"regime": regime, "method": label, "seed": seed,
                             **evaluate(*METHODS[label], train, test, args.epochs, seed)})
                print(f"  {regime} seed {seed} {label}: " + ", ".join(
                    f"{k}={v:.3f}" for k, v in rows[-1].items() if isinstance(v, float)), flush=True)
    frame = pd.DataFrame(rows)
    table = frame.drop(columns="seed").groupby(["regime", "method"], sort=False).agg(["mean", "std"])
    table.columns = [f"{a} {b}" for a, b in table.columns]
    print("\n" + table.to_string(float_format=lambda v: f"{v:.3f}"))
    for regime in regimes:
        references = [table.loc[(regime, ref)] for ref in ("baseline", "plain CNN") if ref in methods]
        for label in (m for m in methods if m.startswith("FairVAE") and references):
            print(f"{regime}, {label}: " + target_line(table.loc[(regime, label)], references))
    print(f"step cost (median of {len(costs['ratios'])} alternating rounds): "
          f"baseline {1e3 * costs['baseline']:.1f} ms, "
          f"FairVAE {1e3 * costs['fairvae']:.1f} ms, ratio {costs['ratio']:.2f}x (target <= 1.5x; rounds "
          + " ".join(f"{r:.2f}" for r in costs["ratios"]) + ")")


if __name__ == "__main__":
    main()

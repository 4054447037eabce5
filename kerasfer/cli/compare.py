"""`kerasfer compare`: train the baseline and each mitigation on your data, recommend one by validation, audit all.

Writes compare.json (the recommendation, the rule and every method's figures), compare.html (the
table with CIs and an accuracy-vs-EOD Pareto plot) and metrics.json (every run's training metrics)
to --out, plus each run's model in OUT/runs/METHOD/seedS. Running the same command again reuses
finished runs and resumes an interrupted one.
"""

from __future__ import annotations

import argparse

from kerasfer.comparison.selection import BASELINE
from kerasfer.training import MODELS


def register(subparsers):
    """Add the `compare` command's flags."""
    p = subparsers.add_parser("compare", help="which mitigation works on this data: train, choose, audit",
                              description=__doc__)
    p.add_argument("--data", default="synthfaces:demo",
                   help="data: synthfaces:BIAS or PREFIX:PATH; its train split is fitted and validated on, its "
                        "test split audited (default: %(default)s)")
    p.add_argument("--methods", type=methods_argument, default=None, metavar="A,B,...",
                   help="methods beside the baseline, from " + ", ".join(m for m in MODELS if m != BASELINE) +
                        " (default: all)")
    p.add_argument("--seeds", type=int, default=3, help="training seeds per method (default: %(default)s)")
    p.add_argument("--attribute", default=None, metavar="ATTR[,ATTR]",
                   help="protected attribute the methods work on and the rule ranks by; several: "
                        "intersectional groups, ranked by the first (default: skin if the data has it, else its "
                        "first attribute)")
    p.add_argument("--out", default="runs/compare", help="output folder (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="share of the training split held out to choose on (default: %(default)s)")
    p.add_argument("--validation", default=None, metavar="SPEC",
                   help="a trusted, clean-labelled validation set to choose on instead (e.g. manifest:clean.csv, "
                        "ferplus:DIR with --validation-split val, or synthfaces:clean); every seed then fits the whole training "
                        "split and the rule reads these labels as they are")
    p.add_argument("--validation-split", default="val", choices=("train", "val", "test"),
                   help="the split of --validation to read (default: %(default)s)")
    p.add_argument("--no-noise-correction", action="store_true",
                   help="read the carved validation split's labels as annotated; by default they are corrected "
                        "with the label-noise matrices T_g of a label-noise model trained on the same faces")
    p.add_argument("--groups-data", default=None, metavar="SPEC",
                   help="protected groups from another source when --data has labels and no groups (e.g. "
                        "--data ferplus:DIR --groups-data utkface:DIR): every method trains on its train split too, "
                        "the rule reads predicted-rate gaps on its held-out faces, and its test split is the test "
                        "rate audit; only baseline, erasure and fairvae can take part")
    p.add_argument("--groups-share", type=float, default=None, metavar="SHARE",
                   help="with --groups-data: share (0-1) of every epoch's draws from it (default: as many as it holds)")
    p.add_argument("--tolerance", type=float, default=2.0, metavar="POINTS",
                   help="accuracy points a method may lose against the baseline on validation and still be "
                        "recommended (default: %(default)s)")
    p.add_argument("--n-train", type=int, default=4000, help="SynthFaces training faces (default: %(default)s)")
    p.add_argument("--n-test", type=int, default=2100, help="SynthFaces test faces (default: %(default)s)")
    p.add_argument("--image-size", type=int, default=48)
    p.add_argument("--size", choices=("standard", "phone"), default=None,
                   help="encoder preset of every method (default: standard)")
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples behind the CIs (default: %(default)s)")
    p.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="bad records of real datasets: stop naming file and line, or skip them (default: %(default)s)")
    return p


def methods_argument(value: str) -> tuple[str, ...]:
    """`--methods`: comma-separated names of `kerasfer.training.MODELS` (argparse type: a typo exits 2)."""
    from kerasfer.comparison import check_methods

    try:
        return check_methods(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def run(args) -> int:
    """Compare with the parsed flags; print the table's gist and the recommendation."""
    from kerasfer.cli.main import UsageError
    from kerasfer.cli.train import attribute_list

    for option, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size), ("--seeds", args.seeds),
                          ("--n-train", args.n_train), ("--n-test", args.n_test), ("--n-boot", args.n_boot)):
        if value <= 0:
            raise UsageError(f"{option} must be a positive integer; got {value}")
    if not 0 <= args.tolerance < 100:
        raise UsageError(f"--tolerance must be between 0 and 100 accuracy points; got {args.tolerance}")
    from kerasfer.comparison import DEFAULT_METHODS, compare
    from kerasfer.data.specs import check_data_spec, load_data

    check_data_spec(args.data)
    load = dict(seed=args.seed, image_size=args.image_size, on_error=args.on_error)
    train = load_data(args.data, split="train", n=args.n_train, **load)
    test = load_data(args.data, split="test", n=args.n_test, **load)
    groups = {}
    if args.groups_data is not None:  # in the labelled source's image format
        check_data_spec(args.groups_data)
        as_train = {**load, "image_size": train.image_size[0]}
        groups = {"groups_data": load_data(args.groups_data, split="train", n=args.n_train, **as_train,
                                           channels=train.channels),
                  "groups_test": load_data(args.groups_data, split="test", n=args.n_test, **as_train,
                                           channels=train.channels),
                  "groups_share": args.groups_share}
    elif args.groups_share is not None:
        raise UsageError("--groups-share needs --groups-data")
    validation = None
    if args.validation is not None:
        check_data_spec(args.validation)
        validation = load_data(args.validation, split=args.validation_split, n=args.n_test, **load)
    result = compare(train, test, methods=args.methods or DEFAULT_METHODS, seeds=args.seeds,
                     attribute=attribute_list(args.attribute), epochs=args.epochs, batch_size=args.batch_size,
                     val_fraction=args.val_fraction, tolerance=args.tolerance / 100, validation=validation,
                     noise_correction=not args.no_noise_correction, out=args.out, n_boot=args.n_boot, **groups,
                     **({} if args.size is None else {"size": args.size}))
    if result.get("sources") == 2:
        _print_two_sources(result, args.out)
        return 0
    attribute = result["attribute"]
    for name, row in result["methods"].items():
        eod = row["gaps"][attribute]["equalized_odds_difference"]
        print(f"{'*' if name == result['recommended'] else ' '} {name:<20} accuracy {row['accuracy']:.3f}  "
              f"worst group {row['worst_group_accuracy']:.3f}  EOD {attribute} "
              f"{'–' if eod is None else f'{eod:.3f}'}  ({row['train_seconds']:.0f} s per run)")
    print(f"recommended: {result['recommended']} — {result['rule']}")
    print(result["validation"]["statement"])
    print(f"wrote {args.out}/compare.json, compare.html and metrics.json")
    return 0


def _print_two_sources(result, out) -> None:
    """The gist of a two-source comparison: accuracy on the labelled source, rate gaps on the groups source."""
    def number(value):
        return "–" if value is None else f"{value:.3f}"

    attribute = result["attribute"]
    for name, row in result["methods"].items():
        leak = row["leakage"][attribute]
        print(f"{'*' if name == result['recommended'] else ' '} {name:<20} accuracy {row['accuracy']:.3f}  "
              f"DPD {attribute} {number(row['rates']['demographic_parity_difference'])}  negative-rate gap "
              f"{number(row['rates']['negative_rate_difference'])}  leakage {number(leak['balanced_accuracy'])} "
              f"(chance {leak['chance']:.3f})  ({row['train_seconds']:.0f} s per run)")
    print(f"recommended: {result['recommended']} — {result['rule']}")
    print(result["validation"]["statement"])
    print(f"wrote {out}/compare.json, compare.html and metrics.json")

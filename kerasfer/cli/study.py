"""`kerasfer study au`: the per-group Action Unit bias study — baseline vs FairVAE, one HTML report."""

from __future__ import annotations

STUDIES = ("au",)


def register(subparsers):
    """Add the `study` command's flags."""
    p = subparsers.add_parser("study", help="run an end-to-end bias study (au: Action Units per group)",
                              description=__doc__)
    # A plain positional checked in `run` (not argparse choices), so --config and counts are checked first.
    p.add_argument("study", metavar="STUDY", help=f"which study: {', '.join(STUDIES)}")
    p.add_argument("--data", default="synthfaces:skin-bias",
                   help="AU data: synthfaces:skin-bias (biased train, clean test), synthfaces, or PREFIX:PATH of a "
                        "reader with AU labels (e.g. manifest:FILE, disfa:PATH) (default: %(default)s)")
    p.add_argument("--out", default="runs/study_au", help="output folder (default: %(default)s)")
    p.add_argument("--attribute", default="skin",
                   help="protected attribute whose groups are compared (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=3e-3)
    p.add_argument("--n-train", type=int, default=3000, help="SynthFaces training faces (default: %(default)s)")
    p.add_argument("--n-test", type=int, default=1200, help="SynthFaces test faces (default: %(default)s)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--width", type=int, default=32, help="encoder width of both models (default: %(default)s)")
    p.add_argument("--latent-dim", type=int, default=32)
    p.add_argument("--n-boot", type=int, default=200,
                   help="bootstrap resamples and permutations (default: %(default)s)")
    p.add_argument("--heatmap-aus", help="comma-separated AUs to explain (default: the largest baseline gaps)")
    return p


def run(args) -> int:
    """Run the study with the parsed flags; print the findings and where the report is."""
    from kerasfer.cli.main import UsageError

    for option, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size), ("--n-train", args.n_train),
                          ("--n-test", args.n_test), ("--width", args.width), ("--latent-dim", args.latent_dim)):
        if value < 1:
            raise UsageError(f"{option} must be >= 1; got {value}")
    if args.n_boot < 0:
        raise UsageError(f"--n-boot must be >= 0; got {args.n_boot}")
    if args.learning_rate <= 0:
        raise UsageError(f"--learning-rate must be > 0; got {args.learning_rate}")
    if args.study not in STUDIES:
        raise UsageError(f"unknown study {args.study!r}; use one of {', '.join(STUDIES)}")

    import warnings

    from kerasfer.data.specs import load_data
    from kerasfer.study import au_bias

    common = dict(seed=args.seed, image_size=args.image_size)
    train = load_data(args.data, split="train", n=args.n_train, **common)
    test = load_data(args.data, split="test", n=args.n_test, **common)
    aus = [a.strip() for a in args.heatmap_aus.split(",") if a.strip()] if args.heatmap_aus else None
    with warnings.catch_warnings():  # small-group warnings are in result.notes, printed once below
        warnings.simplefilter("ignore", UserWarning)
        result = au_bias(train, test, attribute=args.attribute, epochs=args.epochs, out=args.out, seed=args.seed,
                         batch_size=args.batch_size, learning_rate=args.learning_rate, width=args.width,
                         latent_dim=args.latent_dim, n_boot=args.n_boot, heatmap_aus=aus, verbose=1)
    for note in result.notes:
        print(f"note: {note}")
    print(result.summary_text())
    print(f"wrote {result.files['report']} (and study.json, metrics.json, CSV tables, figures/, both models)")
    return 0

"""`kerasfer demo`: train the baseline on biased SynthFaces and print its per-group accuracy."""

from __future__ import annotations


def register(subparsers):
    """Add the `demo` command's flags."""
    from kerasfer.demo import DEMO_DEFAULTS

    p = subparsers.add_parser("demo", help="see a FER model trained on biased data be unfair (SynthFaces)",
                              description=__doc__)
    p.add_argument("--out", default="runs/demo", help="output folder (default: %(default)s)")
    p.add_argument("--n-train", type=int, default=DEMO_DEFAULTS["n_train"], help="biased training faces (default: %(default)s)")
    p.add_argument("--n-test", type=int, default=DEMO_DEFAULTS["n_test"], help="clean test faces (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=DEMO_DEFAULTS["epochs"], help="training epochs (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=DEMO_DEFAULTS["batch_size"], help="batch size (default: %(default)s)")
    p.add_argument("--image-size", type=int, default=DEMO_DEFAULTS["image_size"],
                   help="image side in pixels (default: %(default)s)")
    return p


def run(args) -> int:
    """Run the demo with the parsed flags."""
    from kerasfer.demo import run_demo

    run_demo(args.out, n_train=args.n_train, n_test=args.n_test, epochs=args.epochs, batch_size=args.batch_size,
             image_size=args.image_size, seed=args.seed)
    return 0

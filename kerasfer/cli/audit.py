"""`kerasfer audit`: audit a saved model per group; write report.html, audit.json and metrics.json.

Faces without emotion labels (e.g. ``--data fairface:DIR`` or a UTKFace folder) get the predicted-rate
audit (rate of each emotion per group, demographic-parity difference, negative-emotion rate) instead of
the accuracy audit; partly labelled data gets both.
"""

from __future__ import annotations


def register(subparsers):
    """Add the `audit` command's flags."""
    p = subparsers.add_parser("audit", help="audit a model for per-group bias (HTML report + JSON)",
                              description=__doc__)
    p.add_argument("--model", required=True, help="a .keras model file (loaded in safe mode)")
    p.add_argument("--data", default="synthfaces",
                   help="evaluation data: synthfaces (clean, balanced) or PREFIX:PATH (default: %(default)s)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"),
                   help="split of --data to audit (default: %(default)s)")
    p.add_argument("--out", default="runs/audit", help="output folder (default: %(default)s)")
    p.add_argument("--n", type=int, default=2100, help="SynthFaces faces to audit (default: %(default)s)")
    p.add_argument("--attributes", help="comma-separated attributes (default: all the data has)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs (default: %(default)s)")
    p.add_argument("--n-perm", type=int, help="permutations for the p-values (default: --n-boot)")
    p.add_argument("--min-count", type=int, default=30,
                   help="smaller groups are reported but left out of the gaps (default: %(default)s)")
    p.add_argument("--no-intersections", action="store_true", help="skip intersectional groups (e.g. gender × skin)")
    # default None: kerasfer.fairness (and fairlearn) load only when `audit` runs, not for every `kerasfer --help`
    p.add_argument("--negative", metavar="A,B,C",
                   help="emotions counted in the negative-emotion rate of the predicted-rate audit "
                        "(default: angry,disgust,fear,sad)")
    p.add_argument("--no-heatmaps", action="store_true", help="skip the Grad-CAM heatmaps")
    p.add_argument("--no-latent", action="store_true", help="skip the latent leakage probe and projection")
    p.add_argument("--batch-size", type=int, default=256)
    return p


def run(args) -> int:
    """Audit the model with the parsed flags, write the three files and print the summary."""
    from pathlib import Path

    from kerasfer.cli.main import UsageError

    if args.n_boot < 0 or (args.n_perm is not None and args.n_perm < 0):
        raise UsageError("--n-boot and --n-perm must be >= 0")
    if args.n < 1 or args.batch_size < 1:
        raise UsageError("--n and --batch-size must be >= 1")
    import warnings

    from kerasfer.data.specs import check_data_spec, load_data
    from kerasfer.fairness import audit
    from kerasfer.fairness.rates import NEGATIVE_EMOTIONS
    from kerasfer.models import load_model
    from kerasfer.utils.io import write_json

    check_data_spec(args.data)  # a bad --data is reported before the model is loaded
    model = load_model(args.model, compile=False)
    height, width, channels = _image_shape(model)
    if height != width:
        raise UsageError(f"--model {args.model}: non-square input {height}x{width} is not supported by --data")
    data = load_data(args.data, split=args.split, n=args.n, seed=args.seed, image_size=height, channels=channels)
    attributes = [a.strip() for a in args.attributes.split(",") if a.strip()] if args.attributes else None
    negative = NEGATIVE_EMOTIONS
    if args.negative is not None:
        negative = [e.strip() for e in args.negative.split(",") if e.strip()]
    if not negative or any(e not in data.label_names for e in negative):
        raise UsageError(f"--negative {args.negative!r}: give comma-separated emotions of "
                         f"{', '.join(data.label_names)}")
    with warnings.catch_warnings():  # small-group warnings are in result.notes and printed below
        warnings.simplefilter("ignore", UserWarning)
        result = audit(model, data, attributes, n_boot=args.n_boot, n_perm=args.n_perm, seed=args.seed,
                       intersections=None if args.no_intersections else "pairs", min_count=args.min_count,
                       latent=not args.no_latent, heatmaps=not args.no_heatmaps, batch_size=args.batch_size,
                       negative=negative)
    result.settings["model"] = Path(args.model).name
    result.settings["data"] = f"{args.data} ({args.split})"
    out = Path(args.out)
    result.to_html(out / "report.html")
    result.to_json(out / "audit.json")
    write_json(out / "metrics.json", result.metrics())
    print(result.summary())
    print(f"wrote {out / 'report.html'}, {out / 'audit.json'} and {out / 'metrics.json'}")
    return 0


def _image_shape(model):
    """(H, W, C) the model takes: kerasfer models store it, Functional models have an input shape."""
    shape = getattr(model, "image_shape", None)
    if shape is None:
        shape = model.inputs[0].shape[1:] if getattr(model, "inputs", None) else None
    if shape is None or len(shape) != 3 or any(s is None for s in shape):
        raise ValueError(f"cannot tell the input image shape of model {getattr(model, 'name', model)!r}; "
                         "it must take (H, W, C) images")
    return tuple(int(s) for s in shape)

"""`kerasfer export`: a saved model → `.tflite` + sidecar, verified in LiteRT against the Keras model."""

from __future__ import annotations

MODES = ("float32", "float16", "dynamic", "int8")  # kerasfer.export.MODES, repeated so --help stays light


def register(subparsers):
    """Add the `export` command's flags."""
    p = subparsers.add_parser("export", help="export a model to TFLite for phones and verify it in LiteRT",
                              description=__doc__)
    p.add_argument("--model", required=True, help="the .keras model file")
    p.add_argument("--mode", choices=MODES, default="int8", help="quantization mode (default: %(default)s)")
    p.add_argument("--out", default="runs/export", help="output folder (default: %(default)s)")
    p.add_argument("--data", default="synthfaces",
                   help="--data spec: calibration (train split) and verification (test split) faces "
                        "(default: %(default)s)")
    p.add_argument("--n", type=int, default=700, help="SynthFaces test faces to verify on (default: %(default)s)")
    p.add_argument("--n-calibration", type=int, default=256, help="calibration faces (default: %(default)s)")
    p.add_argument("--qat-epochs", type=int, default=0, help="quantization-aware fine-tuning epochs (int8 only)")
    p.add_argument("--prune", type=float, default=None, metavar="SPARSITY", help="magnitude-prune to this sparsity")
    p.add_argument("--int8-io", choices=("uint8", "int8"), default="uint8", help="int8 model IO type")
    p.add_argument("--detector", choices=("blazeface", "none"), default="blazeface",
                   help="also write the phone's face detector: face_detector.tflite (BlazeFace full-range, what "
                        "`kerasfer predict` runs) and its sidecar face_detector.json (default: %(default)s)")
    p.add_argument("--web", metavar="DIR", default=None,
                   help="also write a self-contained browser page that runs the model with LiteRT.js (serve DIR "
                        "over HTTP, e.g. `python -m http.server -d DIR`)")
    p.add_argument("--model-name", default="kerasfer facial expression classifier",
                   help="name in the model's TFLite metadata (default: %(default)s)")
    p.add_argument("--model-version", default="1", help="version in the TFLite metadata (default: %(default)s)")
    p.add_argument("--author", default="", help="author in the TFLite metadata")
    p.add_argument("--license", default="", help="licence in the TFLite metadata (e.g. an SPDX id)")
    p.add_argument("--no-int8-rewrite", dest="int8_rewrite", action="store_false",
                   help="convert int8 without first rewriting the graph to quantize better (see docs/export.md)")
    return p


def run(args) -> int:
    """Export, verify, print the summary table and write ``metrics.json``."""
    from pathlib import Path

    # Every check that needs no TensorFlow comes first, so a typo fails at once in one line.
    if not Path(args.model).is_file():
        raise FileNotFoundError(f"--model: no such file: {args.model}")
    if args.n <= 0:
        raise ValueError(f"--n must be positive; got {args.n}.")
    if args.n_calibration <= 0:
        raise ValueError(f"--n-calibration must be positive; got {args.n_calibration}.")
    if args.qat_epochs < 0 or (args.qat_epochs and args.mode != "int8"):
        raise ValueError(f"--qat-epochs must be >= 0 and needs --mode int8; got {args.qat_epochs} with {args.mode}.")
    if args.prune is not None and not 0 < args.prune < 1:
        raise ValueError(f"--prune must be a sparsity in (0, 1); got {args.prune}.")
    if args.web is not None:
        if args.mode == "int8" and args.int8_io == "int8":
            raise ValueError("--web needs uint8 input and output (LiteRT.js has no int8 tensors): "
                             "drop --int8-io int8.")
        from kerasfer.export.web_page import find_litertjs

        find_litertjs()  # says how to install LiteRT.js before any work is done

    from tqdm.auto import tqdm

    from kerasfer.data.specs import check_data_spec, load_data
    from kerasfer.export import to_tflite, verify
    from kerasfer.export.metadata import ModelInfo, with_verification
    from kerasfer.export.verify import summary_table
    from kerasfer.models import load_model
    from kerasfer.utils.io import atomic_write_bytes, write_json

    check_data_spec(args.data)  # a bad --data is reported before the model is loaded
    steps = tqdm(total=4, desc="export", unit="step", disable=None)  # shown on a terminal or in Jupyter
    steps.set_postfix_str("loading the model")
    model = load_model(args.model)  # safe mode: refuses files that carry code
    functional = model.classifier_model() if hasattr(model, "classifier_model") else model
    height, width, channels = functional.input_shape[1:]
    if height != width:
        raise ValueError(f"--model takes {height}×{width} images; only square inputs are supported by --data.")
    steps.update()
    steps.set_postfix_str(f"reading {args.data}")
    load = dict(image_size=height, channels=channels, seed=args.seed)
    calibration = load_data(args.data, split="train", n=max(args.n_calibration * 4, 700), **load)
    test = load_data(args.data, split="test", n=args.n, **load)
    steps.update()
    steps.set_postfix_str(f"converting to {args.mode}")
    out = Path(args.out)
    prune = None if args.prune is None else {"sparsity": args.prune, "epochs": 1}
    path = out / f"model_{args.mode}.tflite"
    meta = to_tflite(model, path, mode=args.mode, representative_data=calibration, qat_epochs=args.qat_epochs,
                     prune=prune, int8_io=args.int8_io, num_calibration=args.n_calibration,
                     int8_rewrite=args.int8_rewrite, seed=args.seed,
                     info=ModelInfo(name=args.model_name, version=args.model_version, author=args.author,
                                    license=args.license))
    steps.update()
    steps.set_postfix_str("verifying in LiteRT")
    result = verify(path, model, test)
    if meta["metadata"]:  # the description carries the verification summary (graph untouched)
        atomic_write_bytes(path, with_verification(path.read_bytes(), meta, result))
        result["size_bytes"] = path.stat().st_size
    steps.update()
    steps.close()
    print(summary_table(result))
    detector = None
    if args.detector == "blazeface":
        from kerasfer.export.detector import write_detector

        detector = write_detector(out)
    write_json(out / "metrics.json", {"mode": meta["mode"], "sidecar": meta, **result,
                                      "detector": None if detector is None else detector.name})
    from kerasfer.export.model_card import training_metrics, write_model_card

    card = write_model_card(out / "MODEL_CARD.md", model_name=path.name, model_kind=type(model).__name__,
                            labels=meta["labels"], sidecar=meta, verification=result, data=args.data,
                            training=training_metrics(args.model),
                            detector=None if detector is None else f"{detector.name} (BlazeFace full-range)",
                            author=args.author, license=args.license)
    also = "" if detector is None else f", {detector} with {detector.with_suffix('.json').name}"
    print(f"\nwrote {path}, {path.with_suffix('.json')}{also}, {card} and {out / 'metrics.json'}")
    if args.web is not None:
        from kerasfer.export.web_page import write_web

        page = write_web(args.web, path, detector=args.detector == "blazeface")
        print(f"wrote the browser page {page}: serve it with `python -m http.server -d {page.parent}` "
              "and open http://127.0.0.1:8000/")
    return 0

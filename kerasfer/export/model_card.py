"""MODEL_CARD.md beside an exported model (Mitchell et al., "Model Cards for Model Reporting", FAT* 2019).

The card says what the model is for and not for, what it was trained on when the training run left
its ``metrics.json`` beside the ``.keras`` file (`kerasfer train` does), how it did per group on the
verification data (with 95 % Wilson intervals), what quantization did to each group, and the
caveats of the figures.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

OUT_OF_SCOPE = (
    "Inferring what a person feels, intends or is thinking: a facial expression is not an inner state, "
    "and the labels are what annotators saw.",
    "Lie detection, hiring, admissions, credit, insurance, policing, border control, or any decision about a "
    "person's rights or opportunities.",
    "Surveillance or monitoring of people who have not agreed to it, and use on children without specific "
    "validation.",
    "Groups, cultures, ages, camera set-ups or lighting not represented in the training and verification data.",
)
CAVEATS = (
    "Group figures on fewer than 30 faces are shown but are too noisy to compare; intervals are 95 % Wilson "
    "intervals of each group's accuracy on the verification data only.",
    "The equalized-odds difference is a maximum over emotions and groups, so it grows with the number of groups "
    "and shrinks with more data; compare it between models on the same data, not across datasets.",
    "Protected attributes come from the dataset's annotations (or SynthFaces' renderer); binary or coarse "
    "categories hide the people between and within them, and intersections are not shown here "
    "(`kerasfer audit` has them).",
    "A model trained on SynthFaces has seen rendered faces only: its accuracy on photographs is unmeasured "
    "until you verify it on labelled photos with `kerasfer export --data PREFIX:PATH`.",
)


def render_model_card(*, model_name: str, model_kind: str, labels, sidecar: dict, verification: dict,
                      data: str, training: dict | None = None, detector: str | None = None,
                      author: str = "", license: str = "") -> str:
    """The card as Markdown.

    Args:
        model_name: the exported file's name.
        model_kind: the source model's class (e.g. ``EmotionClassifier``).
        labels: the output labels.
        sidecar: the export sidecar (`kerasfer.predict.sidecar`).
        verification: the `kerasfer.export.verify` result.
        data: the ``--data`` spec the verification used.
        training: the training run's metrics.json, if found.
        detector: the face detector written beside the model, if any.
        author: the model's owner (the TFLite metadata's author), if set.
        license: its licence, if set.

    Returns:
        The Markdown text.
    """
    from kerasfer import __version__

    from kerasfer.export.verify import verification_terms

    v = verification
    agreement, score = verification_terms(v)
    accuracy = score == "accuracy"  # else an Action Unit model: macro F1, which gets no interval
    interval = " [95 % CI]" if accuracy else ""
    lines = [
        f"# Model card: {model_name}",
        "",
        f"Written by kerasfer {__version__} on {dt.date.today().isoformat()}."
        + ("" if author and license else " Fill in the *Owner* and *Licence* lines before you publish the model."),
        "",
        "## Model details",
        "",
        f"- **Model**: {model_kind}, exported to TFLite ({sidecar['mode']}); "
        f"{v['size_bytes'] / 1024:.1f} KiB, {v['latency_ms_median']:.2f} ms median on one CPU thread.",
        f"- **Input**: raw pixels 0–255, {sidecar['input']['height']}×{sidecar['input']['width']}×"
        f"{sidecar['input']['channels']} ({sidecar['input']['color']}), a face crop; the graph normalises itself.",
        f"- **Output**: {sidecar['output']['kind']} over {len(labels)} labels: {', '.join(labels)}.",
        f"- **Face detector**: {detector or 'none written; the app must crop faces itself'}.",
        f"- **Source weights**: sha256 {sidecar.get('source_model_sha256', 'unknown')}.",
        f"- **Owner**: {author or '(fill in)'}  **Licence**: {license or '(fill in)'}  **Contact**: (fill in)",
        "- **Metadata**: " + ("TFLite Model Metadata with labels.txt inside the .tflite (Android Studio, MediaPipe "
                              "Tasks and LiteRT.js read it)." if sidecar.get("metadata") else
                              "none inside the .tflite (exported without mediapipe); use the sidecar JSON."),
        "",
        "## Intended use",
        "",
        "Research and product prototypes that report the *expressions* faces show, in aggregate or to the person "
        "being filmed, with the per-group figures below checked on data like the deployment's.",
        "",
        "## Out of scope",
        "",
        *[f"- {item}" for item in OUT_OF_SCOPE],
        "",
        "## Training data",
        "",
        *_training_lines(training),
        "",
        f"## Verification on `{data}` ({v['n']} faces)",
        "",
        f"- {_sentence(agreement)} of the TFLite model with its Keras source: **{100 * v['agreement']:.2f} %**.",
        f"- {_sentence(score)}, Keras → TFLite: "
        f"{100 * v['keras_accuracy']:.2f} % → {100 * v['tflite_accuracy']:.2f} % "
        f"({100 * v['accuracy_delta']:+.2f} points).",
        f"- Worst group change from quantization: {v['worst_group']} {100 * v['worst_group_delta']:+.2f} points"
        + (" — **more than 1 point lost**." if v["worst_group_flag"] else "."),
        _mediapipe_line(v.get("mediapipe") or {}),
        "",
        f"| group | faces | Keras {score}{interval} | TFLite {score}{interval} | quantization change (points) |",
        "|---|---|---|---|---|",
        *_group_rows(v["per_group"], intervals=accuracy),
        "",
        "## Caveats",
        "",
        *[f"- {item}" for item in CAVEATS],
        "",
    ]
    return "\n".join(lines)


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:]


def _mediapipe_line(check: dict) -> str:
    if not check.get("runtime"):
        return f"- MediaPipe Tasks: not checked ({check.get('skipped', 'not asked')})."
    return (f"- In {check['runtime']} (what Android, iOS and web apps load): top-1 agreement "
            f"{100 * check['agreement_litert']:.2f} % with LiteRT and {100 * check['agreement_keras']:.2f} % with "
            f"Keras; scores within {check['max_score_difference']:.4f} of LiteRT's; labels "
            + ("read from the metadata as exported." if check["labels_match"] else "**differ from the export's**."))


def write_model_card(path, **fields) -> Path:
    """Write `render_model_card(**fields)` to `path` (``MODEL_CARD.md``); returns the path."""
    from kerasfer.utils.io import atomic_write_bytes

    return atomic_write_bytes(Path(path), render_model_card(**fields).encode("utf-8"))


def training_metrics(model_path) -> dict | None:
    """The ``metrics.json`` `kerasfer train` wrote beside `model_path`, or None."""
    path = Path(model_path).with_name("metrics.json")
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return metrics if isinstance(metrics, dict) and "model" in metrics else None


def _training_lines(training) -> list[str]:
    if training is None:
        return ["Not recorded: no `metrics.json` from `kerasfer train` beside the `.keras` file. Describe the "
                "training data, its groups and its known biases here."]
    lines = [f"- Trained as `{training['model']}` by `kerasfer train`"
             + (f", loss reweighted by {training['reweight_attribute']} × emotion" if training.get("reweight_attribute")
                else "") + "."]
    if training.get("label_noise"):
        lines.append(f"- Annotators' errors were modelled per {training['label_noise']['attribute']} group "
                     "(learned label-noise matrices in the run's metrics.json).")
    if "accuracy" in training:
        lines.append(f"- Its own test split: accuracy {100 * training['accuracy']:.1f} %, worst group "
                     f"{training.get('worst_group')} {100 * training.get('worst_group_accuracy', float('nan')):.1f} %.")
    for attribute, gaps in (training.get("gaps") or {}).items():
        eod = gaps.get("equalized_odds_difference")
        if eod is not None:
            lines.append(f"- Equalized-odds difference across {attribute}: {eod:.3f} "
                         f"({gaps.get('groups_compared')} groups of 30+ test faces).")
    return lines


def _group_rows(per_group: dict, *, intervals: bool = True) -> list[str]:
    """The per-group table rows; `intervals`: Wilson 95 % intervals (accuracies are proportions; an AU
    macro F1 is not, and gets none)."""
    from scipy.stats import binomtest

    rows = []
    for attribute, groups in per_group.items():
        for group, row in groups.items():
            cells = []
            for key in ("keras", "tflite"):
                if not intervals:
                    cells.append(f"{100 * row[key]:.1f} %")
                    continue
                correct = int(round(row[key] * row["count"]))
                ci = binomtest(correct, row["count"]).proportion_ci(method="wilson") if row["count"] else None
                cells.append(f"{100 * row[key]:.1f} % [{100 * ci.low:.1f}, {100 * ci.high:.1f}]" if ci else "–")
            small = " (under 30 faces)" if row["count"] < 30 else ""
            rows.append(f"| {attribute}={group}{small} | {row['count']} | {cells[0]} | {cells[1]} | "
                        f"{100 * row['delta']:+.2f} |")
    return rows

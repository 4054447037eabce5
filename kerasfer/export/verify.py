"""`verify`: run an exported `.tflite` in LiteRT and compare it with the Keras model, overall and per group."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasfer.export.mediapipe_check import check_in_mediapipe
from kerasfer.fairness.groups import per_group_accuracy
from kerasfer.models.predict import predict_proba
from kerasfer.predict.litert import LiteRTModel  # also read from here (tests, benchmarks)
from kerasfer.predict.sidecar import read_sidecar, sidecar_path

WORST_GROUP_LOSS_LIMIT = 0.01  # flag when a group loses more than 1 point of accuracy to the export
#: what `verify` scores: top-1 accuracy, or for an Action Unit model (thresholds in its sidecar) macro F1
ACCURACY, AU_MACRO_F1 = "accuracy", "macro F1 over Action Units"


def verify(tflite_path, keras_model, data, attributes=None, *, latency_runs: int = 50,
           mediapipe: bool = True) -> dict:
    """Compare an exported model in LiteRT (1 thread) with its Keras source on labelled faces.

    With `mediapipe` (and the model's TFLite Model Metadata), the file is also loaded in MediaPipe
    Tasks' `ImageClassifier` and scored on the same faces (`check_in_mediapipe`).

    Args:
        tflite_path: the exported `.tflite`.
        keras_model: the Keras model it came from (kerasfer model or Functional image → probabilities).
        data: a labelled `FaceData` (a clean, balanced test set).
        attributes: attributes for the per-group comparison; default all of `data`'s.
        latency_runs: timed runs for the latency median.
        mediapipe: also check the file in MediaPipe Tasks.

    Returns:
        A JSON-ready dict: ``metric`` (``"accuracy"``; for an Action Unit export, one whose sidecar has
        thresholds, ``"macro F1 over Action Units"``, which the ``*_accuracy`` fields then hold),
        ``agreement`` (top-1, or for AUs the thresholded decisions, LiteRT vs Keras), ``keras_accuracy``,
        ``tflite_accuracy``, ``accuracy_delta`` (tflite − keras), ``per_group`` {attr: {group:
        {"keras", "tflite", "delta", "count"}}}, ``worst_group``, ``worst_group_delta``,
        ``worst_group_flag`` (a group lost more than 1 point), ``size_bytes``, ``latency_ms_median``,
        ``latency_ms_p90``, ``mediapipe`` (`check_in_mediapipe`'s dict, or why it was skipped).
    """
    path = Path(tflite_path)
    if not path.is_file():
        raise FileNotFoundError(f"no such .tflite file: {path}")
    meta = read_sidecar(path) if sidecar_path(path).is_file() else None
    thresholds = None if meta is None else meta["output"].get("thresholds")
    if len(data) == 0 or (thresholds is None and (data.labels < 0).all()):
        raise ValueError("`data` must hold labelled faces to verify against.")
    lite = LiteRTModel(path, num_threads=1)
    images = data.load_images()
    keras_probs = predict_proba(keras_model, data)
    lite_probs = lite.predict(images)
    if thresholds is None:
        scores = _emotion_scores(keras_probs, lite_probs, data, attributes)
    else:
        scores = _au_scores(keras_probs, lite_probs, np.asarray(thresholds, np.float32), data, attributes)
    worst = min(((row["delta"], f"{name}={group}") for name, groups in scores["per_group"].items()
                 for group, row in groups.items()), key=lambda t: t[0], default=(np.inf, None))
    times = lite.latency_ms(images[0], runs=latency_runs)
    in_mediapipe = _mediapipe_part(path, meta, lite, images, lite_probs, keras_probs.argmax(1)) if mediapipe else {
        "runtime": None, "skipped": "not asked (mediapipe=False)"}
    return {
        "tflite": str(path),
        "n": int(len(data)),
        "metric": scores["metric"],
        "agreement": scores["agreement"],
        "keras_accuracy": scores["keras"],
        "tflite_accuracy": scores["tflite"],
        "accuracy_delta": scores["tflite"] - scores["keras"],
        "per_group": scores["per_group"],
        "worst_group": worst[1],
        "worst_group_delta": float(worst[0]) if worst[1] else 0.0,
        "worst_group_flag": bool(worst[1] and worst[0] < -WORST_GROUP_LOSS_LIMIT),
        "size_bytes": path.stat().st_size,
        "latency_ms_median": float(np.median(times)),
        "latency_ms_p90": float(np.percentile(times, 90)),
        "mediapipe": in_mediapipe,
    }


def _emotion_scores(keras_probs, lite_probs, data, attributes) -> dict:
    """Top-1 agreement, accuracy and per-group accuracy of Keras and LiteRT on emotion-labelled faces."""
    keras_pred, lite_pred = keras_probs.argmax(1), lite_probs.argmax(1)
    known = data.labels >= 0
    labels = data.labels
    keras_tables = per_group_accuracy(labels[known], keras_pred[known], data[known], attributes)
    lite_tables = per_group_accuracy(labels[known], lite_pred[known], data[known], attributes)
    per_group = {}
    for name, table in keras_tables.items():
        per_group[name] = {}
        for group, row in table.iterrows():
            lite_acc = float(lite_tables[name].loc[group, "accuracy"])
            per_group[name][group] = {"keras": float(row["accuracy"]), "tflite": lite_acc,
                                      "delta": lite_acc - float(row["accuracy"]), "count": int(row["count"])}
    return {"metric": ACCURACY, "agreement": float((keras_pred == lite_pred).mean()),
            "keras": float((keras_pred[known] == labels[known]).mean()),
            "tflite": float((lite_pred[known] == labels[known]).mean()), "per_group": per_group}


def _au_scores(keras_probs, lite_probs, thresholds, data, attributes) -> dict:
    """For a multi-label (Action Unit) export: agreement of the thresholded AU decisions, and macro F1
    over the AUs of Keras and LiteRT, overall and per group (faces with every AU known)."""
    from sklearn.metrics import f1_score

    if data.aus is None:
        raise ValueError("this is an Action Unit model: verify it on faces with AU labels (`data.aus`), e.g. "
                         "SynthFaces or a DISFA/BP4D reader.")
    keras_on, lite_on = keras_probs >= thresholds, lite_probs >= thresholds
    known = (data.aus >= 0).all(axis=1)
    truth = data.aus[known]

    def score(on, mask):
        return float(f1_score(truth[mask], on[known][mask], average="macro", zero_division=0))

    everyone = np.ones(len(truth), bool)
    per_group = {}
    for name in attributes or data.attribute_names:
        data.check_attribute(name)
        codes = data.attributes[name][known]
        per_group[name] = {}
        for code, group in enumerate(data.group_names[name]):
            mask = codes == code
            if not mask.any():
                continue
            keras_f1, lite_f1 = score(keras_on, mask), score(lite_on, mask)
            per_group[name][group] = {"keras": keras_f1, "tflite": lite_f1, "delta": lite_f1 - keras_f1,
                                      "count": int(mask.sum())}
    return {"metric": AU_MACRO_F1, "agreement": float((keras_on == lite_on).mean()),
            "keras": score(keras_on, everyone), "tflite": score(lite_on, everyone), "per_group": per_group}


def _mediapipe_part(path: Path, meta, lite: LiteRTModel, images: np.ndarray, lite_probs: np.ndarray,
                    keras_pred: np.ndarray) -> dict:
    """MediaPipe Tasks on the faces as uint8 pixels (what a phone camera gives), against LiteRT on the same
    (`lite_probs`, LiteRT's scores of `images`, serve when the images are whole pixel values already)."""
    if meta is None:
        return {"runtime": None, "skipped": f"no sidecar {sidecar_path(path).name} beside the model"}
    if not meta.get("metadata"):
        return {"runtime": None, "skipped": "the model carries no TFLite Model Metadata (exported without mediapipe)"}
    if meta["input"]["channels"] != 3:
        return {"runtime": None, "skipped": "MediaPipe Tasks' ImageClassifier takes RGB models only; this one is grey"}
    pixels = np.clip(np.round(images), 0, 255).astype(np.uint8)
    litert = lite_probs if np.array_equal(pixels, images) else lite.predict(pixels)
    return check_in_mediapipe(path, pixels, litert, keras_pred, meta["labels"])


def verification_terms(result: dict) -> tuple[str, str]:
    """What a `verify` result measures, in words: ``(agreement, score)``, i.e. ``("top-1 agreement",
    "accuracy")``, or ``("AU decision agreement", "AU macro F1")`` for an Action Unit model."""
    if result.get("metric", ACCURACY) == ACCURACY:
        return "top-1 agreement", "accuracy"
    return "AU decision agreement", "AU macro F1"


def _mediapipe_line(check: dict) -> str:
    if not check.get("runtime"):
        return f"{'MediaPipe Tasks':<28}not run: {check.get('skipped', 'not asked')}"
    return (f"{'MediaPipe Tasks':<28}top-1 agreement {100 * check['agreement_litert']:.2f} % w/ LiteRT, "
            f"{100 * check['agreement_keras']:.2f} % w/ Keras; max score difference {check['max_score_difference']:.4f}"
            f"{'' if check['labels_match'] else '; LABELS DIFFER'}  ({check['runtime']})")


def summary_table(result: dict) -> str:
    """A plain-text table of a `verify` result (what `kerasfer export` prints)."""
    agreement, score = verification_terms(result)
    lines = [
        f"{'model':<28}{result['tflite']}",
        f"{'size':<28}{result['size_bytes'] / 1024:.1f} KiB",
        f"{'latency (1 thread)':<28}median {result['latency_ms_median']:.3f} ms, p90 {result['latency_ms_p90']:.3f} ms",
        f"{agreement + ' w/ Keras':<28}{100 * result['agreement']:.2f} %  (n={result['n']})",
        f"{score + ' keras → tflite':<28}{100 * result['keras_accuracy']:.2f} → "
        f"{100 * result['tflite_accuracy']:.2f} ({100 * result['accuracy_delta']:+.2f} pt)",
        _mediapipe_line(result.get("mediapipe") or {}),
        "",
        f"{'group':<22}{'keras':>8}{'tflite':>8}{'delta pt':>10}{'n':>6}",
    ]
    for name, groups in result["per_group"].items():
        for group, row in groups.items():
            lines.append(f"{name + '=' + group:<22}{100 * row['keras']:>8.2f}{100 * row['tflite']:>8.2f}"
                         f"{100 * row['delta']:>+10.2f}{row['count']:>6}")
    flag = "YES: a group lost more than 1 point" if result["worst_group_flag"] else "no"
    lines.append(f"\nworst group {result['worst_group']} ({100 * result['worst_group_delta']:+.2f} pt); flag: {flag}")
    return "\n".join(lines)

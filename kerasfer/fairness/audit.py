"""The fairness audit: per-group metrics with bootstrap CIs, gaps with permutation p-values.

`audit_predictions` is the metric core on plain arrays (truth, predictions, group labels);
`rate_audit` the label-free core (predictions and group labels only: predicted emotion rates per
group, `kerasfer.fairness.rates`); `audit(model, data)` runs a model over a `FaceData`, calls both
for an emotion model (the accuracy part on the labelled faces, the rate part on every face), and
adds the latent leakage probe, a 2-D projection of the latent and per-group Grad-CAM heatmaps.
All three return an `AuditResult`.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from kerasfer.fairness.bootstrap import (bootstrap_counts, bootstrap_weights, percentile_interval,
                                         permutation_counts, permutation_p_value)
from kerasfer.fairness.confusion import gap_families, gap_metrics, group_confusion, group_metrics
from kerasfer.fairness.gap_intervals import extremum_interval, pairwise_differences
from kerasfer.fairness.multilabel import MAX_ELEMENTS, au_group_metrics, au_permutation_metrics
from kerasfer.fairness.rates import NEGATIVE_EMOTIONS, attribute_rates, negative_mask, predicted_classes
from kerasfer.fairness.result import RATE_NOTE, AuditResult

CROSS = " × "
GAP_RANGE = (0.0, 1.0)  # every gap (differences of rates, min/max ratios, worst-group figures) lies here
# gaps where a larger value means less fair; the fairness ratio is tested in the other direction
_GAP_DIRECTION = {"equalized_odds_difference": 1, "demographic_parity_difference": 1, "accuracy_difference": 1,
                  "fairness_ratio": -1, "worst_group_accuracy": 0}
_RATE_SEED = 104_729  # offsets the rate part's resamples from the labelled part's
# the labelled tables of an audit without any known label: empty, with their columns
_EMPTY_GROUPS = ["attribute", "group", "count", "small", "accuracy", "accuracy_low", "accuracy_high", "macro_f1",
                 "macro_f1_low", "macro_f1_high"]
_EMPTY_PER_CLASS = ["attribute", "group", "class"] + [f"{m}{s}" for m in ("tpr", "fpr", "selection_rate")
                                                      for s in ("", "_low", "_high")]
_EMPTY_GAPS = ["attribute", "metric", "value", "ci_low", "ci_high", "p_value", "groups_compared"]


def audit_predictions(y_true, y_pred, groups: Mapping[str, Sequence], *, group_names=None, label_names=None,
                      n_boot: int = 1000, n_perm: int | None = None, seed: int = 0, intersections="pairs",
                      min_count: int = 30, level: float = 0.95) -> AuditResult:
    """Audit predictions per group: the metric core of `audit`, on plain arrays.

    Single-label (emotions): per group count, accuracy, macro-F1, per-class recall (TPR), FPR and
    selection rate; gaps: equalized-odds and demographic-parity differences (one-vs-rest, max over
    classes), accuracy difference, fairness ratio (min / max group accuracy, Xu et al. 2020) and
    worst-group accuracy. Multi-label (Action Units, `y_true` of shape (N, A)): per group and AU
    F1 and ROC AUC, their means over AUs, and the between-group differences per AU.

    Every figure gets a percentile bootstrap CI (samples resampled with replacement); every gap a
    one-sided permutation p-value (group labels shuffled, truths and predictions kept): small p
    means a gap this large is unlikely if the groups were interchangeable.

    Args:
        y_true: (N,) class indices (-1 = unknown label, left out) or (N, A) AU labels (1/0/-1).
        y_pred: (N,) predicted class indices or (N, K) probabilities; (N, A) probabilities for AUs.
        groups: attribute name -> (N,) group index per sample (-1 = unknown, left out of that
            attribute and counted in ``result.unknown``) or group names (None/"" = unknown).
        group_names: attribute name -> names of the group indices (default "0", "1", ...).
        label_names: class (or AU) names; default indices as strings.
        n_boot: bootstrap resamples for the CIs (0: no CIs).
        n_perm: permutations for the p-values (default `n_boot`; 0: no p-values).
        seed: seed of resampling and permutations.
        intersections: ``"pairs"`` (every pair of attributes, e.g. gender × skin), ``None`` (none)
            or a list of attribute-name tuples.
        min_count: groups with fewer samples are reported with a warning and left out of the gaps.
        level: CI coverage.

    Returns:
        An `AuditResult`.
    """
    return _warned(_labelled_audit(y_true, y_pred, groups, group_names=group_names, label_names=label_names,
                                   n_boot=n_boot, n_perm=n_perm, seed=seed, intersections=intersections,
                                   min_count=min_count, level=level))


def rate_audit(y_pred, groups: Mapping[str, Sequence], *, group_names=None, label_names=None,
               negative=NEGATIVE_EMOTIONS, n_boot: int = 1000, n_perm: int | None = None, seed: int = 0,
               intersections="pairs", min_count: int = 30, level: float = 0.95) -> AuditResult:
    """Audit an emotion classifier's predictions per group without expression labels.

    Per group and intersectional group: the rate at which each emotion is predicted and the rate
    of the "negative emotions" aggregate, each with a percentile bootstrap CI (faces resampled with
    replacement); per attribute: the demographic-parity difference (max over emotions of the max −
    min predicted rate between groups, one-vs-rest, as fairlearn's `demographic_parity_difference`),
    the negative-rate difference and each emotion's rate difference, with simultaneous-bootstrap
    CIs and one-sided permutation p-values (group labels shuffled, predictions kept). A gap shows
    that the model treats the groups' faces differently; without labels it cannot tell a biased
    model from groups whose expressions really differ.

    Args:
        y_pred: (N,) predicted class indices or (N, K) probabilities.
        groups: attribute name -> (N,) group per face (indices, -1 = unknown, or names, as in
            `audit_predictions`).
        group_names: attribute name -> names of the group indices.
        label_names: class names; default `kerasfer.EMOTIONS` (the canonical seven).
        negative: class names of the negative aggregate (default angry, disgust, fear, sad).
        n_boot: bootstrap resamples for the CIs (0: none).
        n_perm: permutations for the p-values (default `n_boot`; 0: none).
        seed: seed of resampling and permutations.
        intersections: ``"pairs"``, ``None`` or a list of attribute tuples (see `audit_predictions`).
        min_count: groups with fewer faces are reported with a warning and left out of the gaps.
        level: CI coverage.

    Returns:
        An `AuditResult` whose ``rates``, ``rate_groups`` and ``rate_gaps`` tables are filled and whose
        labelled tables (``groups``, ``per_class``, ``gaps``) are empty.

    Example:
        >>> race = {"race": data.attributes["race"]}  # doctest: +SKIP
        >>> r = rate_audit(probs, race, group_names=data.group_names, n_boot=200)  # doctest: +SKIP
        >>> r.to_frame("rate_gaps").loc["race"]  # doctest: +SKIP
    """
    y_pred, label_names = predicted_classes(y_pred, label_names)
    part = _rate_part(y_pred, groups, label_names, negative_mask(negative, label_names), group_names=group_names,
                      n_boot=n_boot, n_perm=n_perm, seed=seed, intersections=intersections, min_count=min_count,
                      level=level)
    return _warned(_attach_rates(_unlabelled_result(label_names, len(y_pred)), part))


def _labelled_audit(y_true, y_pred, groups, *, group_names, label_names, n_boot, n_perm, seed, intersections,
                    min_count, level) -> AuditResult:
    """`audit_predictions` without emitting its notes as warnings."""
    n_perm = n_boot if n_perm is None else n_perm
    _check_settings(n_boot, n_perm, min_count, level)
    y_true = np.asarray(y_true)
    multilabel = y_true.ndim == 2
    y_pred = np.asarray(y_pred)
    n = len(y_true)
    if len(y_pred) != n:
        raise ValueError(f"`y_pred` has {len(y_pred)} rows but `y_true` has {n}.")
    if multilabel:
        if y_pred.shape != y_true.shape:
            raise ValueError(f"multi-label audit: `y_pred` must be probabilities of shape {y_true.shape}; "
                             f"got {y_pred.shape}.")
        num_outputs = y_true.shape[1]
    else:
        if y_pred.ndim == 2:
            num_outputs, y_pred = y_pred.shape[1], y_pred.argmax(axis=1)
        else:
            num_outputs = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
        if label_names is not None:
            num_outputs = max(num_outputs, len(label_names))
    label_names = tuple(str(x) for x in (label_names or range(num_outputs)))
    if len(label_names) != num_outputs:
        raise ValueError(f"`label_names` has {len(label_names)} names but the predictions have {num_outputs} outputs.")
    attributes = _encode_groups(groups, group_names or {}, n)
    attributes.update(_intersections(attributes, intersections))

    settings = {"n_boot": n_boot, "n_perm": n_perm, "seed": seed, "min_count": min_count, "level": level}
    labelled = np.ones(n, bool) if multilabel else y_true >= 0
    tables, notes, unknown = [], [], {}
    for index, (name, (codes, names)) in enumerate(attributes.items()):
        known = (codes >= 0) & labelled
        unknown[name] = int((codes < 0).sum())
        if not known.any():
            notes.append(f"{name}: no labelled sample has a known group; left out of the audit")
            continue
        sub_seed = seed + 7919 * index  # each attribute its own resamples, reproducibly
        args = (name, codes[known], names, y_true[known], y_pred[known], label_names, settings, sub_seed)
        part = _audit_multilabel(*args) if multilabel else _audit_single(*args)
        tables.append(part)
        notes.extend(part["notes"])
    if not tables:
        raise ValueError(f"no attribute of {sorted(attributes)} has a labelled sample with a known group.")
    audited = [t["attribute"] for t in tables]
    overall = _overall(y_true[labelled], y_pred[labelled], label_names, multilabel, settings)
    return AuditResult(
        task="au" if multilabel else "emotion",
        label_names=label_names,
        overall=overall,
        groups=pd.concat([t["groups"] for t in tables], ignore_index=True),
        per_class=pd.concat([t["per_class"] for t in tables], ignore_index=True),
        gaps=pd.concat([t["gaps"] for t in tables], ignore_index=True),
        confusion={t["attribute"]: t["confusion"] for t in tables if t["confusion"] is not None},
        unknown=unknown,
        notes=notes,
        settings={**settings, "n": int(n), "n_unknown_label": int((~labelled).sum()),
                  "attributes": [a for a in audited if CROSS not in a],
                  "intersections": [a for a in audited if CROSS in a]},
    )


def audit(model, data, attributes=None, *, n_boot: int = 1000, n_perm: int | None = None, seed: int = 0,
          intersections="pairs", min_count: int = 30, latent: bool = True, heatmaps: bool = True,
          task: str | None = None, level: float = 0.95, batch_size: int = 256,
          heatmaps_per_group: int = 32, negative=NEGATIVE_EMOTIONS) -> AuditResult:
    """Audit a model on `data`: per-group metrics, gaps, predicted rates, latent leakage and heatmaps.

    An emotion model gets two parts: the accuracy audit (`audit_predictions`) on the faces whose
    label is known, and the rate audit (`rate_audit`: predicted emotion rates per group, no labels
    needed) on every face. Faces without any known label (e.g. FairFace or UTKFace photos with a
    demographics CSV) get the rate audit alone, with leakage and heatmaps as usual.

    Args:
        model: any kerasfer classifier (baseline, FairVAE, AU head) or any Keras model that maps
            raw-pixel images to probabilities.
        data: a `FaceData` with protected attributes, and labels (emotions; -1 where unknown, all
            unknown allowed) or `aus` (AU models).
        attributes: attributes to audit; default all of `data`'s.
        n_boot: bootstrap resamples for the CIs (0: none).
        n_perm: permutations for the gap p-values (default `n_boot`; 0: none).
        seed: seed of resampling, permutations and the leakage probe's split.
        intersections: ``"pairs"``, ``None`` or a list of attribute tuples (see `audit_predictions`).
        min_count: groups smaller than this are reported with a warning and left out of the gaps.
        latent: when the model has `encoder_model()`, probe each attribute's leakage from the latent
            and store a 2-D PCA projection of it for the report.
        heatmaps: mean Grad-CAM heatmap per group and group-difference maps (`kerasfer.explain`);
            skipped with a note when the model has no ``feature_map`` layer.
        task: ``"emotion"``, ``"au"`` or None to infer it from the model and the output width.
        level: CI coverage.
        batch_size: images per forward pass.
        heatmaps_per_group: faces per group averaged into each mean heatmap.
        negative: emotion names of the "negative emotions" aggregate of the rate audit.

    Returns:
        An `AuditResult` (``.summary()``, ``.to_frame()``, ``.to_html(path)``, ``.to_json(path)``);
        an emotion model's carries the rate tables (``rates``, ``rate_groups``, ``rate_gaps``); a
        model trained with ``label_noise=...`` also reports its learned T_g (``label_noise``).

    Example:
        >>> result = audit(model, make_synthfaces(2100, seed=1), n_boot=200)  # doctest: +SKIP
        >>> print(result.summary())  # doctest: +SKIP
    """
    from kerasfer.models.predict import predict_proba

    attributes = list(attributes or data.attribute_names)
    for name in attributes:
        data.check_attribute(name)
    is_negative = negative_mask(negative, data.label_names)  # a bad name fails before the forward pass
    probs = predict_proba(model, data, batch_size)
    task = _infer_task(model, data, probs.shape[1], task)
    groups = {a: data.attributes[a] for a in attributes}
    common = {"group_names": {a: data.group_names[a] for a in attributes}, "n_boot": n_boot, "n_perm": n_perm,
              "seed": seed, "intersections": intersections, "min_count": min_count, "level": level}
    if task == "au":
        y_true, names = data.aus, data.au_names
        if hasattr(model, "au_thresholds"):  # score the model's tuned per-AU decisions, not a 0.5 cut
            from kerasfer.models.thresholds import rescale_to_threshold

            probs = rescale_to_threshold(probs, np.asarray(model.au_thresholds))
        result = audit_predictions(y_true, probs, groups, label_names=names, **common)
    else:
        names = data.label_names
        result = _warned(_emotion_audit(data.labels, probs, groups, names, is_negative, common))
    result.settings["model"] = getattr(model, "name", type(model).__name__)
    if latent and hasattr(model, "encoder_model"):
        _add_latent(result, model.encoder_model(), data, attributes, seed, batch_size)
    if heatmaps:
        _add_heatmaps(result, model, data, attributes, task, heatmaps_per_group, seed)
    if getattr(model, "transition", None) is not None:  # "how were this group's faces mislabelled"
        from kerasfer.models.label_noise import transition_report

        result.label_noise = transition_report(model, data.group_names, names)
    return result


def _emotion_audit(y_true, probs, groups, label_names, is_negative, common) -> AuditResult:
    """The accuracy audit of the labelled faces (when any) with the rate audit of every face attached.

    Args:
        y_true: (N,) labels, -1 unknown.
        probs: (N, K) predicted probabilities.
        groups: attribute name -> (N,) group indices.
        label_names: the K emotion names.
        is_negative: (K,) bool, the negative aggregate's classes.
        common: the keyword arguments both parts share (group names, resampling, intersections ...).

    Returns:
        An `AuditResult` whose notes are not yet warned.
    """
    y_pred = probs.argmax(axis=1)
    labelled = np.asarray(y_true) >= 0
    rates = _rate_part(y_pred, groups, tuple(label_names), is_negative, **common)
    if not (labelled & np.any([np.asarray(g) >= 0 for g in groups.values()], axis=0)).any():
        result = _unlabelled_result(tuple(label_names), len(y_pred))
        if labelled.any():
            result.notes.append("no labelled face has a known group: accuracy audit skipped, predicted rates only")
        return _attach_rates(result, rates)
    result = _labelled_audit(y_true, probs, groups, label_names=label_names, **common)
    if labelled.all():  # the same faces: a small group is small in both parts, say it once
        rates["notes"] = [n for n in rates["notes"] if n.removeprefix(RATE_NOTE) not in result.notes]
    return _attach_rates(result, rates)


def _rate_part(y_pred, groups, label_names, is_negative, *, group_names, n_boot, n_perm, seed, intersections,
               min_count, level) -> dict:
    """The rate audit's tables, notes and settings for every attribute and intersection.

    Args:
        y_pred: (N,) predicted class indices.
        groups: attribute name -> (N,) groups (indices or names).
        label_names: the K class names.
        is_negative: (K,) bool, the negative aggregate's classes.
        group_names: attribute name -> names of the group indices (None: "0", "1", ...).
        n_boot, n_perm, seed, intersections, min_count, level: as in `rate_audit`.

    Returns:
        ``{"rates", "rate_groups", "rate_gaps"}`` DataFrames, ``notes`` (prefixed `RATE_NOTE`),
        ``unknown`` and ``settings``.
    """
    n_perm = n_boot if n_perm is None else n_perm
    _check_settings(n_boot, n_perm, min_count, level)
    attributes = _encode_groups(groups, group_names or {}, len(y_pred))
    attributes.update(_intersections(attributes, intersections))
    parts, audited, notes, unknown = [], [], [], {}
    for index, (name, (codes, names)) in enumerate(attributes.items()):
        known = codes >= 0
        unknown[name] = int((~known).sum())
        if not known.any():
            notes.append(f"{name}: no face has a known group; left out")
            continue
        include, small = _small_groups(name, names, np.bincount(codes[known], minlength=len(names)), min_count)
        notes.extend(small)
        audited.append(name)
        parts.append(attribute_rates(name, codes[known], names, y_pred[known], label_names, is_negative, include,
                                     n_boot=n_boot, n_perm=n_perm, level=level,
                                     seed=seed + _RATE_SEED + 7919 * index))
    if not parts:
        raise ValueError(f"no attribute of {sorted(attributes)} has a face with a known group.")
    tables = {key: pd.concat([p[key] for p in parts], ignore_index=True)
              for key in ("rates", "rate_groups", "rate_gaps")}
    settings = {"n_boot": n_boot, "n_perm": n_perm, "seed": seed, "min_count": min_count, "level": level,
                "n": int(len(y_pred)), "negative": [label_names[c] for c in np.flatnonzero(is_negative)],
                "rate_attributes": [a for a in audited if CROSS not in a],
                "rate_intersections": [a for a in audited if CROSS in a]}
    return {**tables, "notes": [RATE_NOTE + note for note in notes], "unknown": unknown, "settings": settings}


def _attach_rates(result: AuditResult, part: dict) -> AuditResult:
    """`result` with the rate tables of `_rate_part` output, their notes and settings added."""
    result.rates, result.rate_groups, result.rate_gaps = part["rates"], part["rate_groups"], part["rate_gaps"]
    result.notes.extend(part["notes"])
    result.unknown = {**part["unknown"], **result.unknown}
    result.settings = {**part["settings"], **result.settings, "n_labelled": int(result.overall["count"])}
    return result


def _unlabelled_result(label_names, n: int) -> AuditResult:
    """An emotion `AuditResult` without its labelled part: empty tables, NaN overall figures."""
    missing = {"value": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    return AuditResult(task="emotion", label_names=tuple(label_names),
                       overall={"count": 0, "accuracy": dict(missing), "macro_f1": dict(missing)},
                       groups=pd.DataFrame(columns=_EMPTY_GROUPS), per_class=pd.DataFrame(columns=_EMPTY_PER_CLASS),
                       gaps=pd.DataFrame(columns=_EMPTY_GAPS),
                       settings={"n_unknown_label": int(n), "attributes": [], "intersections": []})


def _warned(result: AuditResult) -> AuditResult:
    """Emit `result`'s notes as warnings at the caller of the public function; returns `result`."""
    for note in result.notes:
        warnings.warn(note, stacklevel=3)
    return result


def _per_class_rows(name, group_names, present, class_names, metrics) -> list[dict]:
    """One row per present group × class: each metric's value and CI from (G, K) arrays.

    Args:
        name: the attribute.
        group_names: names of its groups.
        present: (G,) bool, groups with samples.
        class_names: emotion or AU names (K).
        metrics: metric name -> (value, low, high), each (G, K).

    Returns:
        Rows for the ``per_class`` table.
    """
    rows = []
    for g in np.flatnonzero(present):
        for c, label in enumerate(class_names):
            row = {"attribute": name, "group": group_names[g], "class": label}
            for key, (value, low, high) in metrics.items():
                row[key], row[f"{key}_low"], row[f"{key}_high"] = value[g, c], low[g, c], high[g, c]
            rows.append(row)
    return rows


# ------------------------------------------------------------------------------- single label
def _audit_single(name, groups, group_names, y_true, y_pred, label_names, settings, seed):
    num_groups, k = len(group_names), len(label_names)
    cm = group_confusion(y_true, y_pred, groups, num_groups, k)
    point = group_metrics(cm)
    present = point["count"] > 0
    include, notes = _small_groups(name, group_names, point["count"], settings["min_count"])
    gaps = gap_metrics(point, include)
    boot_metrics = null_gaps = None
    if settings["n_boot"]:
        counts = bootstrap_counts((groups * k + y_true) * k + y_pred, num_groups * k * k, settings["n_boot"], seed)
        boot_metrics = group_metrics(counts.reshape(-1, num_groups, k, k))
    if settings["n_perm"]:
        counts = permutation_counts(groups, y_true * k + y_pred, k * k, num_groups, settings["n_perm"], seed + 1)
        null_gaps = gap_metrics(group_metrics(counts.reshape(-1, num_groups, k, k)), include)

    def with_ci(key):
        low, high = _interval(boot_metrics, key, point[key].shape, settings["level"])
        return point[key], low, high

    rows = {"attribute": name, "group": list(group_names), "count": point["count"].astype(int), "small": ~include}
    for key in ("accuracy", "macro_f1"):
        rows[key], rows[f"{key}_low"], rows[f"{key}_high"] = with_ci(key)
    group_table = pd.DataFrame(rows)[present]
    per_class = {key: with_ci(key) for key in ("tpr", "fpr", "selection_rate")}
    class_rows = _per_class_rows(name, group_names, present, label_names, per_class)
    families = gap_families(point, include & present)
    boot_families = gap_families(boot_metrics, include & present) if boot_metrics is not None else {}
    gap_rows = []
    for metric, direction in _GAP_DIRECTION.items():
        # Simultaneous bootstrap bands over the groups' differences (kerasfer.fairness.gap_intervals):
        # unlike a percentile interval of the max − min itself, it contains the estimate and covers 0
        # when there is no gap.
        low = high = np.nan
        if metric in boot_families:
            low, high = np.clip(extremum_interval(families[metric][0], boot_families[metric][0], settings["level"],
                                                  families[metric][1]), *GAP_RANGE)
        p = np.nan
        if null_gaps is not None and direction:
            p = float(permutation_p_value(direction * gaps[metric], direction * null_gaps[metric]))
        gap_rows.append({"attribute": name, "metric": metric, "value": float(gaps[metric]), "ci_low": float(low),
                         "ci_high": float(high), "p_value": p, "groups_compared": int(include.sum())})
    confusion = {group_names[g]: cm[g].tolist() for g in np.flatnonzero(present)}
    return {"attribute": name, "groups": group_table, "per_class": pd.DataFrame(class_rows),
            "gaps": pd.DataFrame(gap_rows), "confusion": confusion, "notes": notes}


# -------------------------------------------------------------------------------- multi label
def _audit_multilabel(name, groups, group_names, y_true, probs, au_names, settings, seed):
    num_groups = len(group_names)
    point = au_group_metrics(y_true, probs, groups, num_groups)
    counts = point["count"][0]
    present = counts > 0
    include, notes = _small_groups(name, group_names, counts, settings["min_count"])
    summary = _au_summary(point, include)
    boot = boot_summary = null_summary = None
    if settings["n_boot"]:
        boot = _au_bootstrap(y_true, probs, groups, num_groups, settings["n_boot"], seed)
        boot_summary = _au_summary(boot, include)
    if settings["n_perm"]:
        null = au_permutation_metrics(y_true, probs, groups, num_groups, settings["n_perm"], seed + 1)
        null_summary = _au_summary(null, include)

    level = settings["level"]
    rows = {"attribute": name, "group": list(group_names), "count": counts.astype(int), "small": ~include}
    for key in ("mean_f1", "mean_auc"):
        low, high = _interval(boot_summary, key, summary[key][0].shape, level)
        rows[key], rows[f"{key}_low"], rows[f"{key}_high"] = summary[key][0], low, high
    per_au = {key: (point[key][0], *_interval(boot, key, point[key][0].shape, level)) for key in ("f1", "auc")}
    class_rows = _per_class_rows(name, group_names, present, au_names, per_au)
    families = _au_families(point, summary, include & present)
    boot_families = _au_families(boot, boot_summary, include & present) if boot is not None else {}
    gap_rows = []
    for metric in ("f1_difference", "auc_difference", "mean_f1_difference", "mean_auc_difference",
                   "worst_group_mean_f1", "worst_group_mean_auc"):
        values = np.atleast_1d(summary[metric][0])
        low = high = np.full(values.shape, np.nan)
        if metric in boot_families:  # simultaneous bands, as for the emotion gaps
            (family, kind), (boot_family, _) = families[metric], boot_families[metric]
            low, high = (np.atleast_1d(np.clip(v, *GAP_RANGE)) for v in extremum_interval(family[0], boot_family,
                                                                                           level, kind))
        nulls = None if null_summary is None or metric.startswith("worst") else null_summary[metric]
        p = permutation_p_value(summary[metric][0], nulls) if nulls is not None else np.full(values.shape, np.nan)
        p = np.atleast_1d(p)
        targets = au_names if metric in ("f1_difference", "auc_difference") else ("all",)  # per AU or one value
        for i, target in enumerate(targets):
            gap_rows.append({"attribute": name, "metric": metric if target == "all" else f"{metric} ({target})",
                             "value": float(values[i]), "ci_low": float(low[i]), "ci_high": float(high[i]),
                             "p_value": float(p[i]), "groups_compared": int(include.sum())})
    return {"attribute": name, "groups": pd.DataFrame(rows)[present], "per_class": pd.DataFrame(class_rows),
            "gaps": pd.DataFrame(gap_rows), "confusion": None, "notes": notes}


def _au_bootstrap(y_true, probs, groups, num_groups, n_boot, seed, max_elements: int = MAX_ELEMENTS):
    """`au_group_metrics` on `n_boot` bootstrap resamples, drawn in chunks so the (resamples × N)
    weight matrix stays below `max_elements` entries."""
    step = max(1, max_elements // max(len(groups), 1))
    parts = [au_group_metrics(y_true, probs, groups, num_groups,
                              bootstrap_weights(len(groups), min(step, n_boot - start), seed + start))
             for start in range(0, n_boot, step)]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _au_families(metrics, summary, include):
    """The AU gaps as extrema of families (see `kerasfer.fairness.confusion.gap_families`), per resample.

    Args:
        metrics: `au_group_metrics` output (R resamples).
        summary: `_au_summary` of the same metrics (its per-group means over AUs).
        include: (G,) bool, the groups compared.

    Returns:
        metric -> ((R, ..., J) family, "max" / "min"); per-AU differences keep an AU axis before J.
    """
    if include.sum() < 2:
        return {}
    out = {}
    for key in ("f1", "auc"):
        mean = summary[f"mean_{key}"]  # (R, G)
        out[f"{key}_difference"] = (pairwise_differences(metrics[key], include, axis=-2), "max")
        out[f"mean_{key}_difference"] = (pairwise_differences(mean, include), "max")
        out[f"worst_group_mean_{key}"] = (np.asarray(mean, np.float64)[..., include], "min")
    return out


def _au_summary(metrics, include):
    """Group means over AUs and between-group differences (per AU and of the means), per resample."""
    keep = include & (metrics["count"] > 0)  # (R, G)
    out = {}
    for key in ("f1", "auc"):
        values = np.where(keep[..., None], metrics[key], np.nan)  # (R, G, A)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(metrics[key], axis=-1)  # (R, G): every group, small ones too
        kept_mean = np.where(keep, mean, np.nan)
        enough = keep.sum(axis=-1) >= 2
        out[f"mean_{key}"] = mean
        out[f"{key}_difference"] = np.where(enough[:, None], np.fmax.reduce(values, 1) - np.fmin.reduce(values, 1),
                                            np.nan)
        out[f"mean_{key}_difference"] = np.where(enough, np.fmax.reduce(kept_mean, 1) - np.fmin.reduce(kept_mean, 1),
                                                 np.nan)
        out[f"worst_group_mean_{key}"] = np.where(enough, np.fmin.reduce(kept_mean, 1), np.nan)
    return out


# ------------------------------------------------------------------------------------ helpers
def _interval(samples, key, shape, level):
    if samples is None:
        return np.full(shape, np.nan), np.full(shape, np.nan)
    return percentile_interval(samples[key], level)


def _small_groups(name, group_names, counts, min_count):
    include = counts >= min_count
    notes = [f"{name}={group_names[g]}: only {int(counts[g])} samples (< min_count={min_count}); reported, "
             "but left out of the gaps and its CIs are wide" for g in np.flatnonzero((counts > 0) & ~include)]
    if (counts > 0).sum() >= 2 > include.sum():
        notes.append(f"{name}: fewer than two groups have {min_count}+ samples; its gaps are NaN")
    return include, notes


def _overall(y_true, y_pred, label_names, multilabel, settings):
    """Whole-set figures with CIs (the attribute-free baseline the groups are read against)."""
    groups = np.zeros(len(y_true), np.int64)
    if multilabel:
        part = _audit_multilabel("all", groups, ("all",), y_true, y_pred, label_names,
                                 {**settings, "n_perm": 0, "min_count": 0}, settings["seed"])
        keys = ("mean_f1", "mean_auc")
    else:
        part = _audit_single("all", groups, ("all",), y_true, y_pred, label_names,
                             {**settings, "n_perm": 0, "min_count": 0}, settings["seed"])
        keys = ("accuracy", "macro_f1")
    row = part["groups"].iloc[0] if len(part["groups"]) else None
    out = {"count": int(len(y_true))}
    for key in keys:
        out[key] = {"value": float(row[key]) if row is not None else np.nan,
                    "ci_low": float(row[f"{key}_low"]) if row is not None else np.nan,
                    "ci_high": float(row[f"{key}_high"]) if row is not None else np.nan}
    return out


def _encode_groups(groups, group_names, n):
    """attribute -> (int codes with -1 unknown, group names), from indices or names."""
    if not isinstance(groups, Mapping) or not groups:
        raise ValueError("`groups` must be a non-empty dict attribute name -> (N,) group per sample.")
    out = {}
    for name, values in groups.items():
        values = np.asarray(values)
        if values.shape != (n,):
            raise ValueError(f"`groups[{name!r}]` must have shape ({n},); got {values.shape}.")
        if np.issubdtype(values.dtype, np.integer):
            names = tuple(group_names.get(name) or (str(i) for i in range(int(values.max(initial=-1)) + 1)))
            bad = np.flatnonzero((values < -1) | (values >= len(names)))
            if bad.size:
                raise ValueError(f"`groups[{name!r}]` must be in -1..{len(names) - 1}; "
                                 f"row {bad[0]} holds {values[bad[0]]}.")
            out[name] = (values.astype(np.int64), names)
        else:
            labels = pd.Series(values, dtype=object).replace({"": None, "unknown": None})
            codes, uniques = pd.factorize(labels, sort=True)
            out[name] = (codes.astype(np.int64), tuple(str(u) for u in uniques))
    return out


def _intersections(attributes, intersections):
    """The intersectional groups: codes of every pair (or the given tuples) of attributes."""
    if intersections is None or intersections is False:
        return {}
    if intersections == "pairs":
        combos = list(itertools.combinations(attributes, 2))
    elif isinstance(intersections, str):
        raise ValueError(f"`intersections` must be 'pairs', None or a list of attribute tuples; got {intersections!r}.")
    else:
        combos = [tuple(c) for c in intersections]
    out = {}
    for combo in combos:
        missing = [a for a in combo if a not in attributes]
        if missing or len(combo) < 2:
            raise ValueError(f"`intersections` entry {combo!r} must name two or more audited attributes "
                             f"({sorted(attributes)}).")
        codes = np.zeros(len(attributes[combo[0]][0]), np.int64)
        names = [()]
        known = np.ones(len(codes), bool)
        for attribute in combo:
            part, part_names = attributes[attribute]
            known &= part >= 0
            codes = codes * len(part_names) + np.maximum(part, 0)
            names = [prefix + (p,) for prefix in names for p in part_names]
        out[CROSS.join(combo)] = (np.where(known, codes, -1), tuple(CROSS.join(x) for x in names))
    return out


def _check_settings(n_boot, n_perm, min_count, level):
    for arg, value in (("n_boot", n_boot), ("n_perm", n_perm), ("min_count", min_count)):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"`{arg}` must be a non-negative integer; got {value!r}.")
    if not 0 < level < 1:
        raise ValueError(f"`level` must be in (0, 1); got {level!r}.")


def _infer_task(model, data, width, task):
    if task is None:
        if getattr(model, "head_kind", None) == "au":
            task = "au"
        elif width == len(data.label_names):
            task = "emotion"
        elif data.aus is not None and width == len(data.au_names):
            task = "au"
        else:
            raise ValueError(f"cannot tell the model's task: it outputs {width} values, the data has "
                             f"{len(data.label_names)} labels and "
                             f"{len(data.au_names) if data.aus is not None else 'no'} "
                             "AUs; pass task='emotion' or task='au'.")
    if task not in ("emotion", "au"):
        raise ValueError(f"`task` must be 'emotion', 'au' or None; got {task!r}.")
    expected = len(data.au_names) if task == "au" else len(data.label_names)
    if width != expected:
        raise ValueError(f"task={task!r} needs a model with {expected} outputs; this one has {width}.")
    if task == "au" and data.aus is None:
        raise ValueError("auditing an AU model needs `data.aus` (Action Unit labels); this data has none.")
    return task


def _add_latent(result, encoder, data, attributes, seed, batch_size, max_points: int = 1500):
    """Leakage probes (linear and MLP) per attribute and a PCA projection of (a sample of) the latent."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    from kerasfer.fairness.leakage import PROBES, probe_leakage, stratifiable
    from kerasfer.models.predict import predict_proba

    latents = predict_proba(encoder, data, batch_size)
    rows = []
    for name in attributes:
        groups = data.attributes[name]
        known = groups >= 0
        usable = stratifiable(groups)
        if len(np.unique(groups[usable])) < 2:
            result.notes.append(f"leakage of {name}: needs two groups with 2+ known samples; skipped")
            continue
        rows.extend(probe_leakage(latents[usable], groups[usable], name, probe=probe, seed=seed,
                                  n_unknown=int((~known).sum())) for probe in PROBES)
    result.leakage = pd.DataFrame(rows)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(data), min(len(data), max_points), replace=False))
    flat = latents[pick].reshape(len(pick), -1)
    pca = PCA(n_components=min(2, flat.shape[1]), random_state=seed)
    coords = pca.fit_transform(StandardScaler().fit_transform(flat))
    if coords.shape[1] < 2:  # a one-dimensional latent: draw it against zero
        coords = np.pad(coords, ((0, 0), (0, 1)))
    result.projection = {"x": coords[:, 0].tolist(), "y": coords[:, 1].tolist(),
                         "groups": {name: data.group_labels(name)[pick].tolist() for name in attributes},
                         "order": {name: list(data.group_names[name]) for name in attributes}}


def _add_heatmaps(result, model, data, attributes, task, per_group, seed):
    """Mean Grad-CAM per group, group-difference maps and mean faces (for overlays) per attribute."""
    try:
        from kerasfer.explain import difference_maps, group_heatmaps, group_mean_faces
    except ImportError as err:  # kerasfer.explain not installed in this build
        result.notes.append(f"heatmaps skipped: kerasfer.explain is unavailable ({err})")
        return
    maps = {}
    for name in attributes:
        try:
            groups = group_heatmaps(model, data, name, max_per_group=per_group, seed=seed)
        except ValueError as err:  # e.g. a plain Keras model without a "feature_map" layer
            result.notes.append(f"heatmaps skipped: {str(err).splitlines()[0]}")
            return
        if len(groups) < 2:
            continue
        maps[name] = {"groups": groups, "differences": difference_maps(groups),
                      "faces": group_mean_faces(data, name, max_per_group=per_group, seed=seed)}
    result.heatmaps = maps or None
    result.settings["heatmap_target"] = "most probable " + ("emotion" if task == "emotion" else "Action Unit")

"""`compare` when expression labels and protected groups come from two sources (FER+ and UTKFace, say).

No face carries both a label and a group, so the single-source rule (cell-balanced accuracy and
per-group error rates) cannot be computed. What can be: the accuracy on the labelled source's
validation faces, and the *predicted-rate* gaps between groups on the groups source's validation
faces (`kerasfer.fairness.rates`), which read no labels, so biased annotators do not enter them.
The rule (`RULE`): among the methods at most `tolerance` below the baseline's validation accuracy,
the smallest validation demographic-parity difference. Only methods that need no joint labels can
train here (`Method.joint_labels` false: baseline, erasure, fairvae); without ``methods`` those are
the ones compared.

A rate gap on unlabelled faces does not say a model is wrong: the groups' true expressions may
differ (Rhue 2018), and the rule only prefers, among equally accurate models, the one whose
predictions depend least on the group.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from kerasfer.comparison.records import (VALIDATION_FRACTION, VALIDATION_MIN_CELL, RunProgress, fingerprint, plain,
                                         reuse_run, seed_mean)
from kerasfer.comparison.selection import ACCURACY_TOLERANCE, BASELINE

#: the rule of a two-source comparison, as compare.json and the page state it
RULE = ("the smallest mean validation demographic-parity difference of {attribute} (the largest gap in any emotion's "
        "predicted rate between {attribute} groups of {min_group}+ faces, on the groups source's validation faces) "
        "among the methods whose mean validation accuracy (on the labelled source's validation faces) is at most "
        "{points:g} point(s) below the baseline's; a tie goes to the more accurate. Figures: predicted rates, which "
        "need no labels, so the annotators' biases do not enter them")
RANK_BY = "demographic_parity_difference"


def two_source_methods(methods, explicit: bool) -> tuple[str, ...]:
    """The methods a two-source comparison trains: those that need no joint labels.

    Args:
        methods: `check_methods` output (the baseline first).
        explicit: whether the user named them (then a method that needs joint labels is an error;
            else it is left out).

    Returns:
        The method names.

    Raises:
        ValueError: a named method needs faces with both a label and a group.
    """
    from kerasfer.training.methods import get_method

    joint = [m for m in methods if get_method(m).joint_labels]
    if joint and explicit:
        raise ValueError(f"{', '.join(joint)} need faces that carry both an emotion label and a protected group "
                         "(their sampling, loss weights or heads are per group × emotion cell); with a separate groups "
                         "source no face has both. Compare baseline, erasure and fairvae with groups data.")
    return tuple(m for m in methods if m not in joint)


def compare_two_sources(train, test, groups_data, groups_test, *, methods, explicit_methods: bool, seeds: int,
                        attribute: str, epochs: int, batch_size: int, val_fraction: float = VALIDATION_FRACTION,
                        tolerance: float = ACCURACY_TOLERANCE, groups_share=None, out=None, verbose=1,
                        **train_kwargs) -> dict:
    """Train each method on `train` (labels) with `groups_data` (groups), recommend one, score all.

    Every seed carves a validation part from each source (the labelled one stratified by emotion, the
    groups one by the attribute's groups); every method trains on both fitting parts
    (`train_model(..., groups_data=, groups_share=)`). `test` gives the test accuracy and macro-F1,
    `groups_test` the test rate gaps and the latent leakage of the attribute. With `out`, writes
    compare.json, compare.html (`kerasfer.report.compare`) and metrics.json. Called by
    `kerasfer.comparison.compare` with ``groups_data``, after compare's checks of the labels and of
    the arguments it reserves; its arguments are compare's.

    Args:
        train: labelled `FaceData` (no groups needed).
        test: labelled `FaceData` to score accuracy on.
        groups_data: `FaceData` with `attribute` (labels not needed).
        groups_test: `FaceData` with `attribute`, held out from `groups_data`: the test rate audit.
        methods: `check_methods` output.
        explicit_methods: whether the user named the methods (`two_source_methods`).
        seeds, attribute, epochs, batch_size, val_fraction, tolerance, out, verbose: as `compare`'s.
        groups_share: share of groups-source faces in each batch (`train_model`'s).
        **train_kwargs: passed to every `train_model` call.

    Returns:
        The content of compare.json: ``{"recommended", "rule", "attribute", "group_names", "settings",
        "sources": 2, "validation": {"figures": "rates", "statement"}, "methods": {name: {"accuracy",
        "macro_f1", "rates": {"demographic_parity_difference", "negative_rate_difference", "negative_rate"},
        "leakage", "train_seconds", "validation", "validation_seeds", "test_seeds", "seeds"}},
        "test_check"}``.
    """
    from kerasfer.comparison.selection import recommend
    from kerasfer.data.sampling import stratified_split

    methods = two_source_methods(methods, explicit_methods)
    for data, role in ((groups_data, "groups"), (groups_test, "groups test")):
        if attribute not in data.attribute_names:
            raise ValueError(f"the {role} data has no {attribute!r} attribute (it has {list(data.attribute_names)}).")
    if list(groups_test.group_names[attribute]) != list(groups_data.group_names[attribute]):
        raise ValueError(f"the groups test data's {attribute} groups {list(groups_test.group_names[attribute])} differ "
                         f"from the groups data's {list(groups_data.group_names[attribute])}.")
    settings = {"seeds": seeds, "epochs": epochs, "batch_size": batch_size, "val_fraction": val_fraction,
                "tolerance": tolerance, "attribute": attribute, "groups_share": groups_share, "n_train": len(train),
                "n_groups": len(groups_data), "n_test": len(test), "n_groups_test": len(groups_test),
                "data": {"train": fingerprint(train), "test": fingerprint(test), "groups": fingerprint(groups_data),
                         "groups_test": fingerprint(groups_test)},
                "train_kwargs": {k: plain(v) for k, v in train_kwargs.items()}}
    runs = {name: [] for name in methods}
    with RunProgress(len(methods) * seeds, verbose) as progress:
        for seed in range(seeds):
            fit, held = stratified_split(train, val_fraction, by=("label",), seed=seed)
            fit_groups, held_groups = stratified_split(groups_data, val_fraction, by=(attribute,), seed=seed)
            for name in methods:
                progress.describe(f"{name} seed {seed}")
                folder = None if out is None else Path(out) / "runs" / name / f"seed{seed}"
                run = _run(name, fit, held, fit_groups, held_groups, test, groups_test, attribute, folder,
                           {**settings, "method": name, "seed": seed}, seed=seed, epochs=epochs,
                           batch_size=batch_size, groups_share=groups_share, **train_kwargs)
                runs[name].append(run)
                progress.done(f"{name} seed {seed}: validation accuracy {run['validation']['accuracy']:.3f}, "
                              f"DPD {_number(run['validation'][RANK_BY])}")
    validation = {name: _validation_means(rows) for name, rows in runs.items()}
    recommended = recommend(validation, tolerance, rank_by=RANK_BY)
    result = {"recommended": recommended, "rule": rule(attribute, tolerance), "attribute": attribute,
              "group_names": [str(g) for g in groups_test.group_names[attribute]], "settings": settings, "sources": 2,
              "validation": {"figures": "rates", "statement": _statement(validation, recommended, attribute)},
              "methods": {name: _summarise(rows, validation[name]) for name, rows in runs.items()}}
    base, chosen = result["methods"][BASELINE], result["methods"][recommended]
    result["test_check"] = {"accuracy_change": chosen["accuracy"] - base["accuracy"],
                            "demographic_parity_reduction": _reduction(base["rates"][RANK_BY],
                                                                       chosen["rates"][RANK_BY])}
    if out is not None:
        from kerasfer.report.compare import write_compare_page
        from kerasfer.utils.io import write_json

        write_json(Path(out) / "compare.json", result)
        write_json(Path(out) / "metrics.json", {"settings": settings, "runs": {
            name: [r["metrics"] for r in rows] for name, rows in runs.items()}})
        write_compare_page(result, Path(out) / "compare.html")
    return result


def rule(attribute: str, tolerance: float = ACCURACY_TOLERANCE) -> str:
    """`RULE` as a sentence, for compare.json and the page.

    Args:
        attribute: the attribute the rate gaps are over.
        tolerance: accuracy (0–1) a method may lose against the baseline on validation.

    Returns:
        One sentence.
    """
    return RULE.format(attribute=attribute, min_group=VALIDATION_MIN_CELL, points=round(100 * tolerance, 3))


def rate_figures(predictions, groups, num_groups: int, num_classes: int, *, negative_classes,
                 min_group: int = VALIDATION_MIN_CELL) -> dict:
    """Predicted-rate gaps between the groups with at least `min_group` faces.

    Args:
        predictions: (N,) predicted classes.
        groups: (N,) group codes (−1: unknown, left out).
        num_groups, num_classes: G and K.
        negative_classes: (K,) bool, the negative-emotion aggregate (`kerasfer.fairness.rates.negative_mask`).
        min_group: groups with fewer known faces are left out of the gaps.

    Returns:
        ``{"demographic_parity_difference", "negative_rate_difference", "negative_rate": [G]}``; a gap is
        None with fewer than two large-enough groups, a group's rate None without faces.
    """
    from kerasfer.fairness.rates import rate_gaps, rate_statistics

    known = np.asarray(groups) >= 0
    counts = np.zeros((num_groups, num_classes))
    np.add.at(counts, (np.asarray(groups)[known], np.asarray(predictions)[known]), 1)
    stats = rate_statistics(counts, negative_classes)
    gaps = rate_gaps(stats, stats["count"] >= min_group)
    return {"demographic_parity_difference": _finite(gaps["demographic_parity_difference"]),
            "negative_rate_difference": _finite(gaps["negative_rate_difference"]),
            "negative_rate": [_finite(r) for r in stats["negative_rate"]]}


def _run(name, fit, held, fit_groups, held_groups, test, groups_test, attribute, folder, settings, **train_kwargs):
    """Train (or reuse) one method on both sources; its validation and test figures."""
    from sklearn.metrics import f1_score

    from kerasfer.fairness import leakage
    from kerasfer.fairness.rates import NEGATIVE_EMOTIONS, negative_mask
    from kerasfer.models.predict import predict_proba
    from kerasfer.training import train_model
    from kerasfer.utils.io import write_json

    saved = reuse_run(folder, settings)
    if saved is not None:
        return saved
    started = time.perf_counter()
    model, metrics = train_model(name, fit, groups_data=fit_groups, attribute=attribute, out=folder, verbose=0,
                                 **train_kwargs)
    seconds = time.perf_counter() - started
    negative = negative_mask(NEGATIVE_EMOTIONS, fit.label_names)
    num_groups, num_classes = len(groups_test.group_names[attribute]), len(fit.label_names)

    def rates(data):
        return rate_figures(predict_proba(model, data).argmax(axis=1), data.attributes[attribute], num_groups,
                            num_classes, negative_classes=negative)

    def accuracy(data):
        labelled = data.labels >= 0
        predicted = predict_proba(model, data).argmax(axis=1)[labelled]
        truth = data.labels[labelled]
        return {"accuracy": float((predicted == truth).mean()),
                "macro_f1": float(f1_score(truth, predicted, labels=np.arange(num_classes), average="macro",
                                           zero_division=0))}

    probe = leakage(model, groups_test, attribute, n_boot=0)
    row = {"settings": plain(settings), "train_seconds": round(seconds, 2),
           "validation": {**accuracy(held), **rates(held_groups)},
           "test": {**accuracy(test), **rates(groups_test)},
           "leakage": {attribute: {"balanced_accuracy": probe["balanced_accuracy"], "chance": probe["chance"]}},
           "metrics": plain(metrics)}
    if folder is not None:
        write_json(folder / "run.json", row)
    return row


def _validation_means(rows) -> dict:
    """The seeds' mean validation accuracy (as the rule's "balanced_accuracy": no groups to balance over
    on the labelled source) and mean validation rate gaps."""
    accuracy = seed_mean([r["validation"]["accuracy"] for r in rows])
    return {"accuracy": accuracy, "balanced_accuracy": accuracy,
            RANK_BY: seed_mean([r["validation"][RANK_BY] for r in rows]),
            "negative_rate_difference": seed_mean([r["validation"]["negative_rate_difference"] for r in rows])}


def _summarise(rows, validation) -> dict:
    """One method's seed means on test, its validation means and each seed's figures."""
    tests = [r["test"] for r in rows]
    groups = len(tests[0]["negative_rate"])
    return {"accuracy": seed_mean([t["accuracy"] for t in tests]), "macro_f1": seed_mean([t["macro_f1"] for t in tests]),
            "rates": {RANK_BY: seed_mean([t[RANK_BY] for t in tests]),
                      "negative_rate_difference": seed_mean([t["negative_rate_difference"] for t in tests]),
                      "negative_rate": [seed_mean([t["negative_rate"][g] for t in tests]) for g in range(groups)]},
            "leakage": {a: {"balanced_accuracy": seed_mean([r["leakage"][a]["balanced_accuracy"] for r in rows]),
                            "chance": rows[0]["leakage"][a]["chance"]} for a in rows[0]["leakage"]},
            "train_seconds": seed_mean([r["train_seconds"] for r in rows]),
            "validation": validation, "validation_seeds": [r["validation"] for r in rows],
            "test_seeds": tests, "seeds": len(rows)}


def _statement(validation, recommended, attribute) -> str:
    """A plain sentence on what the validation figures showed and what they cannot show."""
    base, chosen = validation[BASELINE], validation[recommended]
    return (f"{recommended} had the smallest validation demographic-parity difference of {attribute} among the methods "
            f"as accurate as the baseline ({_number(chosen[RANK_BY])} against the baseline's {_number(base[RANK_BY])}; "
            f"validation accuracy {_number(chosen['accuracy'])} against {_number(base['accuracy'])}). The groups' true "
            "expressions on the groups source are unknown: a smaller rate gap means predictions that depend less "
            "on the group, not fewer errors.")


def _reduction(base, chosen):
    return None if base in (None, 0) or chosen is None else 1 - chosen / base


def _finite(value):
    value = float(value)
    return value if np.isfinite(value) else None


def _number(value) -> str:
    return "–" if value is None else f"{value:.3f}"

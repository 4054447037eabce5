"""`compare`: train the baseline and each mitigation on your data, pick one on a validation split, audit all."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from kerasfer.comparison.records import (VALIDATION_FRACTION, VALIDATION_MIN_CELL, RunProgress, fingerprint, plain,
                                         reuse_run, seed_mean)
from kerasfer.comparison.selection import ACCURACY_TOLERANCE, BASELINE, indistinguishable, recommend, selection_rule
from kerasfer.training import MODELS

#: what `compare` trains without ``methods``: every registered method (`kerasfer.training.MODELS`, read live)
DEFAULT_METHODS = MODELS
#: bootstrap resamples of the test faces behind each CI (and of the validation faces behind theirs)
BOOTSTRAP_RESAMPLES = 200
#: the label-noise model whose T_g correct the validation labels: this method with ``label_noise`` set
#: to the ranked attribute, trained once per seed on the same fitting faces as the methods. Balanced
#: batches give the rare (group × emotion) cells, whose rows of T_g are otherwise learned from a few
#: faces, as many steps as the others.
NOISE_MODEL = "balanced"


#: `train_model` arguments compare sets for every run
RESERVED = {"attribute", "seed", "out", "verbose", "test_data", "validation_data", "epochs", "batch_size"}


def check_methods(methods) -> tuple[str, ...]:
    """`methods` as a tuple with the baseline first, each checked against `kerasfer.training.MODELS`.

    Raises:
        ValueError: naming the unknown method(s) and the valid ones.
    """
    names = tuple(m.strip() for m in (methods.split(",") if isinstance(methods, str) else methods))
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        raise ValueError(f"unknown method(s) {unknown or names}; choose from {', '.join(MODELS)}.")
    return (BASELINE, *dict.fromkeys(m for m in names if m != BASELINE))


def compare(train, test, *, methods=DEFAULT_METHODS, seeds: int = 3, attribute=None, epochs: int = 10,
            batch_size: int = 64, val_fraction: float = VALIDATION_FRACTION, tolerance: float = ACCURACY_TOLERANCE,
            validation=None, noise_correction: bool = True, groups_data=None, groups_test=None, groups_share=None,
            out=None, n_boot: int = BOOTSTRAP_RESAMPLES, verbose=1, **train_kwargs) -> dict:
    """Train the baseline and each method on `train`, recommend one by validation, audit all on `test`.

    Without `validation`, for every seed `train` is split (stratified by emotion × the attribute's
    groups, seeded) into a fitting part and a validation part; every method trains on the fitting
    part with that seed (`kerasfer.training.train_model`). With `noise_correction`, a label-noise
    model (`NOISE_MODEL` with ``label_noise`` on the ranked attribute) trains on the same fitting
    part, and every method's validation confusion matrices are corrected with its T_g before the
    rule reads them (`kerasfer.fairness.noise_corrected`): a method that fitted the annotators'
    errors then stops looking good on the annotators' labels. With a trusted `validation` set, every
    seed fits on the whole of `train` and the rule reads `validation`'s labels as they are.

    The recommendation uses the validation means only (`kerasfer.comparison.selection`); `test` is
    scored for the table and never chooses.

    With `out`, every run is saved in ``out/runs/METHOD/seedS`` (``model.keras``, ``metrics.json``,
    ``run.json``; the label-noise model in ``out/runs/label_noise/seedS``); calling `compare` again
    with the same settings reuses finished runs and resumes an interrupted one, so a long comparison
    survives a crash.

    Args:
        train: a labelled `FaceData` with the protected attribute(s).
        test: a labelled `FaceData` to audit on.
        methods: names of `kerasfer.training.MODELS` (a list or "a,b,c"); the baseline is always added.
        seeds: training seeds per method (>= 1).
        attribute: the protected attribute the methods work on and the rule ranks by (a list: the
            methods use their intersectional groups, the rule ranks by the first); None: ``"skin"``
            when the data has it, else its first attribute.
        epochs: training epochs of every run.
        batch_size: batch size of every run.
        val_fraction: share of `train` held out for validation (without `validation`).
        tolerance: accuracy (0–1) a method may lose against the baseline on validation and still be
            recommended.
        validation: None, or a trusted, clean-labelled `FaceData` with the attribute to choose on.
        noise_correction: correct the carved validation split's labels with learned T_g (ignored
            with a trusted `validation`).
        groups_data: None, or a `FaceData` with the protected attribute and no (needed) labels, when
            `train` has labels and no groups (FER+ with UTKFace): every method trains on both sources
            and the rule reads predicted-rate gaps (`kerasfer.comparison.two_sources`); only methods
            that need no joint labels (baseline, erasure, fairvae) take part.
        groups_test: with `groups_data`, its held-out faces: the test rate audit and leakage.
        groups_share: with `groups_data`, the share of its faces in every batch (None: as they come).
        out: folder for compare.json, compare.html, metrics.json and the runs (None: write nothing).
        n_boot: bootstrap resamples of the test faces behind each CI, and of the validation faces
            behind the validation intervals (a two-source comparison reports seed means, no CIs).
        verbose: 0 silent; 1 a progress bar over methods × seeds (one line per run in a file or pipe).
        **train_kwargs: passed to every `train_model` call (e.g. ``size="phone"``, ``learning_rate``).

    Returns:
        The content of compare.json: ``{"recommended", "rule", "attribute", "settings", "validation":
        {"figures", "indistinguishable", "statement", "label_noise"}, "methods": {name: {"accuracy",
        "worst_group_accuracy", "gaps": {attribute: {...}}, "leakage": {...}, "train_seconds",
        "validation": {...}, "validation_seeds": [...], "intervals": {...}, "std": {...}}},
        "test_check"}``.

    Raises:
        ValueError: an unknown method, bad settings, or data without labels or the attribute.
    """
    from kerasfer.models.groups import attribute_names, default_attribute

    explicit_methods = methods is not DEFAULT_METHODS
    methods = check_methods(methods)
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"`seeds` must be a positive integer; got {seeds!r}.")
    if not 0 < val_fraction < 1:
        raise ValueError(f"`val_fraction` must be between 0 and 1; got {val_fraction!r}.")
    if not 0 <= tolerance < 1:
        raise ValueError(f"`tolerance` must be in [0, 1) (a share of accuracy: 0.01 is one point); got {tolerance!r}.")
    roles = ((train, "training"), (test, "test")) + (() if validation is None else ((validation, "validation"),))
    for data, role in roles:
        if not (data.labels >= 0).any():
            raise ValueError(f"compare needs emotion labels in the {role} data; it has none.")
    reserved = sorted(set(train_kwargs) & RESERVED)
    if reserved:
        raise ValueError(f"compare sets {reserved} itself (every run gets the same); pass them as compare's own "
                         "arguments or leave them out.")
    if groups_data is not None or groups_test is not None or groups_share is not None:
        return _two_sources(train, test, groups_data, groups_test, groups_share, validation, train_kwargs,
                            methods=methods, explicit_methods=explicit_methods, seeds=seeds, attribute=attribute,
                            epochs=epochs, batch_size=batch_size, val_fraction=val_fraction, tolerance=tolerance,
                            out=out, verbose=verbose)
    if attribute is None:
        if not train.attribute_names:
            raise ValueError("compare needs a protected attribute; the training data has none.")
        attribute = default_attribute(train.attribute_names)
    for name in attribute_names(attribute):
        for data, _ in roles:
            data.check_attribute(name)
    ranked_by = attribute_names(attribute)[0]
    if validation is not None and list(validation.group_names[ranked_by]) != list(train.group_names[ranked_by]):
        raise ValueError(f"the validation data's {ranked_by} groups {list(validation.group_names[ranked_by])} differ "
                         f"from the training data's {list(train.group_names[ranked_by])}.")
    source = "trusted" if validation is not None else "corrected" if noise_correction else "annotated"
    read = "corrected" if source == "corrected" else "annotated"  # a trusted set's labels are read as they are
    settings = {"seeds": seeds, "epochs": epochs, "batch_size": batch_size, "val_fraction": val_fraction,
                "tolerance": tolerance, "attribute": attribute, "n_train": len(train), "n_test": len(test),
                "data": {"train": fingerprint(train), "test": fingerprint(test),
                         **({} if validation is None else {"validation": fingerprint(validation)})},
                "train_kwargs": {k: plain(v) for k, v in train_kwargs.items()}}
    runs = {name: [] for name in methods}
    noise = []
    extra = int(source == "corrected")
    with RunProgress((len(methods) + extra) * seeds, verbose) as progress:
        for seed in range(seeds):
            fit, held = (train, validation) if validation is not None else _split(train, attribute, val_fraction, seed)

            def folder(name):
                return None if out is None else Path(out) / "runs" / name / f"seed{seed}"

            common = dict(seed=seed, attribute=attribute, epochs=epochs, batch_size=batch_size)
            transitions = None
            if source == "corrected":
                progress.describe(f"label-noise model seed {seed}")
                noise.append(_label_noise_run(fit, folder("label_noise"), ranked_by,
                                              {**settings, "method": "label_noise", "seed": seed},
                                              **common, **train_kwargs))
                transitions = noise[-1]["transitions"]
                progress.done(f"label-noise model seed {seed}: largest off-diagonal of T_g "
                              f"{_largest_noise(transitions):.2f}")
            for name in methods:
                progress.describe(f"{name} seed {seed}")
                run = _run(name, fit, held, test, folder(name), {**settings, "method": name, "seed": seed},
                           **common, **train_kwargs)
                run["validation"] = _validation_scores(run["validation_predictions"], held, ranked_by, transitions,
                                                       n_boot, seed)
                runs[name].append(run)
                progress.done(f"{name} seed {seed}: " + _validation_line(run["validation"], read))
    validation_means = {name: _mean_validation([r["validation"][read] for r in rows]) for name, rows in runs.items()}
    recommended = recommend(validation_means, tolerance)
    tied = indistinguishable(validation_means, recommended, tolerance)
    result = {"recommended": recommended, "rule": selection_rule(ranked_by, tolerance, source), "attribute": ranked_by,
              "settings": settings,
              "validation": {"figures": source, "indistinguishable": tied,
                             "statement": _statement(recommended, tied, ranked_by),
                             "label_noise": [n["report"] for n in noise]},
              "methods": {name: _summarise(rows, test, ranked_by, n_boot, read) for name, rows in runs.items()}}
    result["test_check"] = _test_check(result["methods"], recommended, ranked_by)
    if out is not None:
        from kerasfer.report.compare import write_compare_page
        from kerasfer.utils.io import write_json

        out = Path(out)
        write_json(out / "compare.json", result)
        write_json(out / "metrics.json", {"settings": settings,
                                          "runs": {name: [r["metrics"] for r in rows] for name, rows in runs.items()}})
        write_compare_page(result, out / "compare.html")
    return result


def _two_sources(train, test, groups_data, groups_test, groups_share, validation, train_kwargs, **options):
    """`compare` with a separate groups source: the checks of its own (after compare's labels and reserved
    arguments), then `compare_two_sources`."""
    from kerasfer.comparison.two_sources import compare_two_sources
    from kerasfer.models.groups import attribute_names, default_attribute

    if groups_data is None or groups_test is None:
        raise ValueError("a two-source comparison needs both `groups_data` (the groups source's training faces) and "
                         "`groups_test` (its held-out faces, for the test rate audit)"
                         + ("" if groups_data is not None or groups_test is not None else
                            "; `groups_share` was given without them") + ".")
    if validation is not None:
        raise ValueError("a trusted `validation` set needs faces with both labels and groups; with a separate groups "
                         "source each seed carves a validation part from both sources instead.")
    attribute = options.pop("attribute")
    if attribute is None:
        if not groups_data.attribute_names:
            raise ValueError("compare needs a protected attribute; the groups data has none.")
        attribute = default_attribute(groups_data.attribute_names)
    names = attribute_names(attribute)
    if len(names) != 1:
        raise ValueError(f"a two-source comparison ranks by one attribute; got {names}.")
    return compare_two_sources(train, test, groups_data, groups_test, attribute=names[0], groups_share=groups_share,
                               **options, **train_kwargs)


def _split(train, attribute, fraction, seed):
    """The seed's (fitting, validation) parts of `train`, stratified by emotion × the attribute's groups."""
    from kerasfer.data.sampling import stratified_split
    from kerasfer.models.groups import attribute_names

    return stratified_split(train, fraction, by=("label", *attribute_names(attribute)), seed=seed)


def _run(name, fit, validation, test, folder, settings, **train_kwargs) -> dict:
    """Train (or reuse a finished run with the same settings) one method; its validation and test predictions."""
    from kerasfer.fairness import accuracy_summary, leakage
    from kerasfer.models.predict import predict_proba
    from kerasfer.training import train_model
    from kerasfer.utils.io import write_json

    saved = reuse_run(folder, settings)
    if saved is not None and "validation_predictions" in saved:
        return {**saved, "predictions": np.asarray(saved["predictions"]),
                "validation_predictions": np.asarray(saved["validation_predictions"])}
    started = time.perf_counter()
    model, metrics = train_model(name, fit, out=folder, verbose=0, **train_kwargs)
    seconds = time.perf_counter() - started
    val_pred = predict_proba(model, validation).argmax(axis=1)
    test_pred = predict_proba(model, test).argmax(axis=1)
    summary = accuracy_summary(test.labels, test_pred, test)
    probes = {a: leakage(model, test, a, n_boot=0)["balanced_accuracy"] for a in test.attribute_names}
    row = {"settings": plain(settings), "train_seconds": round(seconds, 2),
           "test": {k: summary[k] for k in ("accuracy", "worst_group_accuracy", "worst_group", "gaps")},
           "leakage": {a: {"balanced_accuracy": p, "chance": 1 / len(test.group_names[a])} for a, p in probes.items()},
           "metrics": plain(metrics), "predictions": test_pred.tolist(), "validation_predictions": val_pred.tolist()}
    if folder is not None:
        write_json(folder / "run.json", row)
    return {**row, "predictions": test_pred, "validation_predictions": val_pred}


def _label_noise_run(fit, folder, ranked_by, settings, **train_kwargs) -> dict:
    """Train (or reuse) the label-noise model on the fitting faces: its T_g of `ranked_by`'s groups.

    Returns:
        ``{"transitions": (G, K, K) array, "report": the model's transition report}``.
    """
    from kerasfer.training import train_model
    from kerasfer.utils.io import write_json

    saved = reuse_run(folder, settings)
    if saved is None:
        _, metrics = train_model(NOISE_MODEL, fit, out=folder, verbose=0,
                                 **{**train_kwargs, "label_noise": ranked_by})
        saved = {"settings": plain(settings), "report": plain(metrics["label_noise"])}
        if folder is not None:
            write_json(folder / "run.json", saved)
    report = saved["report"]
    transitions = np.array([report["groups"][str(g)] for g in fit.group_names[ranked_by]], np.float64)
    return {"transitions": transitions / transitions.sum(axis=-1, keepdims=True), "report": report}


def _largest_noise(transitions) -> float:
    """The largest off-diagonal entry of any T_g: how far the annotators' labels stray."""
    off = np.asarray(transitions) * (1 - np.eye(np.asarray(transitions).shape[-1]))
    return float(off.max())


def _validation_scores(predictions, validation, ranked_by, transitions, n_boot, seed) -> dict:
    """One run's validation figures: against the labels as they are, and corrected by `transitions`."""
    from kerasfer.fairness.noise_corrected import validation_figures

    args = (validation.labels, predictions, validation.attributes[ranked_by], len(validation.group_names[ranked_by]),
            len(validation.label_names))
    options = dict(min_cell=VALIDATION_MIN_CELL, n_boot=n_boot, seed=seed)
    scores = {"annotated": validation_figures(*args, **options)}
    if transitions is not None:
        scores["corrected"] = validation_figures(*args, transitions, **options)
    return scores


def _statement(recommended, tied, attribute) -> str:
    """compare.html's plain sentence on whether validation could tell the methods apart."""
    if not tied:
        return (f"The validation split tells {recommended} apart from every other candidate: its 95 % interval of the "
                f"{attribute} gap overlaps none of theirs.")
    return (f"The validation split cannot tell {recommended} apart from {', '.join(tied)}: their 95 % intervals of the "
            f"{attribute} gap overlap {recommended}'s. The recommendation among them is a coin toss on this much "
            "validation data; more faces or seeds, or a trusted validation set (--validation), would decide it.")


def _validation_line(scores, read) -> str:
    def number(value):
        return "–" if value is None else f"{value:.3f}"

    shown = scores[read]
    line = (f"validation accuracy {number(shown['accuracy'])}, cell-balanced {number(shown['balanced_accuracy'])}, "
            f"FPR gap {number(shown['false_positive_rate_difference'])}, EOD {number(shown['equalized_odds_difference'])}")
    return line + (" (corrected for label noise)" if read == "corrected" else "")


def _mean_validation(scores) -> dict:
    """The seeds' mean of each validation figure, and of each interval bound."""
    figures = {key: seed_mean([s[key] for s in scores]) for key in scores[0] if key != "intervals"}
    figures["intervals"] = {key: [seed_mean([s["intervals"][key][i] for s in scores]) for i in (0, 1)]
                            for key in scores[0].get("intervals", {})}
    return figures


def _summarise(rows, test, ranked_by, n_boot, read) -> dict:
    """One method's seed means on the test split, their CIs (`seed_mean_intervals`) and seed spread, and its
    validation figures (the seeds' means of those the rule `read`, and of the annotated ones; each seed's)."""
    from kerasfer.fairness.seed_intervals import seed_mean_intervals

    mean = seed_mean
    tests = [r["test"] for r in rows]
    gaps = {a: {k: mean([t["gaps"][a][k] for t in tests]) for k in tests[0]["gaps"][a] if k != "groups_compared"}
            for a in tests[0]["gaps"]}
    intervals = seed_mean_intervals(test.labels, np.stack([r["predictions"] for r in rows]), test.attributes[ranked_by],
                                    test.group_names[ranked_by], test.label_names, n_boot=n_boot)
    return {"accuracy": mean([t["accuracy"] for t in tests]),
            "worst_group_accuracy": mean([t["worst_group_accuracy"] for t in tests]),
            "gaps": gaps,
            "leakage": {a: {"balanced_accuracy": mean([r["leakage"][a]["balanced_accuracy"] for r in rows]),
                            "chance": rows[0]["leakage"][a]["chance"]} for a in rows[0]["leakage"]},
            "train_seconds": mean([r["train_seconds"] for r in rows]),
            "validation": _mean_validation([r["validation"][read] for r in rows]),
            "validation_annotated": _mean_validation([r["validation"]["annotated"] for r in rows]),
            "validation_seeds": [r["validation"] for r in rows],
            "test_seeds": [{"accuracy": t["accuracy"],
                            "equalized_odds_difference": t["gaps"][ranked_by]["equalized_odds_difference"]}
                           for t in tests],
            "intervals": {ranked_by: intervals},
            "std": {"accuracy": float(np.std([t["accuracy"] for t in tests])),
                    "equalized_odds_difference": _std([t["gaps"][ranked_by]["equalized_odds_difference"]
                                                       for t in tests])},
            "seeds": len(rows)}


def _std(values):
    known = [v for v in values if v is not None]
    return float(np.std(known)) if known else None


def _test_check(methods, recommended, attribute) -> dict:
    """How the recommended method did on the *test* split against the baseline (reported, never used to choose)."""
    base, chosen = methods[BASELINE], methods[recommended]
    base_eod = base["gaps"][attribute]["equalized_odds_difference"]
    eod = chosen["gaps"][attribute]["equalized_odds_difference"]
    return {"accuracy_change": chosen["accuracy"] - base["accuracy"],
            "equalized_odds_reduction": (1 - eod / base_eod) if base_eod and eod is not None else None}

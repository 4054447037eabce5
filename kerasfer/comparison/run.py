"""`compare`: train the baseline and each mitigation on your data, pick one on a validation split, audit all."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from kerasfer.comparison.selection import ACCURACY_TOLERANCE, BASELINE, recommend, selection_rule
from kerasfer.training import MODELS

#: what `compare` trains without ``methods``: every registered method (`kerasfer.training.MODELS`, read live)
DEFAULT_METHODS = MODELS
#: share of the training data held out (stratified by emotion × group) to choose by
VALIDATION_FRACTION = 0.2
#: the validation gaps leave out the rates of (group × emotion) cells with fewer faces than this: on a
#: stereotyped 800-face validation split a rare cell holds 3–6 faces, whose rate is 0 or 1 by chance and
#: then decides the max over classes. Measured on the stereotype regime (7 methods, 1 seed): with every
#: cell, the method with the smallest test EOD (balanced, 0.37) had one of the largest validation EODs (0.79).
VALIDATION_MIN_CELL = 10
#: bootstrap resamples of the test faces behind each CI
BOOTSTRAP_RESAMPLES = 200


#: `train_model` arguments compare sets for every run
RESERVED = {"attribute", "seed", "out", "verbose", "test_data", "validation_data", "epochs", "batch_size"}


def fingerprint(data) -> str:
    """A short hash of a `FaceData`'s labels, attributes and images (or file paths): finished runs are
    reused only for the very data they were trained on."""
    import hashlib

    digest = hashlib.sha1()
    for array in (data.labels, *(data.attributes[k] for k in sorted(data.attributes))):
        digest.update(np.ascontiguousarray(array).tobytes())
    if data.images is None:
        digest.update("\n".join(map(str, data.paths)).encode())
    else:
        digest.update(np.ascontiguousarray(data.images).tobytes())
    return digest.hexdigest()[:16]


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
            out=None, n_boot: int = BOOTSTRAP_RESAMPLES, verbose=1, **train_kwargs) -> dict:
    """Train the baseline and each method on `train`, recommend one by validation, audit all on `test`.

    For every seed, `train` is split (stratified by emotion × the attribute's groups, seeded) into a
    fitting part and a validation part; every method trains on the fitting part with that seed
    (`kerasfer.training.train_model`). The recommendation uses the validation means only
    (`kerasfer.comparison.selection`); `test` is scored for the table and never chooses.

    With `out`, every run is saved in ``out/runs/METHOD/seedS`` (``model.keras``, ``metrics.json``,
    ``run.json``); calling `compare` again with the same settings reuses finished runs and resumes an
    interrupted one, so a long comparison survives a crash.

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
        val_fraction: share of `train` held out for validation.
        tolerance: accuracy (0–1) a method may lose against the baseline on validation and still be
            recommended.
        out: folder for compare.json, compare.html, metrics.json and the runs (None: write nothing).
        n_boot: bootstrap resamples of the test faces behind each CI.
        verbose: 0 silent; 1 a progress bar over methods × seeds (one line per run in a file or pipe).
        **train_kwargs: passed to every `train_model` call (e.g. ``size="phone"``, ``learning_rate``).

    Returns:
        The content of compare.json: ``{"recommended", "rule", "attribute", "settings", "methods":
        {name: {"accuracy", "worst_group_accuracy", "gaps": {attribute: {...}}, "leakage": {...},
        "train_seconds", "validation": {...}, "intervals": {...}, "std": {...}}}}``.

    Raises:
        ValueError: an unknown method, bad settings, or data without labels or the attribute.
    """
    from kerasfer.models.groups import attribute_names, default_attribute

    methods = check_methods(methods)
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"`seeds` must be a positive integer; got {seeds!r}.")
    if not 0 < val_fraction < 1:
        raise ValueError(f"`val_fraction` must be between 0 and 1; got {val_fraction!r}.")
    if not 0 <= tolerance < 1:
        raise ValueError(f"`tolerance` must be in [0, 1) (a share of accuracy: 0.01 is one point); got {tolerance!r}.")
    for data, role in ((train, "training"), (test, "test")):
        if not (data.labels >= 0).any():
            raise ValueError(f"compare needs emotion labels in the {role} data; it has none.")
    if attribute is None:
        if not train.attribute_names:
            raise ValueError("compare needs a protected attribute; the training data has none.")
        attribute = default_attribute(train.attribute_names)
    for name in attribute_names(attribute):
        train.check_attribute(name)
        test.check_attribute(name)
    reserved = sorted(set(train_kwargs) & RESERVED)
    if reserved:
        raise ValueError(f"compare sets {reserved} itself (every run gets the same); pass them as compare's own "
                         "arguments or leave them out.")
    ranked_by = attribute_names(attribute)[0]
    settings = {"seeds": seeds, "epochs": epochs, "batch_size": batch_size, "val_fraction": val_fraction,
                "tolerance": tolerance, "attribute": attribute, "n_train": len(train), "n_test": len(test),
                "data": {"train": fingerprint(train), "test": fingerprint(test)},
                "train_kwargs": {k: _plain(v) for k, v in train_kwargs.items()}}
    runs = {name: [] for name in methods}
    with _Progress(len(methods) * seeds, verbose) as progress:
        for seed in range(seeds):
            fit, validation = _split(train, attribute, val_fraction, seed)
            for name in methods:
                progress.describe(f"{name} seed {seed}")
                folder = None if out is None else Path(out) / "runs" / name / f"seed{seed}"
                runs[name].append(_run(name, fit, validation, test, folder, seed, attribute, ranked_by,
                                       {**settings, "method": name, "seed": seed}, epochs=epochs,
                                       batch_size=batch_size, **train_kwargs))
                progress.done(f"{name} seed {seed}: " + _validation_line(runs[name][-1]["validation"]))
    validation = {name: _mean_validation(rows) for name, rows in runs.items()}
    recommended = recommend(validation, tolerance)
    result = {"recommended": recommended, "rule": selection_rule(ranked_by, tolerance), "attribute": ranked_by,
              "settings": settings,
              "methods": {name: _summarise(rows, test, ranked_by, n_boot, validation[name]) for name, rows in runs.items()}}
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


def _split(train, attribute, fraction, seed):
    """The seed's (fitting, validation) parts of `train`, stratified by emotion × the attribute's groups."""
    from kerasfer.data.sampling import stratified_split
    from kerasfer.models.groups import attribute_names

    return stratified_split(train, fraction, by=("label", *attribute_names(attribute)), seed=seed)


def _run(name, fit, validation, test, folder, seed, attribute, ranked_by, settings, **train_kwargs) -> dict:
    """Train (or reuse a finished run with the same settings) and score one method on validation and test."""
    from kerasfer.fairness import accuracy_summary, leakage
    from kerasfer.fairness.groups import cell_balanced_accuracy, group_gaps
    from kerasfer.models.predict import predict_proba
    from kerasfer.training import train_model
    from kerasfer.utils.io import write_json

    record = None if folder is None else folder / "run.json"
    if record is not None and record.exists() and (folder / "model.keras").exists():
        saved = json.loads(record.read_text())
        if saved.get("settings") == _plain(settings):
            return {**saved, "predictions": np.asarray(saved["predictions"])}
    started = time.perf_counter()
    model, metrics = train_model(name, fit, out=folder, seed=seed, attribute=attribute, verbose=0, **train_kwargs)
    seconds = time.perf_counter() - started
    val_pred = predict_proba(model, validation).argmax(axis=1)
    labelled = validation.labels >= 0
    gaps = group_gaps(validation.labels, val_pred, validation, [ranked_by], min_cell=VALIDATION_MIN_CELL,
                      gaps=("equalized_odds_difference", "false_positive_rate_difference"))[ranked_by]
    scores = {"accuracy": float(np.mean(val_pred[labelled] == validation.labels[labelled])),
              "balanced_accuracy": cell_balanced_accuracy(validation.labels, val_pred, validation.attributes[ranked_by]),
              "equalized_odds_difference": gaps["equalized_odds_difference"],
              "false_positive_rate_difference": gaps["false_positive_rate_difference"]}
    test_pred = predict_proba(model, test).argmax(axis=1)
    summary = accuracy_summary(test.labels, test_pred, test)
    probes = {a: leakage(model, test, a, n_boot=0)["balanced_accuracy"] for a in test.attribute_names}
    row = {"settings": _plain(settings), "train_seconds": round(seconds, 2), "validation": scores,
           "test": {k: summary[k] for k in ("accuracy", "worst_group_accuracy", "worst_group", "gaps")},
           "leakage": {a: {"balanced_accuracy": p, "chance": 1 / len(test.group_names[a])} for a, p in probes.items()},
           "metrics": _plain(metrics), "predictions": test_pred.tolist()}
    if record is not None:
        write_json(record, row)
    return {**row, "predictions": test_pred}


def _validation_line(scores) -> str:
    def number(value):
        return "–" if value is None else f"{value:.3f}"

    return (f"validation accuracy {number(scores['accuracy'])}, cell-balanced {number(scores['balanced_accuracy'])}, "
            f"FPR gap {number(scores['false_positive_rate_difference'])}, EOD {number(scores['equalized_odds_difference'])}")


def _mean(values):
    """Mean of the known values (None: a gap with fewer than two large-enough groups); None if none is known."""
    known = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(known)) if known else None


def _mean_validation(rows) -> dict:
    return {key: _mean([r["validation"][key] for r in rows]) for key in rows[0]["validation"]}


def _summarise(rows, test, ranked_by, n_boot, validation) -> dict:
    """One method's seed means on the test split, their CIs (`seed_mean_intervals`) and seed spread."""
    from kerasfer.fairness.seed_intervals import seed_mean_intervals

    mean = _mean
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
            "validation": validation,
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


def _plain(value):
    """`value` as JSON would store it (tuples → lists), so saved settings compare equal."""
    return json.loads(json.dumps(value, default=str))


class _Progress:
    """A tqdm bar over the runs (terminal, notebook), one line per run (file, pipe), or nothing."""

    def __init__(self, total: int, verbose):
        from kerasfer.utils.progress import progress_style

        self.style, self.total, self.count, self.bar = progress_style(verbose), total, 0, None

    def __enter__(self):
        if self.style in ("bar", "notebook"):
            from kerasfer.utils.progress import auto_bar

            self.bar = auto_bar(total=self.total, unit="run", desc="compare")
        return self

    def describe(self, text: str):
        if self.bar is not None:
            self.bar.set_postfix_str(text)

    def done(self, line: str):
        self.count += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.style == "epochs":
            print(f"[{self.count}/{self.total}] {line}", flush=True)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()

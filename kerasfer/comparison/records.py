"""What every comparison shares (`run` with one source, `two_sources` with two): the validation split's
size, data fingerprints, reuse of finished runs, seed means and the progress bar."""

from __future__ import annotations

import json

import numpy as np

#: share of the training data held out (stratified by emotion × group) to choose by
VALIDATION_FRACTION = 0.2
#: the validation gaps leave out the rates of (group × emotion) cells with fewer faces than this: on a
#: stereotyped 800-face validation split a rare cell holds 3–6 faces, whose rate is 0 or 1 by chance and
#: then decides the max over classes. Measured on the stereotype regime (7 methods, 1 seed): with every
#: cell, the method with the smallest test EOD (balanced, 0.37) had one of the largest validation EODs (0.79).
VALIDATION_MIN_CELL = 10


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


#: compare's settings that change only how the runs are chosen between, not how one trains: a finished run
#: is reused whatever they are
CHOICE_SETTINGS = ("tolerance",)


def reuse_run(folder, settings):
    """A finished run's saved record when it was trained with these very settings, else None."""
    record = None if folder is None else folder / "run.json"
    if record is None or not record.exists() or not (folder / "model.keras").exists():
        return None
    saved = json.loads(record.read_text())

    def training(values):
        return {k: v for k, v in (values or {}).items() if k not in CHOICE_SETTINGS}

    return saved if training(saved.get("settings")) == training(plain(settings)) else None


def seed_mean(values):
    """Mean of the known values (None: a gap with fewer than two large-enough groups); None if none is known."""
    known = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(known)) if known else None


def plain(value):
    """`value` as JSON would store it (tuples → lists), so saved settings compare equal."""
    return json.loads(json.dumps(value, default=str))


class RunProgress:
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

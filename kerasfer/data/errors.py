"""What a reader does with bad input: ``on_error="raise"`` (default) or ``"skip"``, and the report of skips.

Every dataset reader takes ``on_error``. With ``"raise"`` the first bad record stops the read with a
`DataError` (a `ValueError`) that names the file, the line (for text files) and what is wrong. With
``"skip"`` the record is left out, a warning with the counts is logged once at the end, and the
returned `FaceData` carries a `SkipReport` as ``data.skipped`` listing every record left out.

Records that are valid but outside the 7 basic emotions (AffectNet's contempt / none / uncertain /
no-face codes) are *excluded*, never errors: they are listed in the same report with
``kind="excluded"``.

Example:
    >>> data = read_fer2013("fer2013.csv", on_error="skip")      # doctest: +SKIP
    >>> print(data.skipped)                                        # doctest: +SKIP
    SkipReport: 2 record(s) left out — malformed row: 1, unknown label: 1
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

ON_ERROR = ("raise", "skip")

logger = logging.getLogger("kerasfer.data")


class DataError(ValueError):
    """Bad input in a dataset file: names the file, the line (0 when not a text line) and the reason."""

    def __init__(self, file, line: int, reason: str):
        self.file, self.line, self.reason = str(file), int(line), str(reason)
        where = f"{self.file}, line {self.line}" if self.line else self.file
        super().__init__(f"{where}: {self.reason}")


@dataclass(frozen=True)
class SkippedRecord:
    """One record left out of a dataset.

    Args:
        file: the file holding the bad record (a CSV/label file, or the image itself).
        line: 1-based line in `file`; 0 when the record is not a text line (e.g. an image file).
        reason: short category, e.g. ``"missing image"``, ``"corrupt image"``, ``"unknown label"``.
        detail: the full message.
        kind: ``"error"`` (bad input) or ``"excluded"`` (valid, but not one of the 7 emotions).
    """

    file: str
    line: int
    reason: str
    detail: str
    kind: str = "error"


@dataclass
class SkipReport:
    """Everything a reader left out, attached to the returned data as ``data.skipped``.

    Attributes:
        records: the `SkippedRecord`s, in reading order.
    """

    records: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __bool__(self) -> bool:
        return bool(self.records)

    def counts(self) -> dict:
        """Number of records left out per reason."""
        return dict(Counter(r.reason for r in self.records))

    @property
    def errors(self) -> list:
        """The records left out because of bad input (not the excluded ones)."""
        return [r for r in self.records if r.kind == "error"]

    def to_frame(self):
        """The records as a pandas DataFrame (columns file, line, reason, detail, kind)."""
        import pandas as pd

        return pd.DataFrame([r.__dict__ for r in self.records], columns=["file", "line", "reason", "detail", "kind"])

    def __str__(self) -> str:
        if not self.records:
            return "SkipReport: nothing left out"
        counts = ", ".join(f"{k}: {v}" for k, v in self.counts().items())
        return f"SkipReport: {len(self)} record(s) left out — {counts}"

    def __add__(self, other: "SkipReport") -> "SkipReport":
        return SkipReport(self.records + other.records)


class ErrorPolicy:
    """Applies ``on_error`` while a reader walks its records; collects the `SkipReport`.

    Args:
        on_error: ``"raise"`` or ``"skip"``.
        dataset: dataset name for the log message.
    """

    def __init__(self, on_error: str, dataset: str):
        if on_error not in ON_ERROR:
            raise ValueError(f"`on_error` must be one of {ON_ERROR}; got {on_error!r}.")
        self.on_error, self.dataset = on_error, dataset
        self.report = SkipReport()

    def fail(self, file, line: int, reason: str, detail: str = "") -> None:
        """Report bad record (`file`, `line`): raise `DataError` or record the skip."""
        message = f"{reason}: {detail}" if detail else reason
        if self.on_error == "raise":
            raise DataError(file, line, message)
        self.report.records.append(SkippedRecord(str(file), int(line), reason, message))

    def exclude(self, file, line: int, reason: str, detail: str = "") -> None:
        """Record a valid record that is deliberately left out (never raises)."""
        self.report.records.append(SkippedRecord(str(file), int(line), reason, detail or reason, kind="excluded"))

    def finish(self) -> SkipReport:
        """Log the counts once (a warning for errors, info for exclusions) and return the report."""
        errors = self.report.errors
        if errors:
            counts = ", ".join(f"{k}: {v}" for k, v in Counter(r.reason for r in errors).items())
            logger.warning("%s: skipped %d bad record(s) (%s); see data.skipped", self.dataset, len(errors), counts)
        excluded = [r for r in self.report.records if r.kind == "excluded"]
        if excluded:
            counts = ", ".join(f"{k}: {v}" for k, v in Counter(r.reason for r in excluded).items())
            logger.info("%s: excluded %d record(s) (%s); see data.skipped", self.dataset, len(excluded), counts)
        return self.report

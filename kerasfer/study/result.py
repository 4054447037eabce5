"""`StudyResult`: what `kerasfer.study.au_bias` returns — tables for notebooks, files for people."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

TABLES = ("summary", "per_au", "gaps")


@dataclass
class StudyResult:
    """The outcome of the per-group Action Unit bias study (baseline vs FairVAE).

    Attributes:
        attribute: the protected attribute whose groups are compared.
        summary: one row per model: overall mean F1 over AUs (with CI), worst group and its mean
            F1, the mean-F1 gap between groups (CI, permutation p-value), latent leakage of the
            attribute (probe balanced accuracy, CI, chance) and training seconds.
        per_au: one row per (model, AU, group): count, F1 and ROC AUC with bootstrap CIs, at the
            model's tuned thresholds.
        gaps: one row per (model, AU): best − worst group F1 with CI and permutation p-value
            (AU ``"mean"``: the gap of the per-group mean F1).
        thresholds: model → AU → decision threshold tuned on validation data.
        heatmaps: model → ``{"aus": [...], "groups": {au: {group: map}}, "differences": {au:
            {"a − b": map}}, "faces": {au: {group: mean face}}, "group_faces": {group: mean face}}``
            (``group_faces``: the background for grids of every AU, e.g. `kerasfer.explain.heatmap_grid`).
        audits: model → the `kerasfer.fairness.AuditResult` behind the tables.
        files: name → path of every file written (report, JSON, CSVs, PNGs, models); empty when
            the study ran without `out`.
        notes: the audits' warnings (small groups, NaN gaps), prefixed with the model.
        settings: sizes, epochs, seeds and the data the study ran on.
    """

    attribute: str
    summary: pd.DataFrame
    per_au: pd.DataFrame
    gaps: pd.DataFrame
    thresholds: dict
    heatmaps: dict
    audits: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def to_frame(self, table: str = "summary") -> pd.DataFrame:
        """One of the tables (a copy): ``"summary"``, ``"per_au"`` or ``"gaps"``."""
        if table not in TABLES:
            raise ValueError(f"`table` must be one of {TABLES}; got {table!r}.")
        return getattr(self, table).copy()

    def f1_table(self) -> pd.DataFrame:
        """F1 per AU (rows) and model × group (columns): the study's main table at a glance."""
        return self.per_au.pivot_table(index="au", columns=["model", "group"], values="f1", sort=False)

    def summary_text(self) -> str:
        """A few plain sentences: each model's worst group, F1 gap (with CI and p) and leakage."""
        lines = []
        for row in self.summary.to_dict("records"):
            lines.append(
                f"{row['model']}: mean F1 {row['mean_f1']:.3f} [{row['mean_f1_low']:.3f}, {row['mean_f1_high']:.3f}]; "
                f"worst {self.attribute} group {row['worst_group']} ({row['worst_group_mean_f1']:.3f}); "
                f"F1 gap between groups {row['mean_f1_gap']:.3f} [{row['mean_f1_gap_low']:.3f}, "
                f"{row['mean_f1_gap_high']:.3f}], p={row['mean_f1_gap_p']:.3g}; "
                f"{self.attribute} leakage {row['leakage']:.3f} (chance {row['leakage_chance']:.3f})"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Everything but the heatmap arrays and the audits, as JSON-ready Python values."""
        return {
            "attribute": self.attribute,
            "settings": self.settings,
            "thresholds": self.thresholds,
            "summary": self.summary.to_dict("records"),
            "per_au": self.per_au.to_dict("records"),
            "gaps": self.gaps.to_dict("records"),
            "files": {k: str(v) for k, v in self.files.items()},
            "notes": list(self.notes),
        }

    def _repr_html_(self) -> str:
        return (f"<p><b>AU bias study</b> ({self.attribute}); report: {self.files.get('report', 'not written')}</p>"
                + self.summary.to_html(index=False, float_format=lambda x: f"{x:.3f}"))

    def __str__(self) -> str:
        return self.summary_text()

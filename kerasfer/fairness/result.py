"""`AuditResult`: what `audit` returns — tables for notebooks, JSON for machines, HTML for people."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kerasfer.fairness.bootstrap import format_p_value

SIGNIFICANCE = 0.05


@dataclass
class AuditResult:
    """The outcome of a fairness audit.

    Attributes:
        task: ``"emotion"`` (single label) or ``"au"`` (multi-label Action Units).
        label_names: class (or AU) names in output order.
        overall: whole-set figures, ``{"count", metric: {"value", "ci_low", "ci_high"}}``.
        groups: one row per (attribute, group): count, ``small`` (below `min_count`), accuracy
            and macro-F1 (AU: mean F1 and mean AUC over AUs), each with ``_low`` / ``_high`` CI.
        per_class: one row per (attribute, group, class): TPR, FPR and selection rate (AU: F1,
            AUC) with CIs.
        gaps: one row per (attribute, metric): value, ci_low, ci_high, p_value, groups_compared.
        confusion: attribute -> group -> K×K confusion matrix (rows truth, columns prediction).
        unknown: attribute -> samples left out because their group is unknown.
        notes: warnings raised during the audit (small groups, skipped parts).
        settings: n_boot, n_perm, seed, min_count, level, n, attributes, intersections, model.
        leakage: one row per attribute and probe (linear, MLP) of the latent probes
            (`kerasfer.fairness.leakage`), or None.
        projection: 2-D PCA of the latent ``{"x", "y", "groups": {attribute: names}, "order": {attribute:
            group names}}``, or None.
        heatmaps: attribute -> ``{"groups": {group: map}, "differences": {"a - b": map},
            "faces": {group: mean face}}``, or None.
        label_noise: a model trained with ``label_noise=ATTRIBUTE``: its learned T_g,
            ``{"attribute", "classes", "groups": {group: C×C P(annotated | true)}}``, or None.
    """

    task: str
    label_names: tuple
    overall: dict
    groups: pd.DataFrame
    per_class: pd.DataFrame
    gaps: pd.DataFrame
    confusion: dict = field(default_factory=dict)
    unknown: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    leakage: pd.DataFrame | None = None
    projection: dict | None = None
    heatmaps: dict | None = None
    label_noise: dict | None = None

    # ------------------------------------------------------------------------------ notebooks
    def to_frame(self, table: str = "groups") -> pd.DataFrame:
        """One of the result tables as a DataFrame.

        Args:
            table: ``"groups"`` (indexed by attribute, group), ``"per_class"`` (attribute, group,
                class), ``"gaps"`` (attribute, metric) or ``"leakage"`` (attribute).

        Returns:
            A copy of the table.
        """
        frames = {"groups": (self.groups, ["attribute", "group"]),
                  "per_class": (self.per_class, ["attribute", "group", "class"]),
                  "gaps": (self.gaps, ["attribute", "metric"]),
                  "leakage": (self.leakage if self.leakage is not None else pd.DataFrame(columns=["attribute"]),
                              ["attribute"])}
        if table not in frames:
            raise ValueError(f"`table` must be one of {sorted(frames)}; got {table!r}.")
        frame, index = frames[table]
        return frame.set_index(index).copy()

    def worst_groups(self) -> pd.DataFrame:
        """Per attribute, the group with the lowest accuracy (AU: mean F1), among the non-small ones."""
        key = "accuracy" if self.task == "emotion" else "mean_f1"
        frame = self.groups[~self.groups["small"]] if self.groups["small"].any() else self.groups
        frame = frame.dropna(subset=[key])
        return frame.loc[frame.groupby("attribute", sort=False)[key].idxmin()].set_index("attribute")

    def summary(self) -> str:
        """A few lines a person reads first: overall figure, then per attribute the worst group and gaps."""
        key, label = ("accuracy", "accuracy") if self.task == "emotion" else ("mean_f1", "mean F1 over AUs")
        fig = self.overall[key]
        lines = [f"Fairness audit of {self.settings.get('model', 'the model')} on {self.overall['count']} samples "
                 f"({self.task}): {label} {_ci(fig['value'], fig['ci_low'], fig['ci_high'])}"]
        worst = self.worst_groups()
        headline = ("equalized_odds_difference", "demographic_parity_difference", "fairness_ratio") \
            if self.task == "emotion" else ("mean_f1_difference", "mean_auc_difference")
        for attribute in dict.fromkeys(self.groups["attribute"]):
            parts = []
            if attribute in worst.index:
                row = worst.loc[attribute]
                parts.append(f"worst {row['group']} {_ci(row[key], row[key + '_low'], row[key + '_high'])}")
            gaps = self.gaps[self.gaps["attribute"] == attribute].set_index("metric")
            for metric in headline:
                if metric in gaps.index:
                    g = gaps.loc[metric]
                    star = "*" if g["p_value"] < SIGNIFICANCE else ""
                    p = format_p_value(g["p_value"], self.settings.get("n_perm"))
                    p = f", {p}{star}" if p else ""
                    parts.append(f"{_short(metric)} {_ci(g['value'], g['ci_low'], g['ci_high'])}{p}")
            lines.append(f"  {attribute}: " + "; ".join(parts))
        if self.leakage is not None and len(self.leakage):
            probes = ", ".join(f"{attribute} " + " / ".join(f"{r.balanced_accuracy:.2f}" for r in rows.itertuples())
                               + f" (chance {rows['chance'].iloc[0]:.2f})"
                               for attribute, rows in self.leakage.groupby("attribute", sort=False))
            kinds = " / ".join(self.leakage["probe"].drop_duplicates())
            lines.append(f"  latent leakage (probe balanced accuracy, {kinds}): {probes}")
        if self.label_noise is not None:
            diagonal = ", ".join(f"{g} {np.mean(np.diagonal(m)):.2f}" for g, m in self.label_noise["groups"].items())
            lines.append(f"  learned label noise (mean diagonal of T_g, 1 = labels taken as right): {diagonal}")
        if self.settings.get("n_perm"):
            lines.append(f"  * gap unlikely under interchangeable groups (permutation p < {SIGNIFICANCE}); "
                         f"{int(self.settings.get('level', 0.95) * 100)} % bootstrap CIs in brackets")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from kerasfer.report.html import notebook_html

        return notebook_html(self)

    # ---------------------------------------------------------------------------------- files
    def to_dict(self) -> dict:
        """Everything as plain JSON-ready Python (NaN becomes None); heatmaps as nested lists."""
        heatmaps = None
        if self.heatmaps:
            heatmaps = {attr: {kind: {name: np.round(np.asarray(m, np.float64), 4) for name, m in maps[kind].items()}
                               for kind in ("groups", "differences")} for attr, maps in self.heatmaps.items()}
        return _plain({
            "task": self.task, "label_names": list(self.label_names), "settings": self.settings,
            "overall": self.overall, "groups": self.groups.to_dict("records"),
            "per_class": self.per_class.to_dict("records"), "gaps": self.gaps.to_dict("records"),
            "confusion": self.confusion, "unknown": self.unknown, "notes": self.notes,
            "leakage": None if self.leakage is None else self.leakage.to_dict("records"),
            "projection": self.projection, "heatmaps": heatmaps, "label_noise": self.label_noise,
        })

    def metrics(self) -> dict:
        """The compact headline numbers (`metrics.json` of `kerasfer audit`)."""
        worst = self.worst_groups()
        key = "accuracy" if self.task == "emotion" else "mean_f1"
        gaps = {attr: {row["metric"]: {k: row[k] for k in ("value", "ci_low", "ci_high", "p_value")}
                       for _, row in frame.iterrows() if "(" not in row["metric"]}
                for attr, frame in self.gaps.groupby("attribute", sort=False)}
        return _plain({
            "task": self.task, "overall": self.overall,
            "worst_group": {attr: {"group": row["group"], key: row[key]} for attr, row in worst.iterrows()},
            "gaps": gaps,
            "leakage": {} if self.leakage is None else _leakage_metrics(self.leakage),
            "label_noise": None if self.label_noise is None else {
                "attribute": self.label_noise["attribute"],
                "diagonal": {g: float(np.mean(np.diagonal(m))) for g, m in self.label_noise["groups"].items()}},
            "notes": self.notes,
        })

    def to_json(self, path):
        """Write `to_dict()` to `path` atomically; returns the path."""
        from kerasfer.utils.io import write_json

        return write_json(path, self.to_dict())

    def to_html(self, path, *, title: str | None = None):
        """Write the self-contained HTML report (plots embedded as PNG) to `path`; returns the path."""
        from kerasfer.report.html import write_report

        return write_report(self, path, title=title)


def _ci(value, low, high) -> str:
    if value is None or np.isnan(value):
        return "n/a"
    if low is None or np.isnan(low):
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _short(metric: str) -> str:
    return {"equalized_odds_difference": "EOD", "demographic_parity_difference": "DPD",
            "fairness_ratio": "ratio", "mean_f1_difference": "F1 gap",
            "mean_auc_difference": "AUC gap"}.get(metric, metric)


def _plain(value):
    """Numpy → Python, NaN → None, recursively (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _leakage_metrics(leakage: pd.DataFrame) -> dict:
    """``{attribute: {"balanced_accuracy" (linear probe), "mlp_balanced_accuracy", "chance"}}``."""
    out = {}
    for r in leakage.to_dict("records"):
        entry = out.setdefault(r["attribute"], {"chance": r["chance"]})
        entry["balanced_accuracy" if r["probe"] == "linear" else f"{r['probe']}_balanced_accuracy"] = \
            r["balanced_accuracy"]
    return out

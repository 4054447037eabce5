"""`AuditResult`: what `audit` returns — tables for notebooks, JSON for machines, HTML for people."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kerasfer.report.p_values import format_p_value

SIGNIFICANCE = 0.05
RATE_NOTE = "predicted rates: "  # prefix of the rate audit's notes
#: the rate gaps `summary()` and `metrics()` report per attribute
RATE_HEADLINE = ("demographic_parity_difference", "negative_rate_difference")


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
        rates: emotion models, on every face (labelled or not): one row per (attribute, group,
            class) of the predicted rate with CI (``rate``, ``rate_low``, ``rate_high``), ``count``
            and ``small``; or None. The labelled tables above are empty when no label is known.
        rate_groups: one row per (attribute, group): count, small and the predicted rate of the
            negative emotions (``negative_rate`` with ``_low`` / ``_high``); or None.
        rate_gaps: one row per (attribute, metric): ``demographic_parity_difference`` (its ``class``:
            the emotion that carries it), ``negative_rate_difference`` and ``rate_difference (class)``
            per class, with value, ci_low, ci_high, p_value, ``high_group`` / ``low_group`` (the groups
            it lies between) and groups_compared; or None.
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
    rates: pd.DataFrame | None = None
    rate_groups: pd.DataFrame | None = None
    rate_gaps: pd.DataFrame | None = None

    @property
    def labelled(self) -> bool:
        """Whether the accuracy part ran (some faces had a known label); False: predicted rates only."""
        return len(self.groups) > 0

    # ------------------------------------------------------------------------------ notebooks
    def to_frame(self, table: str = "groups") -> pd.DataFrame:
        """One of the result tables as a DataFrame.

        Args:
            table: ``"groups"`` (indexed by attribute, group), ``"per_class"`` (attribute, group,
                class), ``"gaps"`` (attribute, metric), ``"leakage"`` (attribute), ``"rates"``
                (attribute, group, class), ``"rate_groups"`` (attribute, group) or ``"rate_gaps"``
                (attribute, metric).

        Returns:
            A copy of the table (empty when that part was not computed).
        """
        frames = {"groups": (self.groups, ["attribute", "group"]),
                  "per_class": (self.per_class, ["attribute", "group", "class"]),
                  "gaps": (self.gaps, ["attribute", "metric"]),
                  "leakage": (self.leakage, ["attribute"]),
                  "rates": (self.rates, ["attribute", "group", "class"]),
                  "rate_groups": (self.rate_groups, ["attribute", "group"]),
                  "rate_gaps": (self.rate_gaps, ["attribute", "metric"])}
        if table not in frames:
            raise ValueError(f"`table` must be one of {sorted(frames)}; got {table!r}.")
        frame, index = frames[table]
        return (frame if frame is not None else pd.DataFrame(columns=index)).set_index(index).copy()

    def worst_groups(self) -> pd.DataFrame:
        """Per attribute, the group with the lowest accuracy (AU: mean F1), among the non-small ones."""
        key = "accuracy" if self.task == "emotion" else "mean_f1"
        if not self.labelled:
            return pd.DataFrame(columns=["attribute", "group", key]).set_index("attribute")
        frame = self.groups[~self.groups["small"]] if self.groups["small"].any() else self.groups
        frame = frame.dropna(subset=[key])
        return frame.loc[frame.groupby("attribute", sort=False)[key].idxmin()].set_index("attribute")

    def summary(self) -> str:
        """A few lines a person reads first: overall figure, then per attribute the worst group and gaps,
        and for an emotion model per attribute its predicted-rate gaps (DP difference, negative rate)."""
        key, label = ("accuracy", "accuracy") if self.task == "emotion" else ("mean_f1", "mean F1 over AUs")
        model = self.settings.get("model", "the model")
        if self.labelled:
            fig = self.overall[key]
            lines = [f"Fairness audit of {model} on {self.overall['count']} samples "
                     f"({self.task}): {label} {_ci(fig['value'], fig['ci_low'], fig['ci_high'])}"]
        else:
            lines = [f"Fairness audit of {model} on {self.settings.get('n', 0)} faces ({self.task}): no emotion "
                     "label is known, so no accuracy; predicted emotion rates only"]
        worst = self.worst_groups()
        headline = ("equalized_odds_difference", "demographic_parity_difference", "fairness_ratio") \
            if self.task == "emotion" else ("mean_f1_difference", "mean_auc_difference")
        for attribute in dict.fromkeys(self.groups["attribute"]):
            parts = []
            if attribute in worst.index:
                row = worst.loc[attribute]
                parts.append(f"worst {row['group']} {_ci(row[key], row[key + '_low'], row[key + '_high'])}")
            gaps = self.gaps[self.gaps["attribute"] == attribute].set_index("metric")
            parts.extend(self._gap_text(gaps.loc[metric], metric) for metric in headline if metric in gaps.index)
            lines.append(f"  {attribute}: " + "; ".join(parts))
        if self.rate_gaps is not None and len(self.rate_gaps):
            lines.append(f"  predicted emotion rates on all {self.settings.get('n', 0)} faces, no labels needed "
                         "(a gap may be the model's or the groups' own expressions):")
            for attribute, frame in self.rate_gaps.groupby("attribute", sort=False):
                frame = frame.set_index("metric")
                parts = []
                for metric in RATE_HEADLINE:
                    g = frame.loc[metric]
                    text = self._gap_text(g, metric)
                    if pd.notna(g["high_group"]):  # "(angry: black > white)": which emotion, which groups
                        emotion = f"{g['class']}: " if metric == "demographic_parity_difference" else ""
                        text += f" ({emotion}{g['high_group']} > {g['low_group']})"
                    parts.append(text)
                lines.append(f"    {attribute}: " + "; ".join(parts))
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

    def _gap_text(self, row, metric: str) -> str:
        """``"DPD 0.120 [0.050, 0.190], p = 0.003*"``: one gap of a gaps table for `summary`."""
        star = "*" if row["p_value"] < SIGNIFICANCE else ""
        p = format_p_value(row["p_value"], self.settings.get("n_perm"))
        p = f", {p}{star}" if p else ""
        return f"{_short(metric)} {_ci(row['value'], row['ci_low'], row['ci_high'])}{p}"

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
            **{name: None if table is None else table.to_dict("records")
               for name, table in (("rates", self.rates), ("rate_groups", self.rate_groups),
                                   ("rate_gaps", self.rate_gaps))},
        })

    def metrics(self) -> dict:
        """The compact headline numbers (`metrics.json` of `kerasfer audit`); ``rates`` holds, per attribute,
        the predicted-rate gaps on every face (DP difference with its emotion, negative-rate difference)."""
        worst = self.worst_groups()
        key = "accuracy" if self.task == "emotion" else "mean_f1"
        gaps = {attr: {row["metric"]: {k: row[k] for k in ("value", "ci_low", "ci_high", "p_value")}
                       for _, row in frame.iterrows() if "(" not in row["metric"]}
                for attr, frame in self.gaps.groupby("attribute", sort=False)}
        return _plain({
            "task": self.task, "overall": self.overall,
            "worst_group": {attr: {"group": row["group"], key: row[key]} for attr, row in worst.iterrows()},
            "gaps": gaps,
            "rates": {} if self.rate_gaps is None else _rate_metrics(self.rate_gaps),
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
            "negative_rate_difference": "negative-rate gap",
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


def _rate_metrics(rate_gaps: pd.DataFrame) -> dict:
    """``{attribute: {gap: {"value", "ci_low", "ci_high", "p_value", "class", "high_group", "low_group"}}}``."""
    keys = ("value", "ci_low", "ci_high", "p_value", "class", "high_group", "low_group")
    return {attr: {row["metric"]: {k: row[k] for k in keys} for row in frame.to_dict("records")
                   if row["metric"] in RATE_HEADLINE}
            for attr, frame in rate_gaps.groupby("attribute", sort=False)}

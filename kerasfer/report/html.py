"""The HTML report of an `AuditResult`: one self-contained file (CSS inline, plots as embedded PNG)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from kerasfer.report import plots
from kerasfer.report.p_values import format_p_value

SIGNIFICANCE = 0.05
METRIC_LABELS = {
    "equalized_odds_difference": "Equalized-odds difference (max over classes, one-vs-rest)",
    "demographic_parity_difference": "Demographic-parity difference (max over classes, one-vs-rest)",
    "accuracy_difference": "Accuracy difference (best − worst group)",
    "fairness_ratio": "Fairness ratio (worst / best group accuracy)",
    "worst_group_accuracy": "Worst-group accuracy",
    "mean_f1_difference": "Mean-F1 difference (best − worst group)",
    "mean_auc_difference": "Mean-AUC difference (best − worst group)",
    "worst_group_mean_f1": "Worst-group mean F1",
    "worst_group_mean_auc": "Worst-group mean AUC",
}
# the direction in which a gap metric means "fair"; the report says which way is good
_FAIR_WHEN = {"fairness_ratio": "1 is fair", "worst_group_accuracy": "higher is better",
              "worst_group_mean_f1": "higher is better", "worst_group_mean_auc": "higher is better"}
_SHORT_LABELS = {"equalized_odds_difference": "Equalized odds diff.",
                 "demographic_parity_difference": "Demographic parity diff.",
                 "accuracy_difference": "Accuracy diff.", "fairness_ratio": "Fairness ratio",
                 "worst_group_accuracy": "Worst-group accuracy", "mean_f1_difference": "Mean-F1 diff.",
                 "mean_auc_difference": "Mean-AUC diff.", "worst_group_mean_f1": "Worst-group mean F1",
                 "worst_group_mean_auc": "Worst-group mean AUC"}
RATE_CITATION = 'Rhue (2018, "Racial influence on automated perceptions of emotions")'


def render_report(result, title: str | None = None) -> str:
    """The report of `result` as one HTML string.

    Args:
        result: an `AuditResult`.
        title: page title; default names the model.

    Returns:
        The HTML text (UTF-8, no external resources).
    """
    return _template("report.html").render(**report_context(result, title))


def write_report(result, path, *, title: str | None = None) -> Path:
    """Write `render_report(result, title)` to `path` atomically.

    Args:
        result: an `AuditResult`.
        path: output ``.html`` file; its folder is created.
        title: page title.

    Returns:
        The path written.
    """
    from kerasfer.utils.io import atomic_write_bytes

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"report path must end in .html; got {str(path)!r}.")
    return atomic_write_bytes(path, render_report(result, title).encode("utf-8"))


def notebook_html(result) -> str:
    """A compact HTML view for Jupyter (`AuditResult._repr_html_`): summary, gaps and group tables."""
    return _template("notebook.html").render(**report_context(result, None, figures=False))


def _template(name: str):
    """A template of kerasfer/report/templates, HTML-escaping every value."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("kerasfer.report", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template(name)


def report_context(result, title=None, *, figures: bool = True) -> dict:
    """Everything the template shows, as plain strings, rows and base64 PNGs.

    Args:
        result: an `AuditResult`.
        title: page title.
        figures: draw the plots (False for the quick notebook view).

    Returns:
        The template context.
    """
    emotion = result.task == "emotion"
    group_metrics = ("accuracy", "macro_f1") if emotion else ("mean_f1", "mean_auc")
    overall = {k: v["value"] for k, v in result.overall.items() if isinstance(v, dict)}
    settings = result.settings
    base = settings.get("attributes") or list(dict.fromkeys(result.groups["attribute"]))
    projected = base or list((result.projection or {}).get("groups", {}))  # no labels: every attribute given
    crossed = settings.get("intersections") or []
    sections = {}
    for attribute in list(base) + list(crossed):
        sections[attribute] = _attribute_section(result, attribute, group_metrics, overall, emotion, figures)
    model = settings.get("model", "model")
    gap_header, gap_rows = _gap_table(result)
    return {
        "title": title or f"Fairness audit — {model}",
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "model": model,
        "task": "emotion classifier" if emotion else "Action Unit (multi-label) model",
        "settings": settings,
        "level_pct": int(round(100 * settings.get("level", 0.95))),
        "headline": _headline(result, group_metrics),
        "verdict": _verdict(result),
        "summary_lines": result.summary().splitlines(),
        "gap_header": gap_header,
        "gap_rows": gap_rows,
        "group_metric_labels": [m.replace("_", " ") for m in group_metrics],
        "base_sections": [sections[a] for a in base],
        "cross_sections": [sections[a] for a in crossed],
        "leakage_rows": _leakage_rows(result),
        "projection_png": plots.figure_to_base64(plots.latent_projection(result.projection, projected))
        if figures and result.projection else None,
        "heatmaps": _heatmap_figures(result) if figures else [],
        "label_noise": result.label_noise,
        "label_noise_png": plots.figure_to_base64(plots.transition_grid(result.label_noise))
        if figures and result.label_noise else None,
        "au_gap_rows": [] if emotion else _au_gap_rows(result),
        "heatmap_target": settings.get("heatmap_target", ""),
        "notes": result.notes,
        "unknown": result.unknown,
        "emotion": emotion,
        "labelled": result.labelled,
        "rates": _rate_context(result, figures),
        "rate_citation": RATE_CITATION,
    }


def _headline(result, group_metrics):
    if not result.labelled:
        return _rate_cards(result)
    key = group_metrics[0]
    fig = result.overall[key]
    cards = [{"label": f"overall {key.replace('_', ' ')}", "value": _num(fig["value"]),
              "detail": _ci(fig["ci_low"], fig["ci_high"]) + f" · n={result.overall['count']}"}]
    worst = result.worst_groups()
    gaps = result.gaps.set_index(["attribute", "metric"])
    metric = "equalized_odds_difference" if result.task == "emotion" else "mean_f1_difference"
    for attribute in result.settings.get("attributes", []):
        if attribute not in worst.index:
            continue
        row = worst.loc[attribute]
        detail = f"worst group {row['group']}: {_num(row[key])}"
        if (attribute, metric) in gaps.index:
            g = gaps.loc[(attribute, metric)]
            detail += f" · {'EOD' if result.task == 'emotion' else 'F1 gap'} {_num(g['value'])} ({_p(g['p_value'], result.settings.get('n_perm'))})"
        cards.append({"label": attribute, "value": _num(row[key]), "detail": detail,
                      "alert": _significant(gaps, attribute, metric)})
    return cards


def _verdict(result):
    """Plain-language first lines: which attributes show a gap unlikely to be noise, which do not."""
    metric = "equalized_odds_difference" if result.task == "emotion" else "mean_auc_difference"
    key = "accuracy" if result.task == "emotion" else "mean_f1"
    gaps = result.gaps.set_index(["attribute", "metric"])
    worst = result.worst_groups()
    unfair, fair, untested = [], [], []
    for attribute in dict.fromkeys(result.gaps["attribute"]):
        p = gaps.loc[(attribute, metric), "p_value"] if (attribute, metric) in gaps.index else np.nan
        if not np.isfinite(p):
            untested.append(attribute)
        elif p < SIGNIFICANCE:
            detail = f"difference {_num(gaps.loc[(attribute, metric), 'value'])}"
            if attribute in worst.index:
                row = worst.loc[attribute]
                detail += f"; worst group {row['group']}, {key.replace('_', ' ')} {_num(row[key])}"
            unfair.append(f"{attribute} ({detail})")
        else:
            fair.append(attribute)
    gap = "Equalized-odds" if result.task == "emotion" else "Mean-AUC"
    lines = [] if result.labelled else [f"No emotion label is known for these {result.settings.get('n', 0)} faces: "
                                        "accuracy cannot be measured, only the rates at which the model predicts "
                                        "each emotion per group (below)."]
    if unfair:
        lines.append(f"{gap} gaps unlikely to be noise (permutation p < 0.05): " + "; ".join(unfair) + ".")
    if fair:
        lines.append(f"No significant {gap.lower()} gap: " + ", ".join(fair) + " (the table below has the other gaps).")
    if untested and not result.settings.get("n_perm"):
        lines.append("Gaps were not tested (n_perm=0).")
    return lines + _rate_verdict(result)


def _gap_table(result):
    """One row per attribute, one cell (value, CI, p) per gap metric."""
    metrics = [m for m in dict.fromkeys(result.gaps["metric"]) if "(" not in m]  # per-AU rows: in the AU tables
    rows = []
    for attribute, frame in result.gaps.groupby("attribute", sort=False):
        frame = frame.set_index("metric")
        cells = [_gap_cell(frame.loc[metric], result.settings.get("n_perm")) for metric in metrics]
        rows.append({"attribute": attribute, "groups": int(frame["groups_compared"].iloc[0]), "cells": cells})
    header = [{"label": _SHORT_LABELS.get(m, m), "title": METRIC_LABELS.get(m, m),
               "hint": _FAIR_WHEN.get(m, "0 is fair")} for m in metrics]
    return header, rows


def _au_gap_rows(result):
    """Per Action Unit and attribute: the F1 and AUC differences between groups with CI and p."""
    rows = []
    per_au = result.gaps[result.gaps["metric"].str.contains("(", regex=False)]
    for (attribute, au), frame in per_au.groupby(
            [per_au["attribute"], per_au["metric"].str.extract(r"\((.*)\)")[0]], sort=False):
        cells = [_gap_cell(frame[frame["metric"] == f"{kind} ({au})"].iloc[0], result.settings.get("n_perm"))
                 for kind in ("f1_difference", "auc_difference")]
        rows.append({"attribute": attribute, "au": au, "cells": cells})
    return rows


def _gap_cell(row, n_perm=None) -> dict:
    """One gap of the `gaps` table as a report cell: value, CI, p-value and whether p < `SIGNIFICANCE`."""
    tested = bool(np.isfinite(row["p_value"]))
    return {"value": _num(row["value"]), "ci": _ci(row["ci_low"], row["ci_high"]),
            "p": _p(row["p_value"], n_perm) if tested else "", "significant": bool(tested and row["p_value"] < SIGNIFICANCE)}


def _attribute_section(result, attribute, group_metrics, overall, emotion, figures):
    table = result.groups[result.groups["attribute"] == attribute]
    rows = [{"group": r["group"], "count": int(r["count"]), "small": bool(r["small"]),
             "values": [(_num(r[m]), _ci(r[f"{m}_low"], r[f"{m}_high"])) for m in group_metrics]}
            for _, r in table.iterrows()]
    per_class = result.per_class[result.per_class["attribute"] == attribute]
    class_metrics = ("tpr", "fpr") if emotion else ("f1", "auc")
    class_rows = [{"group": r["group"], "class": r["class"],
                   "values": [(_num(r[m]), _ci(r[f"{m}_low"], r[f"{m}_high"])) for m in class_metrics]}
                  for _, r in per_class.iterrows()]
    images = []
    if figures and len(table):
        images.append(("per-group " + " and ".join(m.replace("_", " ") for m in group_metrics)
                       + f" with {int(round(100 * result.settings.get('level', 0.95)))} % bootstrap CIs",
                       plots.figure_to_base64(plots.group_bars(result.groups, attribute, group_metrics, overall))))
        chart = "tpr" if emotion else "auc"  # AU: AUC needs no threshold, so it reads even for uncalibrated models
        images.append((f"{chart.upper()} per {'emotion' if emotion else 'Action Unit'} and group",
                       plots.figure_to_base64(plots.class_rates(result.per_class, attribute, chart))))
        # confusion matrices for single attributes only: intersections would need up to G1·G2 panels
        if emotion and result.confusion.get(attribute) and attribute in result.settings.get("attributes", []):
            images.append(("confusion matrices per group (rows: truth, share of the true class)",
                           plots.figure_to_base64(plots.confusion_grid(result.confusion[attribute],
                                                                       result.label_names))))
    return {"attribute": attribute, "anchor": "attr-" + "".join(c if c.isalnum() else "-" for c in attribute),
            "rows": rows, "class_metric_labels": [m.upper() for m in class_metrics], "class_rows": class_rows,
            "images": images, "unknown": result.unknown.get(attribute, 0)}


def _rate_gap_rows(result):
    """Rows of the rate-gap table: per attribute, the DP difference (with its emotion) and the negative-rate gap."""
    rows = []
    for attribute, frame in result.rate_gaps.groupby("attribute", sort=False):
        frame = frame.set_index("metric")
        cells = []
        for metric in ("demographic_parity_difference", "negative_rate_difference"):
            row = frame.loc[metric]
            spans = f"{row['high_group']} > {row['low_group']}" if pd.notna(row["high_group"]) else ""
            emotion = row["class"] if metric == "demographic_parity_difference" and pd.notna(row["class"]) else ""
            cells.append({**_gap_cell(row, result.settings.get("n_perm")), "spans": spans, "emotion": emotion})
        rows.append({"attribute": attribute, "groups": int(frame["groups_compared"].iloc[0]), "cells": cells})
    return rows


def _rate_section(result, attribute, figures, plot):
    """One attribute's rate table: a row per group (negative rate, then each emotion) and a max − min row."""
    table = result.rates[result.rates["attribute"] == attribute]
    groups = result.rate_groups[result.rate_groups["attribute"] == attribute]
    rows = []
    for r in groups.to_dict("records"):
        per_class = table[table["group"] == r["group"]].set_index("class")
        cells = [(_num(r["negative_rate"]), _ci(r["negative_rate_low"], r["negative_rate_high"]))]
        cells += [(_num(per_class.loc[c, "rate"]), _ci(per_class.loc[c, "rate_low"], per_class.loc[c, "rate_high"]))
                  for c in result.label_names]
        rows.append({"group": r["group"], "count": int(r["count"]), "small": bool(r["small"]), "cells": cells})
    gaps = result.rate_gaps[result.rate_gaps["attribute"] == attribute].set_index("metric")
    n_perm = result.settings.get("n_perm")
    spread = [_gap_cell(gaps.loc["negative_rate_difference"], n_perm)]
    spread += [_gap_cell(gaps.loc[f"rate_difference ({c})"], n_perm) for c in result.label_names]
    image = None
    if figures and plot:
        image = plots.figure_to_base64(plots.class_rates(result.rates, attribute, "rate"))
    return {"attribute": attribute, "anchor": "rates-" + "".join(c if c.isalnum() else "-" for c in attribute),
            "rows": rows, "spread": spread, "image": image, "unknown": result.unknown.get(attribute, 0)}


def _rate_context(result, figures):
    """The "Predicted emotion rates" section, or None for a model without a rate audit (AU models)."""
    if result.rate_gaps is None or not len(result.rate_gaps):
        return None
    settings = result.settings
    base, crossed = settings.get("rate_attributes", []), settings.get("rate_intersections", [])
    # When every face is labelled the rates are the per-class selection rates of the same faces: tables, no plot.
    plot = settings.get("n_labelled", 0) < settings.get("n", 0)
    return {"n": settings.get("n", 0), "n_labelled": settings.get("n_labelled", 0),
            "negative": ", ".join(settings.get("negative", [])), "classes": ["negative"] + list(result.label_names),
            "gap_rows": _rate_gap_rows(result),
            "sections": [_rate_section(result, a, figures, plot and a in base) for a in list(base) + list(crossed)]}


def _rate_cards(result):
    """Headline cards of an audit without labels: per attribute its DP difference and negative-rate gap."""
    cards = [{"label": "faces audited", "value": str(result.settings.get("n", 0)),
              "detail": "no emotion labels: predicted rates only"}]
    if result.rate_gaps is None:
        return cards
    gaps = result.rate_gaps.set_index(["attribute", "metric"])
    n_perm = result.settings.get("n_perm")
    for attribute in result.settings.get("rate_attributes", []):
        dp = gaps.loc[(attribute, "demographic_parity_difference")]
        negative = gaps.loc[(attribute, "negative_rate_difference")]
        cards.append({"label": f"{attribute}: DP difference", "value": _num(dp["value"]),
                      "detail": f"{dp['class'] if pd.notna(dp['class']) else 'no gap'} · {_p(dp['p_value'], n_perm)} · negative-rate gap "
                                f"{_num(negative['value'])} ({_p(negative['p_value'], n_perm)})",
                      "alert": _significant(gaps, attribute, "demographic_parity_difference")})
    return cards


def _rate_verdict(result):
    """One line naming the attributes whose predicted-rate gaps are unlikely to be noise."""
    if result.rate_gaps is None or not result.settings.get("n_perm"):
        return []
    gaps = result.rate_gaps.set_index(["attribute", "metric"])
    flagged = []
    for attribute in result.settings.get("rate_attributes", []):
        parts = [f"{label} {_num(gaps.loc[(attribute, metric), 'value'])}"
                 for metric, label in (("demographic_parity_difference", "DP difference"),
                                       ("negative_rate_difference", "negative-rate gap"))
                 if _significant(gaps, attribute, metric)]
        if parts:
            flagged.append(f"{attribute} ({', '.join(parts)})")
    if not flagged:
        return ["Predicted emotion rates: no significant gap between groups."]
    return ["Predicted emotion rates differ between groups (permutation p < 0.05): " + "; ".join(flagged)
            + ". A rate gap alone does not say whether the model or the faces differ (see the rates section)."]


PROBE_NAMES = {"linear": "linear (logistic regression)", "mlp": "MLP (64 hidden units)"}


def _leakage_rows(result):
    if result.leakage is None:
        return []
    return [{"attribute": r["attribute"], "probe": PROBE_NAMES.get(r["probe"], r["probe"]),
             "value": _num(r["balanced_accuracy"]), "ci": _ci(r["ci_low"], r["ci_high"]),
             "chance": _num(r["chance"]), "above": _num(r["balanced_accuracy"] - r["chance"]),
             "leaks": bool(r["ci_low"] > r["chance"]), "n": f"{r['n_train']} / {r['n_test']}"}
            for r in result.leakage.to_dict("records")]


def _heatmap_figures(result):
    if not result.heatmaps:
        return []
    from kerasfer.explain import heatmap_grid

    out = []
    for attribute, maps in result.heatmaps.items():
        means = heatmap_grid(maps["groups"], maps.get("faces"), title=f"{attribute}: mean Grad-CAM per group")
        diffs = heatmap_grid(maps["differences"], None, title=f"{attribute}: group differences (red: first looks more)")
        out.append({"attribute": attribute, "means": plots.figure_to_base64(means),
                    "differences": plots.figure_to_base64(diffs)})
    return out


def _significant(gaps, attribute, metric):
    if (attribute, metric) not in gaps.index:
        return False
    p = gaps.loc[(attribute, metric)]["p_value"]
    return bool(np.isfinite(p) and p < SIGNIFICANCE)


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _ci(low, high) -> str:
    if low is None or not np.isfinite(low):
        return ""
    return f"[{low:.3f}, {high:.3f}]"


def _p(p, n_perm=None) -> str:
    return format_p_value(p, n_perm) or "—"

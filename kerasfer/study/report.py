"""Files of the AU bias study: one self-contained HTML report comparing the models, JSON, CSVs, PNGs."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import numpy as np

from kerasfer.explain import heatmap_grid
from kerasfer.report.p_values import format_p_value
from kerasfer.report.plots import figure_to_png
from kerasfer.utils.io import atomic_write_bytes, write_json

SIGNIFICANCE = 0.05
MODEL_LABELS = {"baseline": "Baseline (AUClassifier)", "fairvae": "FairVAE (latent-aligned, AU head)"}


def write_study(result, models: dict, out) -> dict:
    """Write every file of the study into `out` and record them in ``result.files``.

    Files: ``report.html`` (the one page comparing the models, figures embedded),
    ``study.json``, ``metrics.json`` (the summary table), ``summary.csv``, ``per_au.csv``, ``gaps.csv``, ``figures/*.png`` (F1 per group,
    heatmap grids and difference grids per model) and ``<model>.keras`` for each model.

    Args:
        result: a `StudyResult`.
        models: model name → trained Keras model.
        out: output folder (created).

    Returns:
        name → path of each file written.
    """
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    files, figures = {}, {}
    for table in ("summary", "per_au", "gaps"):
        path = out / f"{table}.csv"
        atomic_write_bytes(path, getattr(result, table).to_csv(index=False).encode())
        files[table] = path
    named = {"f1_by_group": f1_by_group_figure(result.per_au, result.attribute)}
    for model, maps in result.heatmaps.items():
        label = MODEL_LABELS.get(model, model)
        if maps["groups"]:
            named[f"heatmaps_{model}"] = heatmap_grid(maps["groups"], maps["group_faces"],
                                                      title=f"{label}: mean Grad-CAM per {result.attribute} group")
        if maps["differences"]:
            named[f"differences_{model}"] = heatmap_grid(maps["differences"], maps["group_faces"],
                                                         title=f"{label}: group differences (red: first looks more)")
    for name, fig in named.items():
        png = figure_to_png(fig, tight=True)  # drawn once: the file and the embedded copy are the same PNG
        files[name] = atomic_write_bytes(out / "figures" / f"{name}.png", png)
        figures[name] = base64.b64encode(png).decode("ascii")
    for name, model in models.items():
        path = out / f"{name}.keras"
        model.save(path)
        files[f"model_{name}"] = path
    files["report"] = out / "report.html"
    files["json"] = out / "study.json"
    files["metrics"] = out / "metrics.json"  # the headline numbers, like every kerasfer command's --out
    result.files = files
    atomic_write_bytes(files["report"], render_study(result, figures).encode("utf-8"))
    write_json(files["json"], result.to_dict())
    write_json(files["metrics"], {"study": "au_bias", "attribute": result.attribute,
                                  "summary": result.summary.to_dict("records")})
    return files


def render_study(result, figures: dict) -> str:
    """The report page as an HTML string (jinja2 template ``templates/au_bias.html``).

    Args:
        result: a `StudyResult`.
        figures: figure name → base64 PNG.

    Returns:
        The HTML text, no external resources.
    """
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("kerasfer.study", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("au_bias.html").render(**study_context(result, figures))


def study_context(result, figures: dict) -> dict:
    """Everything the template shows, as strings and rows."""
    models = list(result.summary["model"])
    groups = list(result.settings.get("groups") or dict.fromkeys(result.per_au["group"]))
    per_au = result.per_au.set_index(["model", "au", "group"])
    gaps = result.gaps.set_index(["model", "au"])
    au_rows = []
    for au in dict.fromkeys(result.per_au["au"]):
        cells = []
        for model in models:
            for group in groups:
                key = (model, au, group)
                if key in per_au.index:
                    r = per_au.loc[key]
                    cells.append({"value": _num(r["f1"]), "ci": _ci(r["f1_low"], r["f1_high"])})
                else:
                    cells.append({"value": "–", "ci": ""})
            g = gaps.loc[(model, au)] if (model, au) in gaps.index else None
            cells.append(_gap_cell(g))
        au_rows.append({"au": au, "cells": cells})
    summary_rows = [{
        "model": MODEL_LABELS.get(r["model"], r["model"]),
        "mean_f1": _num(r["mean_f1"]), "mean_f1_ci": _ci(r["mean_f1_low"], r["mean_f1_high"]),
        "mean_auc": _num(r["mean_auc"]), "worst": f"{r['worst_group']} ({_num(r['worst_group_mean_f1'])})",
        "gap": _gap_cell({"f1_gap": r["mean_f1_gap"], "f1_gap_low": r["mean_f1_gap_low"],
                          "f1_gap_high": r["mean_f1_gap_high"], "p_value": r["mean_f1_gap_p"]}),
        "leakage": _num(r["leakage"]), "leakage_ci": _ci(r["leakage_low"], r["leakage_high"]),
        "chance": _num(r["leakage_chance"]), "seconds": f"{r['train_seconds']:.0f}",
    } for r in result.summary.to_dict("records")]
    threshold_rows = [{"au": au, "cells": [_num(result.thresholds[m][au]) for m in models]}
                      for au in next(iter(result.thresholds.values()))]
    heatmap_sections = [{"model": MODEL_LABELS.get(m, m), "maps": figures.get(f"heatmaps_{m}"),
                         "differences": figures.get(f"differences_{m}")} for m in models]
    settings = result.settings
    return {
        "title": f"Action Unit bias study — {result.attribute}",
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "attribute": result.attribute,
        "settings": settings,
        "models": [MODEL_LABELS.get(m, m) for m in models],
        "groups": groups,
        "findings": result.summary_text().splitlines(),
        "summary_rows": summary_rows,
        "au_rows": au_rows,
        "threshold_rows": threshold_rows,
        "f1_png": figures.get("f1_by_group"),
        "heatmap_sections": heatmap_sections,
        "heatmap_aus": settings.get("heatmap_aus", []),
        "notes": result.notes,
        "level_pct": 95,
    }


def f1_by_group_figure(per_au, attribute: str):
    """Per-AU F1 of every group with bootstrap-CI whiskers, one panel per model.

    Args:
        per_au: `StudyResult.per_au`.
        attribute: the attribute named in the legend.

    Returns:
        A matplotlib `Figure`.
    """
    from matplotlib.figure import Figure

    models = list(dict.fromkeys(per_au["model"]))
    aus = list(dict.fromkeys(per_au["au"]))
    groups = list(dict.fromkeys(per_au["group"]))
    fig = Figure(figsize=(max(6.0, 0.6 * len(aus) * len(groups) / 2 + 2), 2.6 * len(models)))
    axes = fig.subplots(len(models), 1, squeeze=False)[:, 0]
    width = 0.8 / max(len(groups), 1)
    x = np.arange(len(aus))
    for ax, model in zip(axes, models):
        table = per_au[per_au["model"] == model].set_index(["au", "group"])
        for i, group in enumerate(groups):
            rows = table.xs(group, level="group").reindex(aus)
            value = rows["f1"].to_numpy(float)
            err = np.nan_to_num(np.stack([value - rows["f1_low"].to_numpy(float),
                                          rows["f1_high"].to_numpy(float) - value]), nan=0.0)
            ax.bar(x + (i - (len(groups) - 1) / 2) * width, np.nan_to_num(value), width, yerr=np.maximum(err, 0),
                   capsize=2, label=f"{attribute}={group}", ecolor="#333333")
        ax.set_xticks(x, aus, fontsize=8)
        ax.set_ylim(0, 1.2)  # headroom for the legend above the bars
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.set_ylabel("F1", fontsize=9)
        ax.set_title(MODEL_LABELS.get(model, model), fontsize=10)
        ax.legend(fontsize=7, ncol=len(groups), loc="upper center", frameon=False)
    fig.tight_layout()
    return fig


def _gap_cell(row):
    if row is None:
        return {"value": "–", "ci": "", "p": "", "significant": False}
    p = float(row["p_value"])
    return {"value": _num(row["f1_gap"]), "ci": _ci(row["f1_gap_low"], row["f1_gap_high"]),
            "p": format_p_value(p),
            "significant": bool(np.isfinite(p) and p < SIGNIFICANCE)}


def _num(value) -> str:
    value = float(value)
    return "–" if not np.isfinite(value) else f"{value:.3f}"


def _ci(low, high) -> str:
    low, high = float(low), float(high)
    return "" if not (np.isfinite(low) and np.isfinite(high)) else f"[{low:.3f}, {high:.3f}]"

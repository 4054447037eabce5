"""compare.html: `kerasfer compare`'s result as one self-contained page (table with CIs, Pareto plot, rule)."""

from __future__ import annotations

from pathlib import Path

from kerasfer.report import plots
from kerasfer.report.html import _template


def render_compare_page(result: dict) -> str:
    """The page of a compare result (compare.json's content) as one HTML string."""
    if result.get("sources") == 2:
        return render_two_source_page(result)
    attribute = result["attribute"]
    rows = []
    for name, row in result["methods"].items():
        ci = row["intervals"][attribute]
        leak = row["leakage"].get(attribute, {})
        rows.append({
            "name": name, "recommended": name == result["recommended"],
            "accuracy": _with_ci(ci["accuracy"]), "worst": _with_ci(ci["worst_group_accuracy"]),
            "eod": _with_ci(ci["equalized_odds_difference"]),
            "val_accuracy": _num(row["validation"]["accuracy"]),
            "val_balanced": _num(row["validation"]["balanced_accuracy"]),
            "val_fpr_gap": _num(row["validation"]["false_positive_rate_difference"]),
            "val_fpr_ci": "–".join(_num(b) for b in row["validation"].get("intervals", {}).get(
                "false_positive_rate_difference", (None, None))),
            "annotated": " / ".join(_num(row.get("validation_annotated", {}).get(k))
                                    for k in ("balanced_accuracy", "false_positive_rate_difference")),
            "val_eod": _num(row["validation"]["equalized_odds_difference"]),
            "leakage": f"{_num(leak.get('balanced_accuracy'))} (chance {_num(leak.get('chance'))})" if leak else "–",
            "seconds": f"{row['train_seconds']:.0f}",
            "other_gaps": ", ".join(f"{a} {_num(g.get('equalized_odds_difference'))}"
                                    for a, g in row["gaps"].items() if a != attribute),
        })
    figure = plots.pareto_plot(result["methods"], attribute, result["recommended"])
    check = result.get("test_check", {})
    return _template("compare.html").render(
        title="kerasfer compare", result=result, rows=rows, attribute=attribute,
        pareto=plots.figure_to_base64(figure, dpi=100), settings=result["settings"],
        validation=result.get("validation"),
        corrected=(result.get("validation") or {}).get("figures") == "corrected",
        accuracy_change=None if check.get("accuracy_change") is None else f"{100 * check['accuracy_change']:+.1f}",
        eod_reduction=None if check.get("equalized_odds_reduction") is None
        else f"{100 * check['equalized_odds_reduction']:.0f}")


def render_two_source_page(result: dict) -> str:
    """The page of a two-source compare result (`kerasfer.comparison.two_sources`): accuracy on the labelled
    source, predicted-rate gaps on the groups source, the rule and its plain statement."""
    attribute = result["attribute"]
    rows = []
    for name, row in result["methods"].items():
        leak = row["leakage"].get(attribute, {})
        rows.append({
            "name": name, "recommended": name == result["recommended"], "accuracy": _num(row["accuracy"]),
            "macro_f1": _num(row["macro_f1"]), "dpd": _num(row["rates"]["demographic_parity_difference"]),
            "negative_gap": _num(row["rates"]["negative_rate_difference"]),
            "negative_rates": [_num(r) for r in row["rates"]["negative_rate"]],
            "val_accuracy": _num(row["validation"]["accuracy"]),
            "val_dpd": _num(row["validation"]["demographic_parity_difference"]),
            "leakage": f"{_num(leak.get('balanced_accuracy'))} (chance {_num(leak.get('chance'))})" if leak else "–",
            "seconds": f"{row['train_seconds']:.0f}"})
    check = result.get("test_check", {})
    return _template("compare_two_sources.html").render(
        title="kerasfer compare", result=result, rows=rows, attribute=attribute, settings=result["settings"],
        groups=result["group_names"],
        accuracy_change=None if check.get("accuracy_change") is None else f"{100 * check['accuracy_change']:+.1f}",
        dpd_reduction=None if check.get("demographic_parity_reduction") is None
        else f"{100 * check['demographic_parity_reduction']:.0f}")


def write_compare_page(result: dict, path) -> Path:
    """Write `render_compare_page(result)` to `path` (``.html``) atomically; returns the path."""
    from kerasfer.utils.io import atomic_write_bytes

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"compare page path must end in .html; got {str(path)!r}.")
    return atomic_write_bytes(path, render_compare_page(result).encode("utf-8"))


def _num(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _with_ci(ci: dict) -> dict:
    return {"value": _num(ci["mean"]), "ci": f"{_num(ci['ci_low'])}–{_num(ci['ci_high'])}"}

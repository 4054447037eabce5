"""The report's figures, each a bare matplotlib `Figure` (no pyplot: no GUI backend, nothing left open)."""

from __future__ import annotations

import base64
import io

import numpy as np

_SMALL_COLOR, _BAR_COLOR = "#c7c7c7", "#4c72b0"


def figure_to_base64(fig, dpi: int = 90) -> str:
    """PNG bytes of `fig`, base64-encoded for an ``<img src="data:image/png;base64,...">``."""
    # every figure here is tight_layout-ed already; a "tight" bbox would draw it twice
    return base64.b64encode(figure_to_png(fig, dpi)).decode("ascii")


def figure_to_png(fig, dpi: int = 90, *, tight: bool = False) -> bytes:
    """`fig` drawn as PNG bytes (`tight`: crop to the drawn area, for figures not laid out tightly)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))
    return buffer.getvalue()


def group_bars(groups, attribute: str, metrics, overall=None):
    """Horizontal bars per group of `attribute` with bootstrap-CI whiskers, one panel per metric.

    Args:
        groups: `AuditResult.groups`.
        attribute: which attribute's groups to draw.
        metrics: column names, e.g. ``("accuracy", "macro_f1")``; each needs ``_low`` / ``_high``.
        overall: optional ``{metric: value}`` drawn as a dashed reference line.

    Returns:
        A `Figure`. Groups below the minimum count are grey.
    """
    from matplotlib.figure import Figure

    table = groups[groups["attribute"] == attribute]
    fig = Figure(figsize=(4.2 * len(metrics), 0.45 * len(table) + 1.1))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    y = np.arange(len(table))[::-1]
    colors = [_SMALL_COLOR if small else _BAR_COLOR for small in table["small"]]
    for ax, metric in zip(axes, metrics):
        value = table[metric].to_numpy(float)
        low = np.nan_to_num(value - table[f"{metric}_low"].to_numpy(float), nan=0.0)
        high = np.nan_to_num(table[f"{metric}_high"].to_numpy(float) - value, nan=0.0)
        ax.barh(y, value, color=colors, xerr=np.maximum([low, high], 0), capsize=3, ecolor="#333333")
        for yi, v, up in zip(y, value, high):
            if np.isfinite(v):
                ax.text(min(v + up + 0.02, 0.9), yi, f"{v:.3f}", va="center", ha="left", fontsize=8)
        if overall and metric in overall and np.isfinite(overall[metric]):
            ax.axvline(overall[metric], color="#dd8452", linestyle="--", linewidth=1, label="all samples")
            ax.legend(loc="lower right", fontsize=7, frameon=False)
        ax.set_yticks(y, [f"{g} (n={c})" for g, c in zip(table["group"], table["count"])], fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_xlabel(metric.replace("_", " "), fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(attribute, fontsize=10)
    fig.tight_layout()
    return fig


def class_rates(per_class, attribute: str, metric: str = "tpr"):
    """Grouped bars of a per-class rate (recall by default) for every group, with CI whiskers.

    Args:
        per_class: `AuditResult.per_class`.
        attribute: which attribute's groups to draw.
        metric: a per-class column with ``_low`` / ``_high`` (``tpr``, ``fpr``, ``f1``, ``auc`` ...).

    Returns:
        A `Figure`: x = class, one bar per group.
    """
    from matplotlib.figure import Figure

    table = per_class[per_class["attribute"] == attribute]
    classes = list(dict.fromkeys(table["class"]))
    group_names = list(dict.fromkeys(table["group"]))
    fig = Figure(figsize=(min(11.0, max(5.0, 0.22 * len(classes) * len(group_names) + 2)), 3.0))
    ax = fig.subplots()
    width = 0.8 / len(group_names)
    x = np.arange(len(classes))
    for i, group in enumerate(group_names):
        rows = table[table["group"] == group].set_index("class").reindex(classes)
        value = rows[metric].to_numpy(float)
        err = np.nan_to_num(np.maximum([value - rows[f"{metric}_low"].to_numpy(float),
                                        rows[f"{metric}_high"].to_numpy(float) - value], 0), nan=0.0)
        ax.bar(x - 0.4 + width * (i + 0.5), np.nan_to_num(value), width, yerr=err, capsize=2, label=str(group),
               error_kw={"elinewidth": 0.8})
    ax.set_xticks(x, classes, fontsize=8, rotation=30 if len(classes) > 8 else 0)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(metric.upper() if len(metric) <= 3 else metric, fontsize=9)
    ax.legend(fontsize=7, ncol=min(len(group_names), 6), frameon=False, loc="upper center",
              bbox_to_anchor=(0.5, -0.15 if len(classes) <= 8 else -0.3))
    ax.set_title(f"{attribute}: {metric.upper()} per class and group", fontsize=10)
    fig.tight_layout()
    return fig


def confusion_grid(confusion: dict, label_names):
    """Row-normalised confusion matrix of every group (rows: truth, columns: prediction).

    Args:
        confusion: group name -> K×K counts (`AuditResult.confusion[attribute]`).
        label_names: class names.

    Returns:
        A `Figure` with one panel per group; cells show the share of the true class (recall on the
        diagonal).
    """
    panels = {}
    for group, counts in confusion.items():
        counts = np.asarray(counts, float)
        with np.errstate(invalid="ignore", divide="ignore"):
            panels[f"{group} (n={int(counts.sum())})"] = counts / counts.sum(axis=1, keepdims=True)
    return matrix_grid(panels, label_names, xlabel="predicted", ylabel="true")


def transition_grid(label_noise: dict):
    """The learned label-noise matrix T_g of every group (rows: true emotion, columns: annotated).

    Args:
        label_noise: `AuditResult.label_noise` (``{"attribute", "classes", "groups": {group: C×C}}``).

    Returns:
        A `Figure` with one panel per group; off-diagonal cells are how that group's faces were mislabelled.
    """
    panels = {f"{label_noise['attribute']} = {group}": np.asarray(matrix, float)
              for group, matrix in label_noise["groups"].items()}
    return matrix_grid(panels, label_noise["classes"], xlabel="annotated", ylabel="true")


def matrix_grid(panels: dict, label_names, *, xlabel: str, ylabel: str):
    """Row-stochastic K×K matrices side by side (three per row), cells of 0.05 or more labelled.

    Args:
        panels: title -> K×K matrix of shares (NaN drawn as 0, not labelled).
        label_names: class names of rows and columns.
        xlabel: what the columns are.
        ylabel: what the rows are.

    Returns:
        A `Figure`.
    """
    from matplotlib.figure import Figure

    n = len(panels)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(3.3 * cols, 3.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    short = [name[:3] for name in label_names]
    for ax, (title, share) in zip(axes, panels.items()):
        ax.imshow(np.nan_to_num(share), cmap="Blues", vmin=0, vmax=1)
        for (i, j), v in np.ndenumerate(share):
            if np.isfinite(v) and v >= 0.05:
                ax.text(j, i, f"{v:.2f}".lstrip("0"), ha="center", va="center", fontsize=6,
                        color="white" if v > 0.5 else "black")
        ax.set_xticks(range(len(short)), short, fontsize=7, rotation=90)
        ax.set_yticks(range(len(short)), short, fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=7)
        ax.set_ylabel(ylabel, fontsize=7)
    for ax in axes[n:]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def latent_projection(projection: dict, attributes):
    """2-D PCA of the latent, one panel per attribute, points coloured by group.

    Args:
        projection: `AuditResult.projection` (``{"x", "y", "groups": {attribute: names}}``).
        attributes: attributes to draw.

    Returns:
        A `Figure`. Well-separated colours mean the latent encodes the attribute.
    """
    from matplotlib.figure import Figure

    x, y = np.asarray(projection["x"]), np.asarray(projection["y"])
    fig = Figure(figsize=(3.6 * len(attributes), 3.4))
    axes = fig.subplots(1, len(attributes), squeeze=False)[0]
    for ax, attribute in zip(axes, attributes):
        labels = np.asarray(projection["groups"][attribute], dtype=object)
        order = projection.get("order", {}).get(attribute, [])
        for group in [g for g in order if g in set(labels)] + [g for g in dict.fromkeys(labels) if g not in order]:
            mask = labels == group
            ax.scatter(x[mask], y[mask], s=6, alpha=0.6, label=str(group))
        ax.set_title(attribute, fontsize=10)
        ax.set_xlabel("PC 1", fontsize=8)
        ax.set_ylabel("PC 2", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, markerscale=2, frameon=False)
    fig.tight_layout()
    return fig


def pareto_plot(methods: dict, attribute: str, recommended: str | None = None):
    """Test accuracy against equalized-odds difference of every method, with CIs and the Pareto front.

    Args:
        methods: compare.json's ``methods`` (each with ``intervals[attribute]``).
        attribute: the attribute whose EOD is the x axis.
        recommended: the method to highlight.

    Returns:
        A `Figure`: lower-right is better (fairer and more accurate); the dashed line joins the methods
        no other method beats on both.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    points = []
    for name, row in methods.items():
        ci = row["intervals"][attribute]
        x, y = ci["equalized_odds_difference"], ci["accuracy"]
        if x["mean"] is None or not np.isfinite(x["mean"]):
            continue
        chosen = name == recommended
        ax.errorbar(x["mean"], y["mean"], xerr=[[max(x["mean"] - x["ci_low"], 0)], [max(x["ci_high"] - x["mean"], 0)]],
                    yerr=[[max(y["mean"] - y["ci_low"], 0)], [max(y["ci_high"] - y["mean"], 0)]], fmt="o",
                    color="#c44e52" if chosen else _BAR_COLOR, ecolor="#999999", capsize=2, markersize=8 if chosen else 6)
        ax.annotate(name + (" (recommended)" if chosen else ""), (x["mean"], y["mean"]), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)
        points.append((x["mean"], y["mean"]))
    front = pareto_front(points)
    if len(front) > 1:
        ax.plot(*zip(*front), linestyle="--", color="#dd8452", linewidth=1, label="Pareto front")
        ax.legend(loc="lower left", fontsize=8, frameon=False)
    elif front:  # one method is both the fairest and the most accurate
        best = next(name for name, row in methods.items()
                    if row["intervals"][attribute]["equalized_odds_difference"]["mean"] == front[0][0]
                    and row["intervals"][attribute]["accuracy"]["mean"] == front[0][1])
        ax.set_title(f"{best} is fairer and more accurate than every other method", fontsize=9)
    ax.set_xlabel(f"equalized-odds difference, {attribute} (test; lower is fairer)", fontsize=9)
    ax.set_ylabel("accuracy (test)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def pareto_front(points) -> list[tuple[float, float]]:
    """The (gap, accuracy) points no other point beats on both (smaller gap, higher accuracy), by gap."""
    front = []
    for gap, accuracy in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or accuracy > front[-1][1]:
            front.append((gap, accuracy))
    return front

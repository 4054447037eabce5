"""PNG grids of heatmaps overlaid on (mean) faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def heatmap_grid(maps, background=None, *, title: str | None = None, alpha: float = 0.5, cell_size: float = 1.8):
    """A matplotlib figure of heatmaps over faces: one row per entry of `maps`, one cell per map.

    Non-negative maps (Grad-CAM, per-group means) use the "jet" colormap on [0, 1]; maps with
    negative values (group differences) use a diverging map symmetric around 0, with a colour bar.

    Args:
        maps: ``{column: map}`` for one row, or ``{row: {column: map}}`` for several (e.g. rows =
            Action Units, columns = groups); every map is (H, W).
        background: faces under the maps: one (H, W, C) image for every cell, ``{column: image}``
            (e.g. `group_mean_faces`; a column missing from it, such as a difference "a − b", gets
            the mean of all its faces), or None for no face.
        title: figure title.
        alpha: opacity of the heatmap over the face.
        cell_size: inches per cell.

    Returns:
        A `matplotlib.figure.Figure` (not shown; `save_heatmap_grid` writes it as PNG).
    """
    # A bare Figure (not pyplot): no GUI backend, nothing left open, and notebooks still display it.
    from matplotlib.figure import Figure

    rows = _as_rows(maps)
    if not 0 <= alpha <= 1:
        raise ValueError(f"`alpha` must be in [0, 1]; got {alpha!r}.")
    n_columns = max(len(row) for row in rows.values())
    first_columns = list(next(iter(rows.values())))
    fig = Figure(figsize=(cell_size * n_columns + 0.8, cell_size * len(rows) + (0.5 if title else 0.2)))
    axes = fig.subplots(len(rows), n_columns, squeeze=False)
    for r, (row_name, row) in enumerate(rows.items()):
        # Rows are left-aligned; a row with other columns than the first (e.g. differences) titles its own.
        titled = r == 0 or list(row) != first_columns
        for c in range(n_columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(row):
                ax.set_axis_off()
                continue
            column = list(row)[c]
            heat = np.asarray(row[column], np.float32)
            face = _background_for(background, column)
            if face is not None:
                ax.imshow(_grey(face), cmap="gray", vmin=0, vmax=255)
            signed = heat.min() < 0
            limit = max(float(np.abs(heat).max()), 1e-6) if signed else 1.0
            image = ax.imshow(heat, cmap="RdBu_r" if signed else "jet", vmin=-limit if signed else 0.0,
                              vmax=limit, alpha=alpha if face is not None else 1.0)
            if signed:
                fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
            if titled:
                ax.set_title(str(column), fontsize=9)
            if c == 0 and row_name:
                ax.set_ylabel(str(row_name), fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_heatmap_grid(path, maps, background=None, *, dpi: int = 100, **kwargs) -> Path:
    """Write `heatmap_grid(maps, background, **kwargs)` as a PNG file.

    Args:
        path: output file (``.png``); parent folders are created.
        maps, background, **kwargs: as for `heatmap_grid`.
        dpi: resolution.

    Returns:
        The path written.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"`path` must end in .png; got {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    heatmap_grid(maps, background, **kwargs).savefig(path, dpi=dpi, format="png")
    return path


def _as_rows(maps) -> dict:
    if not isinstance(maps, dict) or not maps:
        raise ValueError("`maps` must be a non-empty dict {column: map} or {row: {column: map}}.")
    rows = maps if all(isinstance(v, dict) for v in maps.values()) else {"": maps}
    for row_name, row in rows.items():
        for column, heat in row.items():
            if np.ndim(heat) != 2:
                raise ValueError(f"`maps`[{row_name!r}][{column!r}] must be a 2-D (H, W) map; "
                                 f"got shape {np.shape(heat)}.")
    return rows


def _background_for(background, column):
    if background is None:
        return None
    if isinstance(background, dict):
        if column in background:
            return background[column]
        # A column that is no group (a difference "a − b"): the mean of every group's face.
        return np.mean([np.asarray(face, np.float32) for face in background.values()], axis=0) if background else None
    return background


def _grey(face) -> np.ndarray:
    face = np.asarray(face, np.float32)
    return face[..., 0] if face.shape[-1] == 1 else face @ np.array([0.299, 0.587, 0.114], np.float32)

"""Explain: where a model looks — Grad-CAM heatmaps, per-group mean heatmaps and their differences."""

from kerasfer.explain.gradcam import gradcam, split_at_layer
from kerasfer.explain.group_maps import difference_maps, group_heatmaps, group_indices, group_mean_faces
from kerasfer.explain.plots import heatmap_grid, save_heatmap_grid

__all__ = [
    "difference_maps",
    "gradcam",
    "group_heatmaps",
    "group_indices",
    "group_mean_faces",
    "heatmap_grid",
    "save_heatmap_grid",
    "split_at_layer",
]

"""``group_dro``: online Group DRO over (group × emotion) cells (`kerasfer.models.mitigations.group_dro`).

Its batches are drawn (group × emotion)-balanced: the cell weights only move for the cells a batch
holds, and a rare cell (dark-skinned happy faces, 1 % of a stereotyped set) is in few batches
(Sagawa et al. train Group DRO on group-balanced batches too). The model's own ``weight_decay``
makes `train_model` use AdamW. The metrics name the cells it weighted most at the end.
"""

from kerasfer.training.methods.registry import Method, group_kwargs


def cell_weights(model, plan) -> dict:
    """The learned cell weights as ``{"cell_weights": {group: {emotion: q}}}``."""
    from kerasfer.constants import EMOTIONS

    return {"cell_weights": model.cell_weight_table(plan.train_data.group_names, EMOTIONS[:model.num_classes])}


METHOD = Method("group_dro", "Group DRO over group x emotion cells",
                model="kerasfer.models.mitigations.group_dro:GroupDROClassifier", model_kwargs=group_kwargs,
                needs_attribute=True, joint_labels=True, balanced_sampling=True, metrics=cell_weights)

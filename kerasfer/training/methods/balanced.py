"""``balanced``: the baseline on (group × emotion)-balanced batches (`kerasfer.models.mitigations.balanced`)."""

from kerasfer.training.methods.registry import Method

METHOD = Method("balanced", "group x emotion balanced sampling", model="kerasfer.models.classifier:EmotionClassifier",
                needs_attribute=True, joint_labels=True, balanced_sampling=True)

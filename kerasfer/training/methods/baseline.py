"""``baseline``: the plain emotion classifier (`kerasfer.models.EmotionClassifier`), nothing mitigated."""

from kerasfer.training.methods.registry import Method

METHOD = Method("baseline", "the plain emotion classifier", model="kerasfer.models.classifier:EmotionClassifier")

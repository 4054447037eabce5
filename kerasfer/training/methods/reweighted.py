"""``reweighted``: the baseline with loss weights that make every (group × emotion) cell weigh the same.

The weights are `kerasfer.data.balanced_weights` of the method's attribute (Kamiran & Calders, 2012);
the model, the sampling and the export are the baseline's.
"""

from kerasfer.training.methods.registry import ALWAYS, Method

METHOD = Method("reweighted", "loss weights: every group x emotion cell weighs the same",
                model="kerasfer.models.classifier:EmotionClassifier", reweight=ALWAYS, joint_labels=True)

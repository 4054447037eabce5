"""``domain_independent``: one block of class scores per group, summed at inference
(`kerasfer.models.mitigations.domain_independent`, Wang et al., CVPR 2020)."""

from kerasfer.training.methods.registry import Method, group_kwargs

METHOD = Method("domain_independent", "one head per group, summed at inference",
                model="kerasfer.models.mitigations.domain_independent:DomainIndependentClassifier",
                model_kwargs=group_kwargs, needs_attribute=True, joint_labels=True)

"""Mitigations: the ways kerasfer can train a fairer emotion model, one module per method.

Every method is a `kerasfer.training.train_model` name (and ``kerasfer train --model NAME``); they
share the encoder builder (`kerasfer.models.encoder`), the data pipeline and the export, and
``kerasfer compare`` measures them side by side on your data (`kerasfer.compare`).

==================  ===========================================================  ======================
name                what changes                                                 module
==================  ===========================================================  ======================
baseline            nothing (`kerasfer.models.EmotionClassifier`)                —
reweighted          loss weights: every (group × emotion) cell weighs the same   `kerasfer.data.weights`
balanced            sampling: every cell is drawn equally often                  `balanced`
group_dro           objective: the worst cell's loss (online Group DRO)          `group_dro`
domain_independent  head: one block per group, summed at inference               `domain_independent`
erasure             post hoc: LEACE on the latent, head refitted                 `erasure`
fairvae             model: the attribute-aligned VAE (`kerasfer.models.FairVAE`) —
==================  ===========================================================  ======================

Fair supervised contrastive learning (FSCL, Park et al. CVPR 2022) is not here: it pretrains the
encoder with a contrastive loss over large batches of augmented pairs (the paper: batch 128 × 2 views,
100+ epochs), which is far outside the CPU budget our other methods train in, and it has no
single-stage form that fits `train_model`'s one-schedule design.
"""

from kerasfer.models.mitigations.domain_independent import DomainIndependentClassifier
from kerasfer.models.mitigations.erasure import erase_and_refit
from kerasfer.models.mitigations.group_dro import GroupDROClassifier

__all__ = ["DomainIndependentClassifier", "GroupDROClassifier", "erase_and_refit"]

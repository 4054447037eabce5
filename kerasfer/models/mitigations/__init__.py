"""Mitigations: the ways kerasfer can train a fairer emotion model, one module per method.

Every method is a `kerasfer.training.train_model` name (and ``kerasfer train --model NAME``); they
share the encoder builder (`kerasfer.models.encoder`), the data pipeline and the export, and
``kerasfer compare`` measures them side by side on your data (`kerasfer.compare`). What a method's
model is lives here, in `kerasfer.models` (layer 2); how it is trained — its model and the
constructor arguments it takes from the data, whether it needs a protected attribute, its sampling,
its loss weighting, its callbacks, its after-training step, its extra metrics and its line of
``--help`` — is declared once, in its module of `kerasfer.training.methods` (``METHOD = Method(...)``,
`kerasfer.training.methods.registry`). The trainer, the CLI and `compare` read that registry and
never branch on a method's name. In the table, `methods` is `kerasfer.training.methods`.

==================  ============================================================  ============================
name                what changes (and where: this package unless named)           declared in
==================  ============================================================  ============================
baseline            nothing (`kerasfer.models.EmotionClassifier`)                 `methods.baseline`
reweighted          loss weights: every (group × emotion) cell weighs the same    `methods.reweighted`
                    (`kerasfer.data.weights`)
balanced            sampling: every cell is drawn equally often (`balanced`)      `methods.balanced`
group_dro           objective: the worst cell's loss, online (`group_dro`)        `methods.group_dro`
domain_independent  head: one block per group, summed at inference                `methods.domain_independent`
                    (`domain_independent`)
erasure             post hoc: LEACE on the latent, head refitted (`erasure`)      `methods.erasure`
fairvae             model: the attribute-aligned VAE (`kerasfer.models.FairVAE`)  `methods.fairvae`
==================  ============================================================  ============================

Fair supervised contrastive learning (FSCL, Park et al. CVPR 2022) is not here: it pretrains the
encoder with a contrastive loss over large batches of augmented pairs (the paper: batch 128 × 2 views,
100+ epochs), which is far outside the CPU budget our other methods train in, and it has no
single-stage form that fits `train_model`'s one-schedule design.

Adding a method
---------------
1. If it needs a model of its own (a loss, a head, a training step), write it as a module of this
   package, e.g. ``kerasfer/models/mitigations/my_method.py`` with ``MyClassifier(EmotionClassifier)``
   (``@keras.saving.register_keras_serializable(package="kerasfer")``, every constructor argument in
   ``get_config``), and its tests. A method that only trains differently (its sampling, its loss
   weights, an after-training step) needs no model of its own.
2. Declare it in ``kerasfer/training/methods/my_method.py``, saying only what differs from the
   baseline (`kerasfer.training.methods.Method` lists every field and its default)::

       from kerasfer.training.methods.registry import Method, group_kwargs

       METHOD = Method("my_method", "one line for kerasfer train --help",
                       model="kerasfer.models.mitigations.my_method:MyClassifier",
                       model_kwargs=group_kwargs, needs_attribute=True)

   Name the model as ``"module:Class"``, so that reading the registry imports no TensorFlow.
3. Add ``"my_method"`` to `kerasfer.training.methods.BUILT_IN`, the one registry line:
   `train_model`, `build_model`, ``kerasfer train --model``, ``kerasfer compare --methods`` and
   `compare`'s default list have it from then on. From outside the package (a notebook, a test),
   ``kerasfer.training.register(Method(...))`` does the same at run time and ``unregister`` undoes it.
4. Add its row to the table above, a test that trains it through `train_model` by name (see
   ``tests/test_registry.py``), and its measured result to the README.
"""

from kerasfer.models.mitigations.domain_independent import DomainIndependentClassifier
from kerasfer.models.mitigations.erasure import erase_and_refit
from kerasfer.models.mitigations.group_dro import GroupDROClassifier

__all__ = ["DomainIndependentClassifier", "GroupDROClassifier", "erase_and_refit"]

"""Training methods: one module per method declares what `train_model` needs to know of it.

`registry` holds `Method` and `METHODS`; every module named in `BUILT_IN` declares one method as
``METHOD = Method(...)`` and is registered here, in this order. The models themselves live in
`kerasfer.models` and `kerasfer.models.mitigations` (layer 2); their declarations live here, in the
training layer, because they say how a model is trained (its callbacks, its after-training step)
and because reading them must stay light: ``kerasfer --help`` lists the methods without importing
TensorFlow. See `kerasfer.models.mitigations` for the table of methods and how to add one.
"""

import importlib

from kerasfer.training.methods.registry import (ALWAYS, BY_DEFAULT, METHODS, WHEN_ASKED, Method, MethodNames,
                                                get_method, register, unregister)

#: the modules of the built-in methods, in the order of ``kerasfer train --help`` and of `compare`
BUILT_IN = ("baseline", "reweighted", "balanced", "group_dro", "domain_independent", "erasure", "fairvae")

for _module in BUILT_IN:
    register(importlib.import_module(f"kerasfer.training.methods.{_module}").METHOD)

__all__ = ["ALWAYS", "BUILT_IN", "BY_DEFAULT", "METHODS", "WHEN_ASKED", "Method", "MethodNames", "get_method",
           "register", "unregister"]

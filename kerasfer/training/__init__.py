"""Training: one entry point for every model and mitigation, and what it is built from.

- `train`: `train_model` / `build_model` and the names they accept (`MODELS`), a composition of the steps:
  `plan` (resolve the arguments), `build` (build and compile), `backup` (resume after a crash, save),
  `fit` (train), `evaluate` (the method's after-training step, the metrics);
- `methods`: the registry of training methods, one module per method (`Method`, `register`);
- `recipe`: what a preset trains with (size under ``size="auto"``, epochs, schedule, augmentation);
- `warm_start`: ``init=``, starting from a trained model;
- `epochs`: a run's batches as one deterministic, resumable stream (balanced sampling included);
- `callbacks`: progress, backups (resume after a crash), the NaN guard, the per-epoch erasure refit;
- `loop`: the custom loop that replaces `fit` under multi-worker training;
- `distribute`: choosing a `tf.distribute` strategy.

Importing this package is light: TensorFlow is imported when a model is built or trained.
"""

from kerasfer.training.methods import Method, register, unregister
from kerasfer.training.train import MODELS, REWEIGHTED_BY_DEFAULT, build_model, train_model

__all__ = ["MODELS", "REWEIGHTED_BY_DEFAULT", "Method", "build_model", "register", "train_model", "unregister"]

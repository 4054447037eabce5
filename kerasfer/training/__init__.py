"""Training: one entry point for every model and mitigation, and what it is built from.

- `train`: `train_model` / `build_model` and the names they accept (`MODELS`);
- `epochs`: a run's batches as one deterministic, resumable stream (balanced sampling included);
- `callbacks`: progress, backups (resume after a crash), the NaN guard, the per-epoch erasure refit;
- `loop`: the custom loop that replaces `fit` under multi-worker training;
- `distribute`: choosing a `tf.distribute` strategy.

Importing this package is light: TensorFlow is imported when a model is built or trained.
"""

from kerasfer.training.train import MODELS, REWEIGHTED_BY_DEFAULT, build_model, train_model

__all__ = ["MODELS", "REWEIGHTED_BY_DEFAULT", "build_model", "train_model"]

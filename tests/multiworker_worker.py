"""Run by test_multiworker.py, once per worker process (TF_CONFIG set by the test): trains a tiny
model with `train_model(..., strategy="multiworker")` and saves this worker's final weights.

Usage: python multiworker_worker.py MODEL OUT_DIR WEIGHTS.npz [CRASH_AFTER_BATCHES]

With CRASH_AFTER_BATCHES the process dies (os._exit, no clean-up) after that many batches.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kerasfer.training.distribute import make_strategy  # noqa: E402

strategy = make_strategy("multiworker")  # first, before any other TensorFlow work

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasfer.data import make_synthfaces  # noqa: E402
from kerasfer.training import train_model  # noqa: E402

SIZES = {
    "baseline": dict(width=8, latent_dim=16, head_units=16),
    "fairvae": dict(width=8, latent_dim=16, generator_width=8, head_units=16, adversary_units=16),
}


class Crash(keras.callbacks.Callback):
    def __init__(self, after):
        super().__init__()
        self.after, self.seen = after, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.after:
            os._exit(3)


name, out, weights_path = sys.argv[1:4]
callbacks = [Crash(int(sys.argv[4]))] if len(sys.argv) > 4 else []
data = make_synthfaces(192, seed=3, image_size=32, bias="demo")
started = time.perf_counter()
model, metrics = train_model(name, data, out=out, epochs=2, batch_size=32, seed=5, strategy=strategy,
                             backup_freq=4, verbose=0, callbacks=callbacks, **SIZES[name])
np.savez(weights_path, seconds=time.perf_counter() - started, replicas=metrics["replicas"],
         resumed_from_step=metrics["start"]["resumed_from_step"],
         **{f"w{i}": w for i, w in enumerate(model.get_weights())})

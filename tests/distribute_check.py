"""Run by test_distribute.py in a fresh process: one SGD step on one device vs MirroredStrategy over two
logical CPU devices (which must be configured before TensorFlow initialises). Prints JSON with the
ratio of the weight-update norms: 1.0 when per-replica loss scaling is right, 2.0 when it is not.

FairVAE runs with lambda_align=0 here: the MMD alignment is estimated on each replica's local batch,
whose class × group cells hold only a few samples, so its one-step gradient is much noisier (the
update-norm ratio reached 1.7 with it on); the scaling of every other term is what this checks."""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasfer.data import make_synthfaces  # noqa: E402
from kerasfer.models import EmotionClassifier, FairVAE  # noqa: E402

data = make_synthfaces(64, seed=0, image_size=32, bias="demo")
BUILDERS = {
    "baseline": lambda: EmotionClassifier(input_shape=(32, 32, 3), width=8, dropout=0.0),
    "fairvae": lambda: FairVAE(input_shape=(32, 32, 3), width=8, latent_dim=16, generator_width=8, dropout=0.0,
                               beta_warmup_steps=0, adv_warmup_steps=0, lambda_align=0.0),
}


def update_norm(name, strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = BUILDERS[name]()
        model.compile(optimizer=keras.optimizers.SGD(0.01))
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.fit(data.dataset(64, shuffle=False), epochs=1, verbose=0)
    delta = [w.numpy() - b for w, b in zip(model.trainable_weights, before)]
    return float(np.sqrt(sum((d ** 2).sum() for d in delta))), strategy.num_replicas_in_sync


result = {}
for name in sys.argv[1:] or BUILDERS:
    single, _ = update_norm(name, tf.distribute.OneDeviceStrategy("/cpu:0"))
    mirrored, replicas = update_norm(name, tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    result[name] = {"ratio": mirrored / single, "replicas": replicas}
print(json.dumps(result))

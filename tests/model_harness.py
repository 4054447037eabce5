"""One harness every kerasfer model's tests call (keras-hub's `run_task_test` pattern).

`run_model_checks` builds nothing itself: give it a compiled model and a tiny FaceData and it checks
output shape, one `fit` epoch (history keys, finite losses, weights changed), `.keras` save/load
(identical predictions, ready to train again) and that `classifier_model()` computes the same
function as the model.
"""

from __future__ import annotations

import numpy as np
import keras


def run_model_checks(model, data, tmp_path, *, expected_outputs, history_keys=("loss",), batch_size=32):
    """Run the shared checks on `model`; returns the History of its fit epoch.

    Args:
        model: a compiled kerasfer model.
        data: a small `FaceData` the model can train on.
        tmp_path: pytest's tmp_path for the saved file.
        expected_outputs: the model's number of output units.
        history_keys: keys `fit` must log.
        batch_size: batch size for the fit epoch.
    """
    images = data.images[:8].astype("float32")
    out = np.asarray(model(images, training=False))
    assert out.shape == (8, expected_outputs)
    assert np.all(np.isfinite(out))

    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(data.dataset(batch_size, seed=0), epochs=1, verbose=0)
    for key in history_keys:
        assert key in history.history, f"fit did not log {key!r}: {sorted(history.history)}"
        assert np.all(np.isfinite(history.history[key])), f"{key} is not finite: {history.history[key]}"
    changed = [not np.allclose(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    assert sum(changed) >= len(changed) // 2, "fit changed fewer than half of the weight tensors"

    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)
    assert reloaded.get_config() == model.get_config()
    reloaded.fit(data.dataset(batch_size, seed=0).take(1), epochs=1, verbose=0)  # ready to train again

    functional = model.classifier_model()
    assert type(functional).__name__ == "Functional", "classifier_model() must be a Functional model (export needs it)"
    np.testing.assert_allclose(functional.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)
    return history

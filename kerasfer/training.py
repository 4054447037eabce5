"""One training entry point for every kerasfer model: build, fit with a progress bar, evaluate, save."""

from __future__ import annotations

from pathlib import Path

MODELS = ("baseline", "reweighted", "fairvae")


def build_model(name: str, input_shape, *, protected=None, **kwargs):
    """Build a kerasfer model by name.

    Args:
        name: ``"baseline"`` / ``"reweighted"`` (EmotionClassifier; reweighting happens in
            `train_model`) or ``"fairvae"``.
        input_shape: (H, W, C) of the images.
        protected: FairVAE's protected attributes (name → groups).
        **kwargs: passed to the model's constructor.

    Returns:
        The (uncompiled) model.
    """
    from kerasfer.models import EmotionClassifier, FairVAE

    if name in ("baseline", "reweighted"):
        return EmotionClassifier(input_shape=input_shape, **kwargs)
    if name == "fairvae":
        return FairVAE(input_shape=input_shape, protected=protected, **kwargs)
    raise ValueError(f"unknown model {name!r}; use one of {MODELS}.")


def train_model(name: str, train_data, test_data=None, *, out=None, epochs: int = 10, batch_size: int = 64,
                learning_rate: float = 3e-3, seed: int = 0, reweight_attribute: str = "skin", verbose=1,
                **model_kwargs):
    """Train model `name` on `train_data`; evaluate per group on `test_data`; save to `out`.

    Args:
        name: one of `MODELS`.
        train_data: a `FaceData` with labels.
        test_data: optional `FaceData` for the per-group summary.
        out: folder for ``model.keras`` and ``metrics.json`` (None: save nothing).
        epochs: training epochs.
        batch_size: batch size.
        learning_rate: peak learning rate (cosine decay to 0).
        seed: seed of initialisation and shuffling.
        reweight_attribute: the attribute balanced by the ``"reweighted"`` baseline.
        verbose: Keras verbosity (1 = progress bar).
        **model_kwargs: passed to `build_model`.

    Returns:
        ``(model, metrics)`` — metrics as in `kerasfer.fairness.accuracy_summary` plus the
        final training logs.
    """
    import keras

    from kerasfer.data import balanced_weights
    from kerasfer.fairness import accuracy_summary
    from kerasfer.models.predict import predict_proba
    from kerasfer.utils.io import write_json

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; use one of {MODELS}.")
    if not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"`epochs` must be a positive integer; got {epochs!r}.")
    keras.utils.set_random_seed(seed)
    if name == "fairvae" and "protected" not in model_kwargs:
        model_kwargs["protected"] = {a: len(g) for a, g in train_data.group_names.items()}
    model = build_model(name, train_data.image_shape, **model_kwargs)
    steps = epochs * -(-len(train_data) // batch_size)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps)))
    weights = balanced_weights(train_data, reweight_attribute) if name == "reweighted" else None
    history = model.fit(train_data.dataset(batch_size, seed=seed, sample_weight=weights), epochs=epochs,
                        verbose=verbose)
    metrics = {"model": name, "train": {k: float(v[-1]) for k, v in history.history.items()}}
    if test_data is not None:
        predictions = predict_proba(model, test_data).argmax(axis=1)
        metrics.update(accuracy_summary(test_data.labels, predictions, test_data))
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        model.save(out / "model.keras")
        write_json(out / "metrics.json", metrics)
    return model, metrics

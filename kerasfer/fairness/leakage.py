"""Latent leakage: how well a held-out linear probe recovers a protected attribute from the latent."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def leakage(encoder, data, attribute: str, *, test_size: float = 0.3, n_boot: int = 200, seed: int = 0,
            batch_size: int = 256) -> dict:
    """Balanced accuracy of a logistic-regression probe predicting `attribute` from the latent.

    Near chance (1 / number of groups) means the latent carries (linearly) no information about
    the attribute; the 95 % CI is a bootstrap over the held-out samples.

    Args:
        encoder: a Keras model image → latent, or a kerasfer model with `encoder_model()`.
        data: a `FaceData` with the attribute.
        attribute: the protected attribute to probe.
        test_size: held-out fraction (stratified by group).
        n_boot: bootstrap resamples for the CI.
        seed: seed of the split and the bootstrap.
        batch_size: images per forward pass.

    Returns:
        ``{"attribute", "balanced_accuracy", "ci_low", "ci_high", "chance", "n_train", "n_test",
        "n_unknown"}``.
    """
    from kerasfer.models.predict import predict_proba

    data.check_attribute(attribute)
    if not 0 < test_size < 1:
        raise ValueError(f"`test_size` must be in (0, 1); got {test_size!r}.")
    if hasattr(encoder, "encoder_model"):
        encoder = encoder.encoder_model()
    groups = data.attributes[attribute]
    known = groups >= 0
    present = np.unique(groups[known])
    if len(present) < 2:
        raise ValueError(f"leakage needs at least two groups of {attribute!r} with known values; got {present.tolist()}.")
    latents = predict_proba(encoder, data[np.flatnonzero(known)], batch_size)
    return probe_leakage(latents, groups[known], attribute, test_size=test_size, n_boot=n_boot, seed=seed,
                         n_unknown=int((~known).sum()))


def probe_leakage(latents, groups, attribute: str = "attribute", *, test_size: float = 0.3, n_boot: int = 200,
                  seed: int = 0, n_unknown: int = 0) -> dict:
    """The probe of `leakage` on latents already computed (see there).

    Args:
        latents: (N, D) latent vectors.
        groups: (N,) known group indices.
        attribute: name used in the result.
        test_size: held-out fraction.
        n_boot: bootstrap resamples.
        seed: seed.
        n_unknown: samples left out for an unknown group (reported only).

    Returns:
        The result dict of `leakage`.
    """
    latents, groups = np.asarray(latents, np.float64), np.asarray(groups)
    x_train, x_test, y_train, y_test = train_test_split(latents, groups, test_size=test_size, random_state=seed,
                                                        stratify=groups)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(x_train, y_train)
    predicted = probe.predict(x_test)
    score = balanced_accuracy_score(y_test, predicted)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y_test), len(y_test))
        if len(np.unique(y_test[idx])) > 1:
            boot.append(balanced_accuracy_score(y_test[idx], predicted[idx]))
    low, high = np.percentile(boot, [2.5, 97.5]) if boot else (np.nan, np.nan)
    return {"attribute": attribute, "balanced_accuracy": float(score), "ci_low": float(low), "ci_high": float(high),
            "chance": 1.0 / len(np.unique(groups)), "n_train": int(len(y_train)), "n_test": int(len(y_test)),
            "n_unknown": int(n_unknown)}

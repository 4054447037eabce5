"""Latent leakage: how well a held-out probe recovers a protected attribute from the latent.

Two probes: logistic regression (``"linear"``) and a one-hidden-layer MLP (``"mlp"``). Linear concept
erasure (LEACE) defeats every linear probe by construction, so an erased latent is judged by the MLP too.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

PROBES = ("linear", "mlp")


def leakage(encoder, data, attribute: str, *, probe: str = "linear", test_size: float = 0.3, n_boot: int = 200,
            seed: int = 0, batch_size: int = 256) -> dict:
    """Balanced accuracy of a held-out probe predicting `attribute` from the latent.

    Near chance (1 / number of groups) means the probe finds no information about the attribute in
    the latent; the 95 % CI is a bootstrap over the held-out samples.

    Args:
        encoder: a Keras model image → latent, or a kerasfer model with `encoder_model()`.
        data: a `FaceData` with the attribute.
        attribute: the protected attribute to probe.
        probe: ``"linear"`` (logistic regression) or ``"mlp"`` (64 hidden units, early stopping).
        test_size: held-out fraction (stratified by group).
        n_boot: bootstrap resamples for the CI.
        seed: seed of the split and the bootstrap.
        batch_size: images per forward pass.

    Returns:
        ``{"attribute", "probe", "balanced_accuracy", "ci_low", "ci_high", "chance", "n_train", "n_test",
        "n_unknown"}``.
    """
    from kerasfer.models.predict import predict_proba

    data.check_attribute(attribute)
    _check_probe(probe)
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
    return probe_leakage(latents, groups[known], attribute, probe=probe, test_size=test_size, n_boot=n_boot,
                         seed=seed, n_unknown=int((~known).sum()))


def probe_leakage(latents, groups, attribute: str = "attribute", *, probe: str = "linear", test_size: float = 0.3,
                  n_boot: int = 200, seed: int = 0, n_unknown: int = 0) -> dict:
    """The probe of `leakage` on latents already computed (see there).

    Args:
        latents: (N, D) latent vectors.
        groups: (N,) known group indices.
        attribute: name used in the result.
        probe: ``"linear"`` or ``"mlp"`` (see `leakage`).
        test_size: held-out fraction.
        n_boot: bootstrap resamples.
        seed: seed.
        n_unknown: samples left out for an unknown group (reported only).

    Returns:
        The result dict of `leakage`.
    """
    _check_probe(probe)
    latents, groups = np.asarray(latents, np.float64), np.asarray(groups)
    x_train, x_test, y_train, y_test = train_test_split(latents, groups, test_size=test_size, random_state=seed,
                                                        stratify=groups)
    if probe == "mlp":
        x_train, y_train = _oversampled(x_train, y_train, seed)
    classifier = make_pipeline(StandardScaler(), _probe_model(probe, seed))
    classifier.fit(x_train, y_train)
    predicted = classifier.predict(x_test)
    score = balanced_accuracy_score(y_test, predicted)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y_test), len(y_test))
        if len(np.unique(y_test[idx])) > 1:
            boot.append(balanced_accuracy_score(y_test[idx], predicted[idx]))
    low, high = np.percentile(boot, [2.5, 97.5]) if boot else (np.nan, np.nan)
    return {"attribute": attribute, "probe": probe, "balanced_accuracy": float(score), "ci_low": float(low),
            "ci_high": float(high),
            "chance": 1.0 / len(np.unique(groups)), "n_train": int(len(y_train)), "n_test": int(len(y_test)),
            "n_unknown": int(n_unknown)}


def stratifiable(groups) -> np.ndarray:
    """Mask of the samples a stratified probe split can use: known group, and a group of 2+ samples.

    Args:
        groups: (N,) group indices, -1 unknown.

    Returns:
        (N,) bool mask.
    """
    groups = np.asarray(groups)
    known = groups >= 0
    counts = np.bincount(groups[known]) if known.any() else np.zeros(1, int)
    return known & (counts[np.clip(groups, 0, len(counts) - 1)] >= 2)


def _check_probe(probe: str) -> None:
    if probe not in PROBES:
        raise ValueError(f"`probe` must be one of {PROBES}; got {probe!r}.")


def _oversampled(x, y, seed: int):
    """`x`, `y` with every group drawn up to the largest group's count (seeded; unchanged when balanced).

    The MLP probe stops early on its own validation *accuracy*; on imbalanced groups (UTKFace's races)
    predicting the largest group scores best there, and the probe came out at exactly chance balanced
    accuracy for every model. The linear probe is unaffected and left as it is.
    """
    counts = np.bincount(y)
    present = np.flatnonzero(counts)
    if counts[present].min() == counts.max():
        return x, y
    rng = np.random.default_rng(seed)
    index = np.concatenate([rng.choice(np.flatnonzero(y == g), counts.max(), replace=counts[g] < counts.max())
                            for g in present])
    return x[index], y[index]


def _probe_model(probe: str, seed: int):
    """The unfitted classifier of a probe (after standardisation)."""
    if probe == "linear":
        return LogisticRegression(max_iter=2000)
    return MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-3, early_stopping=True, validation_fraction=0.15,
                         n_iter_no_change=10, max_iter=500, random_state=seed)

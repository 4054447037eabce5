"""Linear concept erasure of the latent (LEACE; Belrose et al., NeurIPS 2023), as a frozen Dense layer.

LEACE is the least-squares-smallest affine edit of the latent after which *no* linear classifier
predicts the concept better than a constant: with whitening W = Σ_xx^-1/2 and P the orthogonal
projection onto the column space of W Σ_xz,

    r(x) = x − W⁺ P W (x − μ),

a closed form of the training latents' covariance Σ_xx and cross-covariance Σ_xz with the one-hot
concept (every erased attribute's groups side by side). r is affine, so it is a plain `Dense` layer
(kernel I − (W⁺PW)ᵀ, bias W⁺PW μ) between encoder and head: int8 export and the phone contract do
not change. It starts as the identity and is refitted on the current encoder's latents (at the start
of every epoch by `train_model`, `kerasfer.training.callbacks.ErasureRefit`), so the head always trains on
erased latents. It removes *linear* information only: judge it with the MLP probe too
(`kerasfer.fairness.leakage(..., probe="mlp")`).
"""

from __future__ import annotations

import keras
import numpy as np

#: eigenvalues of Σ_xx below this fraction of the largest are treated as zero (a rank-deficient latent)
RELATIVE_TOLERANCE = 1e-6
#: singular values of the whitened cross-covariance (correlation units) below this are round-off
CORRELATION_TOLERANCE = 1e-6
#: latents the eraser is fitted on (a seeded subsample of the training data)
FIT_SAMPLES = 4096


def fit_leace(latents, concepts):
    """The LEACE eraser of `concepts` from `latents`, as a Dense kernel and bias.

    Args:
        latents: (N, D) latent vectors.
        concepts: (N, K) concept matrix (e.g. one-hot groups of one or more attributes).

    Returns:
        ``(kernel, bias)``: (D, D) and (D,) float32, so that ``latents @ kernel + bias`` is erased.
    """
    x = np.asarray(latents, np.float64)
    z = np.asarray(concepts, np.float64)
    if x.ndim != 2 or z.ndim != 2 or len(x) != len(z):
        raise ValueError(f"latents (N, D) and concepts (N, K) must have the same N; got {x.shape} and {z.shape}.")
    mean = x.mean(axis=0)
    centred = x - mean
    sigma_xx = centred.T @ centred / len(x)
    sigma_xz = centred.T @ (z - z.mean(axis=0)) / len(x)
    values, vectors = np.linalg.eigh(sigma_xx)
    keep = values > RELATIVE_TOLERANCE * max(values.max(), 0.0)
    root = np.sqrt(np.where(keep, values, 1.0))
    whiten = (vectors * np.where(keep, 1 / root, 0.0)) @ vectors.T
    unwhiten = (vectors * np.where(keep, root, 0.0)) @ vectors.T
    u, s, _ = np.linalg.svd(whiten @ sigma_xz, full_matrices=False)
    basis = u[:, s > CORRELATION_TOLERANCE]
    edit = unwhiten @ basis @ basis.T @ whiten  # W⁺ P W
    kernel = np.eye(x.shape[1]) - edit.T
    return kernel.astype(np.float32), (edit @ mean).astype(np.float32)


def concept_matrix(attributes: dict, names, group_counts: dict):
    """One-hot columns of every attribute in `names`, side by side, and the rows where all are known.

    Args:
        attributes: attribute name → (N,) group indices (-1 unknown).
        names: the attributes to erase.
        group_counts: attribute name → number of groups.

    Returns:
        ``(concepts, known)``: (N, Σ groups) float array and (N,) bool mask.
    """
    columns, known = [], None
    for name in names:
        groups = np.asarray(attributes[name])
        columns.append(np.eye(group_counts[name])[np.maximum(groups, 0)])
        known = (groups >= 0) if known is None else known & (groups >= 0)
    return np.concatenate(columns, axis=1), known


def build_eraser(latent_dim: int) -> keras.layers.Dense:
    """The frozen identity Dense layer that `refit_erasure` turns into the eraser."""
    layer = keras.layers.Dense(latent_dim, kernel_initializer="identity", bias_initializer="zeros",
                               trainable=False, name="erasure")
    layer.build((None, latent_dim))
    return layer


def check_erasure(erasure, allowed=None) -> tuple:
    """`erasure` as a tuple of attribute names (None → ()), each in `allowed` when given.

    Raises:
        ValueError: naming an attribute not in `allowed`, or a value that is not names.
    """
    if erasure is None:
        return ()
    names = (erasure,) if isinstance(erasure, str) else tuple(erasure)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ValueError(f"`erasure` must be an attribute name or a list of them; got {erasure!r}.")
    unknown = [name for name in names if allowed is not None and name not in allowed]
    if unknown:
        raise ValueError(f"`erasure` names {unknown}, not among the model's attributes {sorted(allowed)}.")
    return names


def refit_erasure(model, data, *, max_samples: int = FIT_SAMPLES, seed: int = 0, batch_size: int = 256) -> dict:
    """Fit `model`'s eraser on its current pre-erasure latents of (a seeded sample of) `data`.

    Args:
        model: a kerasfer model built with ``erasure=...``.
        data: a `FaceData` with the erased attributes.
        max_samples: at most this many faces (the fit is O(N·D²)).
        seed: seed of the subsample.
        batch_size: images per forward pass.

    Returns:
        ``{"attributes", "n", "rank"}``: what was erased, from how many faces, and the rank of the
        removed subspace.
    """
    names = getattr(model, "erasure", ())
    if not names:
        raise ValueError("this model has no eraser: build it with erasure=('skin', ...).")
    for name in names:
        data.check_attribute(name)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(data), min(len(data), max_samples), replace=False))
    sample = data[pick]
    counts = {name: len(sample.group_names[name]) for name in names}
    concepts, known = concept_matrix(sample.attributes, names, counts)
    if known.sum() < 2 * sum(counts.values()):
        raise ValueError(f"erasure of {list(names)} needs faces with those attributes known; {int(known.sum())} of "
                         f"{len(sample)} have them.")
    from kerasfer.models.predict import predict_proba

    latents = predict_proba(model.pre_erasure_model(), sample[np.flatnonzero(known)], batch_size)
    kernel, bias = fit_leace(latents, concepts[known])
    model.eraser.set_weights([kernel, bias])
    return {"attributes": list(names), "n": int(known.sum()),
            "rank": int(round(np.trace(np.eye(len(kernel)) - kernel)))}

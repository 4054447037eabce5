"""Group × emotion balanced sampling: every cell is drawn equally often (oversampling rare cells).

"Simple data balancing achieves competitive worst-group-accuracy" (Idrissi, Arjovsky, Pezeshki,
Lopez-Paz, CLeaR 2022) — and the resampling of Kamiran & Calders (2012) — change *what the model
sees* instead of how much each face weighs: an epoch of N faces draws a (group × emotion) cell
uniformly, then a face uniformly within it. A stereotype's rare cells (dark-skinned happy faces)
then appear as often as its common ones, each face several times per epoch, while the plain loss,
optimiser and model stay the baseline's. The loss-weight counterpart is
`kerasfer.data.balanced_weights` (the ``reweighted`` method).

`kerasfer.training.epochs.epoch_stream` turns the multiplicities drawn here into each epoch's
batches, seeded per epoch, so a balanced run resumes after a crash exactly like a plain one.
"""

from __future__ import annotations

import numpy as np

from kerasfer.models.groups import attribute_names


def balance_spec(attribute) -> str:
    """The `kerasfer.data.sampling` cell spec of the (group × emotion) cells: ``"label+group:skin"``.

    Args:
        attribute: the protected attribute, or a list of attributes (their intersectional groups).
    """
    return "+".join(["label", *(f"group:{name}" for name in attribute_names(attribute))])


def balanced_multiplicities(cells: np.ndarray, rng: np.random.Generator, shares=None) -> np.ndarray:
    """How often each sample appears in one balanced epoch of ``len(cells)`` draws.

    Each draw picks a cell (uniformly, or with probability `shares`), then a sample of it uniformly
    (with replacement): a sample of cell k is drawn with probability share_k / n_k.

    Args:
        cells: (N,) cell id of every sample (`kerasfer.data.sampling.balance_cells`, or the sources
            of `kerasfer.data.union.join_sources`).
        rng: the epoch's generator.
        shares: optional (K,) share of each cell, in the order of the sorted cell ids (None: 1/K each).

    Returns:
        (N,) int64 counts summing to N.
    """
    cells = np.asarray(cells)
    _, inverse, sizes = np.unique(cells, return_inverse=True, return_counts=True)
    shares = np.full(len(sizes), 1.0 / len(sizes)) if shares is None else np.asarray(shares, np.float64)
    if shares.shape != sizes.shape:
        raise ValueError(f"{len(shares)} shares for {len(sizes)} cells.")
    probability = shares[inverse.ravel()] / sizes[inverse.ravel()]
    draws = rng.choice(len(cells), size=len(cells), replace=True, p=probability / probability.sum())
    return np.bincount(draws, minlength=len(cells)).astype(np.int64)

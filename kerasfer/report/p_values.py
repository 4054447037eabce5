"""How kerasfer's reports write a p-value (the audit's HTML report and text summary, the AU study page).

The p-values come from the fairness side's permutation tests (`kerasfer.fairness.bootstrap`); this
module only writes them, so a report renders them without importing fairness.
"""

from __future__ import annotations

import numpy as np


def format_p_value(p, n_perm: int | None = None) -> str:
    """``"p = 0.012"``, or ``"p < 0.001"`` for a p-value at the permutation floor; ``""`` for NaN.

    A permutation p-value is never below ``1 / (n_perm + 1)``: at that floor no permutation reached the
    observed gap, and all one can say is ``p < 1 / n_perm``.

    Args:
        p: the p-value (NaN / None: untested).
        n_perm: the permutations it came from (None: show p below 0.001 as ``p < 0.001``).

    Returns:
        The text.
    """
    if p is None or not np.isfinite(p):
        return ""
    if n_perm and p <= 1 / (n_perm + 1) + 1e-12:
        return f"p < {1 / n_perm:.2g}"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"

"""Comparison: which mitigation works on *your* data — trained side by side, chosen on validation, audited on test.

`compare` trains the baseline and each method of `kerasfer.models.mitigations` over several seeds,
recommends one by a documented rule on a validation split (`selection`; its labels corrected for the
annotators' errors, or a trusted validation set), and writes compare.json,
compare.html (table with CIs, accuracy-vs-EOD Pareto plot) and metrics.json. The CLI is
``kerasfer compare``.
"""

from kerasfer.comparison.run import DEFAULT_METHODS, check_methods, compare
from kerasfer.comparison.selection import ACCURACY_TOLERANCE, indistinguishable, recommend, selection_rule

__all__ = ["ACCURACY_TOLERANCE", "DEFAULT_METHODS", "check_methods", "compare", "indistinguishable", "recommend",
           "selection_rule"]

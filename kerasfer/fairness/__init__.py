"""Fairness: per-group metrics and fairness gaps of a model's predictions."""

from kerasfer.fairness.gaps import demographic_parity_gap, equalized_odds_gap, one_vs_rest_gaps
from kerasfer.fairness.groups import accuracy_summary, per_group_accuracy

__all__ = [
    "accuracy_summary",
    "demographic_parity_gap",
    "equalized_odds_gap",
    "one_vs_rest_gaps",
    "per_group_accuracy",
]

"""Fairness: per-group metrics, fairness gaps and latent leakage."""

from kerasfer.fairness.gaps import demographic_parity_gap, equalized_odds_gap, one_vs_rest_gaps
from kerasfer.fairness.groups import accuracy_summary, per_group_accuracy
from kerasfer.fairness.leakage import leakage, probe_leakage

__all__ = [
    "accuracy_summary",
    "demographic_parity_gap",
    "equalized_odds_gap",
    "leakage",
    "one_vs_rest_gaps",
    "per_group_accuracy",
    "probe_leakage",
]

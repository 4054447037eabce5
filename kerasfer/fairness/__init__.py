"""Fairness: per-group metrics, fairness gaps, the audit with CIs and p-values, predicted rates, latent leakage."""

from kerasfer.fairness.audit import audit, audit_predictions, rate_audit
from kerasfer.fairness.gaps import demographic_parity_gap, equalized_odds_gap, one_vs_rest_gaps
from kerasfer.fairness.groups import accuracy_summary, per_group_accuracy
from kerasfer.fairness.leakage import leakage, probe_leakage
from kerasfer.fairness.rates import NEGATIVE_EMOTIONS
from kerasfer.fairness.result import AuditResult

__all__ = [
    "AuditResult",
    "FairnessMonitor",
    "NEGATIVE_EMOTIONS",
    "accuracy_summary",
    "audit",
    "audit_predictions",
    "demographic_parity_gap",
    "equalized_odds_gap",
    "leakage",
    "one_vs_rest_gaps",
    "per_group_accuracy",
    "probe_leakage",
    "rate_audit",
]


def __getattr__(name):
    # FairnessMonitor subclasses keras.callbacks.Callback: import Keras only when it is asked for
    if name == "FairnessMonitor":
        from kerasfer.fairness.monitor import FairnessMonitor

        return FairnessMonitor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

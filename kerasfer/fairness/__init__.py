"""Fairness: per-group metrics of a model's predictions."""

from kerasfer.fairness.groups import accuracy_summary, per_group_accuracy

__all__ = ["accuracy_summary", "per_group_accuracy"]

"""The rule `kerasfer compare` recommends a method by, on the validation split only.

The validation split is carved from the training data, so it carries the training data's bias: with
a stereotype (dark-skinned faces mostly angry) plain validation accuracy rewards the model that
leans on it, and would rank every mitigation below the baseline even when it is more accurate on
unbiased faces. The rule therefore reads the *cell-balanced* validation accuracy — the mean accuracy
over (group × emotion) cells, `kerasfer.fairness.groups.cell_balanced_accuracy` — which estimates the
accuracy on faces whose emotion does not depend on their group.

Among the methods that keep it, the rule ranks by the validation *false-positive-rate* gap (the
"predictive equality" half of equalized odds), not the whole EOD. The reason is biased annotators:
when a group's faces get labelled with one emotion ("angry") whatever they show, that emotion's
*positives* in the validation labels are contaminated, but its negatives are not. A model that
learned the annotators' habit then matches the noisy positives, so its validation TPR gap, and with
it the EOD, looks small. Its false positives on the faces correctly labelled otherwise still show.
Measured (`benchmarks/mitigation.py`, noisy regime, 3 seeds): ranked by validation EOD the rule chose
Group DRO (validation EOD 0.29, test EOD 0.61); ranked by the FPR gap it chose balanced sampling
(test EOD 0.45). Rates of cells with fewer than 10 faces are left out of both
(`kerasfer.comparison.run.VALIDATION_MIN_CELL`).
"""

from __future__ import annotations

import math

#: how far (accuracy, 0–1) below the baseline's validation accuracy a recommended method may be
ACCURACY_TOLERANCE = 0.01
BASELINE = "baseline"
RULE = ("the smallest mean validation false-positive-rate gap of {attribute} (max over emotions, cells of 10+ "
        "faces) among the methods whose mean cell-balanced validation accuracy (the mean accuracy over {attribute} "
        "group × emotion cells) is at most {points:g} point(s) below the baseline's (the baseline is one of them, "
        "so with no such method it is recommended); a tie goes to the more accurate")


def selection_rule(attribute: str, tolerance: float = ACCURACY_TOLERANCE) -> str:
    """The rule as a sentence, for compare.json and the page."""
    return RULE.format(attribute=attribute, points=round(100 * tolerance, 3))


def recommend(validation: dict, tolerance: float = ACCURACY_TOLERANCE) -> str:
    """The method the rule picks.

    Args:
        validation: ``{method: {"balanced_accuracy": mean, "false_positive_rate_difference": mean}}``
            on the validation split; must hold ``"baseline"``.
        tolerance: `ACCURACY_TOLERANCE`.

    Returns:
        The recommended method's name.

    Raises:
        ValueError: no baseline among the methods.
    """
    if BASELINE not in validation:
        raise ValueError(f"the rule compares against the baseline; the methods are {sorted(validation)}.")
    floor = validation[BASELINE]["balanced_accuracy"] - tolerance
    candidates = [name for name, row in validation.items() if row["balanced_accuracy"] >= floor - 1e-12]

    def key(name):
        gap = validation[name]["false_positive_rate_difference"]
        return (math.inf if gap is None or math.isnan(gap) else gap, -validation[name]["balanced_accuracy"])

    return min(candidates, key=key)

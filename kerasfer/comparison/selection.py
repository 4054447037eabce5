"""The rule `kerasfer compare` recommends a method by, on validation figures only.

The validation split is carved from the training data, so it carries the training data's bias, in
two ways:

* **the stereotype** (dark-skinned faces mostly angry): plain validation accuracy rewards the model
  that leans on it. The rule therefore reads the *cell-balanced* validation accuracy, the mean
  accuracy over (group × emotion) cells, which estimates the accuracy on faces whose emotion does not
  depend on their group;
* **biased annotators** (30 % of a group's faces labelled angry whatever they show): every figure
  against those labels rewards the model that learned the annotators' habit, and penalises the one
  that did not. `compare` therefore corrects each method's validation confusion matrices with the
  label-noise matrices T_g that a label-noise model learned on the same fitting faces
  (`kerasfer.fairness.noise_corrected`), or reads a trusted, clean-labelled validation set when the
  user has one.

Among the methods whose (corrected) cell-balanced validation accuracy is within `ACCURACY_TOLERANCE`
of the baseline's, the rule picks the one with the smallest (corrected) validation gap `RANK_BY`.
The figures the rule read are reported beside the uncorrected ones; `indistinguishable` says which
candidates the validation split cannot tell from the recommended one. Rates of cells with fewer than
10 faces are left out of the gaps (`kerasfer.comparison.records.VALIDATION_MIN_CELL`).
"""

from __future__ import annotations

import math

#: how far (accuracy, 0–1) below the baseline's cell-balanced validation accuracy a recommended method may
#: be. Measured (`benchmarks/mitigation.py`, 4 regimes × 3 seeds, the corrected figures): at 1 point the
#: rule met the targets on the seeds' means in 4 of 4 regimes but on 5 of 12 single seeds (mean regret
#: +0.087 EOD); at 2 points 4 of 4 and 6 of 12 (+0.052); at 3 points the same as 2.
ACCURACY_TOLERANCE = 0.02
BASELINE = "baseline"
#: the validation gap the rule ranks the candidates by
RANK_BY = "false_positive_rate_difference"
GAP_NAMES = {"false_positive_rate_difference": "false-positive-rate gap",
             "equalized_odds_difference": "equalized-odds difference"}
#: what the validation figures are: `compare` says which ones the rule read
FIGURE_SOURCES = {
    "corrected": "the validation labels corrected for the annotators' errors with the label-noise matrices T_g "
                 "a label-noise model learned on the same fitting faces",
    "annotated": "the validation labels as annotated",
    "trusted": "a trusted validation set given by the user, its labels as they are",
}
RULE = ("the smallest mean validation {gap} of {attribute} (max over emotions, cells of 10+ faces) among the methods "
        "whose mean cell-balanced validation accuracy (the mean accuracy over {attribute} group × emotion cells of 10+ "
        "faces) is at most {points:g} point(s) below the baseline's (the baseline is one of them, so with no such method it is "
        "recommended); a tie goes to the more accurate. Figures: {source}")


def selection_rule(attribute: str, tolerance: float = ACCURACY_TOLERANCE, source: str = "annotated",
                   rank_by: str = RANK_BY) -> str:
    """The rule as a sentence, for compare.json and the page.

    Args:
        attribute: the attribute the gaps are over.
        tolerance: `ACCURACY_TOLERANCE`.
        source: a key of `FIGURE_SOURCES`: what the validation figures were computed against.
        rank_by: a key of `GAP_NAMES`.

    Returns:
        One sentence.
    """
    return RULE.format(gap=GAP_NAMES[rank_by], attribute=attribute, points=round(100 * tolerance, 3),
                       source=FIGURE_SOURCES[source])


def candidates(validation: dict, tolerance: float = ACCURACY_TOLERANCE) -> list[str]:
    """The methods whose cell-balanced validation accuracy is at most `tolerance` below the baseline's.

    Args:
        validation: ``{method: {"balanced_accuracy": ..., ...}}``; must hold ``"baseline"``.
        tolerance: `ACCURACY_TOLERANCE`.

    Returns:
        Their names, in the order of `validation` (the baseline always among them).

    Raises:
        ValueError: no baseline among the methods.
    """
    if BASELINE not in validation:
        raise ValueError(f"the rule compares against the baseline; the methods are {sorted(validation)}.")
    floor = _known(validation[BASELINE]["balanced_accuracy"], -math.inf) - tolerance
    return [name for name, row in validation.items()
            if name == BASELINE or _known(row["balanced_accuracy"], -math.inf) >= floor - 1e-12]


def recommend(validation: dict, tolerance: float = ACCURACY_TOLERANCE, rank_by: str = RANK_BY) -> str:
    """The method the rule picks.

    Args:
        validation: ``{method: {"balanced_accuracy": mean, RANK_BY: mean}}`` on the validation split;
            must hold ``"baseline"``.
        tolerance: `ACCURACY_TOLERANCE`.
        rank_by: the gap to rank by (a key of `GAP_NAMES`).

    Returns:
        The recommended method's name.

    Raises:
        ValueError: no baseline among the methods.
    """
    def key(name):
        return (_known(validation[name][rank_by], math.inf), -_known(validation[name]["balanced_accuracy"], -math.inf))

    return min(candidates(validation, tolerance), key=key)


def indistinguishable(validation: dict, recommended: str, tolerance: float = ACCURACY_TOLERANCE,
                      rank_by: str = RANK_BY) -> list[str]:
    """The other candidates whose validation interval of `rank_by` overlaps the recommended method's.

    Args:
        validation: as for `recommend`, each row with ``"intervals": {rank_by: [low, high]}``.
        recommended: `recommend`'s choice.
        tolerance: `ACCURACY_TOLERANCE`.
        rank_by: the gap the rule ranked by.

    Returns:
        Their names: the validation split cannot tell them from `recommended` (empty: it can tell all).
        A method without an interval counts as indistinguishable.
    """
    def bounds(name):
        low, high = (validation[name].get("intervals") or {}).get(rank_by) or (None, None)
        return (-math.inf if low is None else low), (math.inf if high is None else high)

    low, high = bounds(recommended)
    return [name for name in candidates(validation, tolerance)
            if name != recommended and bounds(name)[0] <= high and bounds(name)[1] >= low]


def _known(value, default: float) -> float:
    return default if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)

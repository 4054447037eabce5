"""Studies: end-to-end analyses built from kerasfer's models, audit and heatmaps."""

from kerasfer.study.au_bias import au_audit, au_bias
from kerasfer.study.result import StudyResult

__all__ = ["StudyResult", "au_audit", "au_bias"]

"""Per-group accuracy summaries: what metrics.json files carry."""

import numpy as np

from kerasfer import FaceData
from kerasfer.fairness import accuracy_summary


def test_accuracy_summary_scores_only_labelled_samples():
    """Unknown labels (-1) are counted, never scored as wrong."""
    data = FaceData(images=np.zeros((4, 16, 16, 1), np.uint8), labels=[0, 1, -1, 2],
                    attributes={"skin": [0, 0, 1, 1]})
    summary = accuracy_summary(data.labels, np.array([0, 0, 5, 2]), data)
    assert summary["accuracy"] == 2 / 3 and summary["n_unknown_label"] == 1
    assert summary["per_group"]["skin"]["light"] == {"accuracy": 0.5, "count": 2}
    assert summary["per_group"]["skin"]["medium"] == {"accuracy": 1.0, "count": 1}

"""Face identities across video frames: greedy IoU matching of each frame's boxes to the last ones."""

from __future__ import annotations

import numpy as np

#: a box continues a track when it overlaps the track's last box by at least this IoU
TRACK_IOU = 0.3


class IoUTracker:
    """Give every face box an id that stays the same while the face moves little between frames.

    Each frame's boxes are matched, best overlap first, to the boxes of the previous frame; a matched
    box takes that track's id, an unmatched box starts a new track, and a track without a match ends.

    Args:
        iou: the smallest overlap that continues a track.

    Example:
        >>> tracker = IoUTracker()
        >>> tracker.update([[0, 0, 10, 10]]), tracker.update([[1, 0, 10, 10], [50, 50, 10, 10]])
        (array([0]), array([0, 1]))
    """

    def __init__(self, iou: float = TRACK_IOU):
        if not 0 < iou < 1:
            raise ValueError(f"`iou` must be in (0, 1); got {iou!r}.")
        self.iou = float(iou)
        self._boxes, self._ids, self._next = np.zeros((0, 4)), np.zeros(0, np.int64), 0

    def update(self, boxes) -> np.ndarray:
        """The track id of every box of this frame, (x, y, w, h) each.

        Returns:
            (K,) int64 ids, in the order of `boxes`.
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        overlap = pairwise_iou(boxes, self._boxes)
        ids = np.full(len(boxes), -1, np.int64)
        for flat in np.argsort(-overlap, axis=None, kind="stable"):
            i, j = np.unravel_index(flat, overlap.shape)
            if overlap[i, j] < self.iou:
                break
            if ids[i] < 0 and self._ids[j] not in ids:
                ids[i] = self._ids[j]
        for i in np.flatnonzero(ids < 0):
            ids[i], self._next = self._next, self._next + 1
        self._boxes, self._ids = boxes, ids
        return ids


def pairwise_iou(a, b) -> np.ndarray:
    """(len(a), len(b)) IoU of (x, y, w, h) boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    y1 = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return inter / np.maximum(union, 1e-12)

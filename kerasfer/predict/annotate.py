"""Drawing predictions on an image: a box and an "emotion probability" label per face."""

from __future__ import annotations

import numpy as np

# One colour (RGB) per emotion in `kerasfer.EMOTIONS` order; other labels cycle through them.
_COLOURS = ((220, 40, 40), (120, 160, 40), (150, 60, 200), (250, 200, 0), (40, 100, 220), (0, 200, 200),
            (200, 200, 200))


def annotate(image, faces) -> np.ndarray:
    """A copy of `image` with each face's box and label drawn on it.

    Args:
        image: uint8 RGB (H, W, 3) or grey image.
        faces: rows with ``x, y, w, h, emotion, probability`` (a `predict_images` DataFrame, or
            dicts with those keys).

    Returns:
        uint8 RGB (H, W, 3) image.
    """
    import cv2

    from kerasfer.constants import EMOTIONS

    image = np.asarray(image)
    if image.ndim == 2 or image.shape[2] == 1:
        image = cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    canvas = np.ascontiguousarray(image.copy())
    rows = faces.to_dict("records") if hasattr(faces, "to_dict") else list(faces)
    thickness = max(1, round(max(canvas.shape[:2]) / 400))
    for row in rows:
        x, y, w, h = (int(row[k]) for k in ("x", "y", "w", "h"))
        name = str(row["emotion"])
        colour = _COLOURS[EMOTIONS.index(name) if name in EMOTIONS else hash(name) % len(_COLOURS)]
        cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, thickness)
        text = f"{name} {float(row['probability']):.2f}"
        scale = max(0.4, w / 250)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        top = y - th - base - 2 if y - th - base - 2 >= 0 else y + h  # above the box, or below at the top edge
        cv2.rectangle(canvas, (x, top), (x + tw + 4, top + th + base + 2), colour, cv2.FILLED)
        cv2.putText(canvas, text, (x + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness,
                    cv2.LINE_AA)
    return canvas

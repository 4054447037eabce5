"""What every kerasfer encoder shares, whichever builder makes it (`encoder`, `backbones`, `fer_xception_backbone`).

The input shapes an encoder accepts, the name of the layer Grad-CAM reads, and the BatchNorm momentum
the builders train with. It sits below the builders so that each of them reads it without importing
the others.
"""

from __future__ import annotations

FEATURE_MAP_LAYER = "feature_map"  # the last convolutional activation: what Grad-CAM looks at
# Keras' default 0.99 leaves the inference statistics far behind after a few hundred steps, and
# short runs (notebooks, tests, fine-tuning) then predict one class; 0.9 tracks them in ~30 steps.
BN_MOMENTUM = 0.9


def check_input_shape(input_shape) -> None:
    """Raise ValueError unless `input_shape` is (H, W, C) with H, W multiples of 16 (>= 16) and C in (1, 3).

    Args:
        input_shape: the (H, W, C) an encoder is asked to take.

    Raises:
        ValueError: it is not such a shape.
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[2] not in (1, 3) or shape[0] % 16 or shape[1] % 16 or min(shape[:2]) < 16:
        raise ValueError(
            f"`input_shape` must be (H, W, C) with H, W multiples of 16 and C in (1, 3); got {input_shape!r}."
        )

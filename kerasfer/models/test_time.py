"""Test-time augmentation of the classifiers: the views of a face whose probabilities are averaged.

The views are stacked along the batch, go through the model once and are averaged by `view_mean`.
One definition for the model's own inference (`EmotionClassifier.call`), its served graph
(`classifier_model`, what every export converts) and the int8 rewrite of it
(`kerasfer.export.int8_rewrite`). The views are the face itself, with ``shift`` the face moved by that
many pixels up, down, left and right (the edge rows or columns repeated), and with ``mirror`` the
mirror image of each. Chosen on FER+ Valid for the model fine-tuned from `fer` (docs/real-faces.md):
mirroring added 0.5 to 1.2 points, 2-pixel shifts another 0.3 to 0.6 over three runs.
"""

from __future__ import annotations

import keras
from keras import ops

#: The directions a ``shift`` moves the face in: (rows, columns) per view.
SHIFT_DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def check_views(image_shape, mirror, shift) -> tuple[bool, int]:
    """``(mirror, shift)`` checked against the images' (H, W, C).

    Raises:
        ValueError: a negative shift, or one of half the image side or more.
    """
    shift = int(shift)
    if not 0 <= shift < min(image_shape[:2]) / 2:
        raise ValueError(f"`test_time_shift` must be 0 (none) or a number of pixels below half the image side "
                         f"{min(image_shape[:2])}; got {shift!r}.")
    return bool(mirror), shift


def count_views(mirror: bool, shift: int) -> int:
    """How many views `test_time_views` makes (the inference cost relative to one)."""
    return (1 + len(SHIFT_DIRECTIONS) * bool(shift)) * (1 + bool(mirror))


def shifted(images, rows: int, columns: int):
    """`images` moved by (-rows, -columns) pixels: pixel (i, j) is the source's (i + rows, j + columns),
    clipped to the image, so the edge rows and columns are repeated (slices and concatenations only:
    every converter and runtime has them).

    Args:
        images: (N, H, W, C) tensor (eager, graph or a Keras tensor of a Functional graph).
        rows, columns: the shift along H and W (either sign; smaller than the side).

    Returns:
        The moved images, of the same shape.
    """
    for axis, step in ((1, rows), (2, columns)):
        if step == 0:
            continue

        def part(start, stop):
            index = [slice(None)] * 4
            index[axis] = slice(start, stop)
            return images[tuple(index)]

        if step > 0:
            images = ops.concatenate([part(step, None)] + [part(-1, None)] * step, axis=axis)
        else:
            images = ops.concatenate([part(0, 1)] * -step + [part(0, step)], axis=axis)
    return images


def test_time_views(images, *, mirror: bool, shift: int) -> list:
    """The views of `images` whose probabilities test-time augmentation averages.

    Args:
        images: (N, H, W, C) tensor.
        mirror: add the mirror image of every view.
        shift: 0, or pixels to move the face by in each of `SHIFT_DIRECTIONS`.

    Returns:
        The views: `images` first, `count_views` in all.
    """
    views = [images]
    if shift:
        views += [shifted(images, rows * shift, columns * shift) for rows, columns in SHIFT_DIRECTIONS]
    if mirror:
        views += [ops.flip(view, axis=2) for view in views]
    return views


def view_mean(probabilities, views: int):
    """The mean over `views` stacked blocks of a batch, the views' order of `test_time_views`.

    Args:
        probabilities: (views·N, K) tensor, block v holding view v of the N faces.
        views: the number of blocks.

    Returns:
        The (N, K) mean.
    """
    return ops.mean(ops.reshape(probabilities, (views, -1, ops.shape(probabilities)[-1])), axis=0)


@keras.saving.register_keras_serializable(package="kerasfer")
class ViewAverage(keras.layers.Layer):
    """The mean over `views` stacked blocks of a batch: (views·N, K) → (N, K).

    Args:
        views: how many views were stacked (each block of N rows one view, in order).
    """

    def __init__(self, views: int, **kwargs):
        super().__init__(**kwargs)
        self.views = int(views)

    def call(self, probabilities):
        return view_mean(probabilities, self.views)

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "views": self.views}


def views_averaged(probabilities, images, *, mirror: bool, shift: int):
    """The mean of ``probabilities`` over the `test_time_views` of `images`, in a Functional graph.

    The views are stacked along the batch and go through `probabilities` once, so an exported graph
    holds one copy of the model whatever the number of views (10 branches took an int8 `fer` start from
    97 to 317 KiB; stacked, it stays one model's size).

    Args:
        probabilities: callable images → (N, K) probabilities (Functional layers).
        images: the (N, H, W, C) image input (a Keras tensor).
        mirror, shift: as `test_time_views`.

    Returns:
        The averaged probabilities, from a `ViewAverage` layer named ``"test_time_average"``;
        ``probabilities(images)`` itself when there is one view.
    """
    views = test_time_views(images, mirror=mirror, shift=shift)
    if len(views) == 1:
        return probabilities(images)
    return ViewAverage(len(views), name="test_time_average")(probabilities(ops.concatenate(views, axis=0)))

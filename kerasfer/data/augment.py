"""Training-time augmentation: a stack of Keras 3 preprocessing layers for raw-pixel face batches."""

from __future__ import annotations


def default_augmentation(*, flip: bool = True, rotation: float = 0.04, zoom: float = 0.1, shift: float = 0.0,
                         brightness: float = 0.15, contrast: float = 0.2, seed: int | None = None):
    """Flip, rotation, zoom, shift, brightness and contrast jitter for faces (pixels 0..255).

    Flip, rotation, zoom and shift are one `RandomFaceAffine` warp (Keras' `RandomFlip`,
    `RandomRotation` and `RandomZoom` composed into one matrix), followed by Keras'
    `RandomBrightness` and `RandomContrast`.

    The defaults keep a face a face: horizontal flips only (expressions are roughly symmetric;
    vertical flips are not plausible), ±0.04 of a turn (±14°), ±10 % zoom. Pass it to
    ``FaceData.dataset(..., augment=default_augmentation())``: it runs on whole batches inside
    tf.data, in parallel with training.

    Args:
        flip: random horizontal flips.
        rotation: maximum rotation as a fraction of a full turn (0 = off).
        zoom: maximum zoom in/out as a fraction of the image side (0 = off).
        shift: maximum shift along each axis as a fraction of the image side (0 = off): a face
            detector's crop is never centred exactly.
        brightness: maximum brightness shift as a fraction of the 0..255 range (0 = off).
        contrast: maximum contrast change factor (0 = off).
        seed: seed of the random layers (None: unseeded).

    Returns:
        A `keras.Sequential` of preprocessing layers; call it with ``training=True``.

    Example:
        >>> augment = default_augmentation(seed=0)
        >>> batches = data.dataset(64, augment=augment)   # doctest: +SKIP
    """
    import keras  # lazy: importing kerasfer.data stays light

    for name, value in (("rotation", rotation), ("zoom", zoom), ("shift", shift), ("brightness", brightness),
                        ("contrast", contrast)):
        if not 0 <= value < 1:
            raise ValueError(f"`{name}` must be in [0, 1); got {value!r}.")
    from kerasfer.data.random_affine import RandomFaceAffine

    layers = []
    if flip or rotation or zoom or shift:  # one warp for all: ~2x faster than three Keras layers
        layers.append(RandomFaceAffine(flip=flip, rotation=rotation, zoom=zoom, shift=shift, fill_mode="reflect",
                                       seed=seed))
    if brightness:
        layers.append(keras.layers.RandomBrightness(brightness, value_range=(0, 255), seed=seed))
    if contrast:
        layers.append(keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed))
    return keras.Sequential(layers, name="face_augmentation")

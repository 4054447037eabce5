"""`train_model`'s first step: check its arguments and resolve every default into one `Plan`.

What differs between methods comes from their declaration (`kerasfer.training.methods`): the
constructor arguments taken from the data, whether the method needs a protected attribute, and
when its loss is reweighted. Everything later in a run reads the plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from kerasfer.training.methods.registry import Method

#: `train_model`'s epochs when neither the call nor the preset gives them.
DEFAULT_EPOCHS = 10


@dataclass
class Plan:
    """What one `train_model` call trains, with every default resolved (see `train_model` for each).

    Attributes:
        method: the `kerasfer.training.methods.Method` trained.
        model_kwargs: the model's constructor arguments (the caller's, the warm start's architecture,
            the resolved ``size`` and what the method takes from the data).
        size: the encoder preset (None: another backbone); `recipe` what it trains with besides the
            call's arguments (`kerasfer.training.recipe.run_training`: the preset's and the start's).
        attribute: the protected attribute(s) the method works on (None: the data has none).
        reweight_attribute: the attribute(s) whose (group × label) cells the loss balances, or None;
            `sample_weight` the (N,) weights (None: unweighted).
        source: the model `init` starts from (``"auto"`` resolved by `kerasfer.training.recipe.resolve_init`),
            or None.
        strategy: the `tf.distribute.Strategy`; `chief` whether this worker writes and shows
            progress; `with_fit` whether `model.fit` trains (else the custom loop).
        mix: None, or ``(sources, shares)`` of a two-source run (`kerasfer.data.union`): each epoch's
            draws take share k from source k.
        steps_per_epoch: batches per epoch; `drop_remainder` whether each epoch's last incomplete
            batch is dropped (the custom loop's replicas must never get an empty one).
        called: when `train_model` was called (Unix time), for the cost of (re)starting.
    """

    method: Method
    train_data: object
    test_data: object
    out: Path | None
    epochs: int
    batch_size: int
    learning_rate: float | None
    seed: int
    attribute: object
    reweight_attribute: object
    sample_weight: object
    size: str | None
    recipe: dict
    model_kwargs: dict
    source: object
    strategy: object
    chief: bool
    with_fit: bool
    steps_per_epoch: int
    drop_remainder: bool
    verbose: object
    deterministic: bool
    backup_freq: object
    callbacks: tuple
    validation_data: object
    flip: bool
    augment: object
    mix: object
    called: float

    @property
    def name(self) -> str:
        return self.method.name


def resolve(name: str, train_data, test_data=None, *, out=None, epochs=None, batch_size=64, learning_rate=None,
            seed=0, attribute=None, reweight_attribute="auto", verbose=1, strategy=None, deterministic=False,
            backup_freq="epoch", callbacks=(), validation_data=None, flip=True, augment="auto", init="auto",
            groups_data=None, groups_share=None, **model_kwargs) -> Plan:
    """Check `train_model`'s arguments and resolve its defaults (its arguments, same meaning).

    Loads the warm-start source and creates the distribution strategy; builds no model.

    Returns:
        The run's `Plan`.

    Raises:
        ValueError: bad arguments, or training data the method cannot learn from.
    """
    called = time.time()
    from kerasfer.data import balanced_weights
    from kerasfer.training.distribute import is_chief, make_strategy, uses_fit
    from kerasfer.training.epochs import steps_per_epoch
    from kerasfer.training.methods import get_method
    from kerasfer.training.recipe import (default_epochs, resolve_init, resolve_size, run_training,
                                          with_test_time_views)
    from kerasfer.training.warm_start import architecture_kwargs, load_source

    method = get_method(name)
    if epochs is not None and (not isinstance(epochs, int) or epochs <= 0):
        raise ValueError(f"`epochs` must be a positive integer; got {epochs!r}.")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive integer; got {batch_size!r}.")
    if learning_rate is not None and not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be positive (or None for the encoder preset's); got {learning_rate!r}.")
    train_data, mix = _two_sources(method, train_data, groups_data, groups_share, reweight_attribute, model_kwargs)
    if groups_data is not None:  # (group × label) cells and T_g need faces that carry both
        reweight_attribute = None
        model_kwargs = {**model_kwargs, "label_noise": None}
    _check_trainable(name, train_data, model_kwargs)
    init = resolve_init(name, train_data, init, model_kwargs)
    source = None if init is None else load_source(init)
    if source is not None:
        model_kwargs = architecture_kwargs(source, model_kwargs)
    size = resolve_size(name, len(train_data), model_kwargs)
    if size is not None:
        model_kwargs["size"] = size
    recipe = run_training(size, init)
    model_kwargs = with_test_time_views(name, recipe, model_kwargs)
    epochs = default_epochs(size, DEFAULT_EPOCHS, init) if epochs is None else epochs
    learning_rate = recipe.get("learning_rate") if learning_rate is None else learning_rate
    attribute = _method_attribute(method, train_data, attribute)
    reweight_attribute = _reweight_attribute(method, train_data, reweight_attribute, attribute)
    strategy = make_strategy(strategy)  # first: multi-worker collectives start with it
    with_fit = uses_fit(strategy)
    model_kwargs = {**method.model_kwargs(train_data, attribute, model_kwargs), **model_kwargs}
    drop_remainder = not with_fit
    per_epoch = steps_per_epoch(len(train_data), batch_size, drop_remainder)
    if per_epoch == 0:
        raise ValueError(f"`batch_size` {batch_size} is larger than the {len(train_data)} training samples.")
    return Plan(method=method, train_data=train_data, test_data=test_data, out=None if out is None else Path(out),
                epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed, attribute=attribute,
                reweight_attribute=reweight_attribute,
                sample_weight=None if reweight_attribute is None else balanced_weights(train_data, reweight_attribute),
                size=size, recipe=recipe, model_kwargs=model_kwargs, source=source,
                strategy=strategy, chief=is_chief(strategy), with_fit=with_fit, steps_per_epoch=per_epoch,
                drop_remainder=drop_remainder, verbose=verbose, deterministic=deterministic,
                backup_freq=backup_freq, callbacks=tuple(callbacks), validation_data=validation_data, flip=flip,
                augment=augment, mix=mix, called=called)


def _two_sources(method, train_data, groups_data, groups_share, reweight_attribute, model_kwargs):
    """The training data and the epoch stream's ``mix`` of a run with a second, grouped source.

    Returns:
        ``(train_data, mix)``: `train_data` and None without `groups_data`; else the union of
        `kerasfer.data.union.join_sources` and ``(sources, shares)`` (None without `groups_share`).

    Raises:
        ValueError: `groups_share` without `groups_data`, a method that needs joint labels, or
            reweighting or label noise asked for (both need faces that carry a label and a group).
    """
    from kerasfer.data.union import join_sources, source_shares

    if groups_data is None:
        if groups_share is not None:
            raise ValueError("`groups_share` sets the share of the groups source (`groups_data`) in the batches; "
                             "there is none.")
        return train_data, None
    if method.joint_labels:
        raise ValueError(f"{method.name} needs faces that carry both an emotion label and a protected group (its "
                         "sampling, loss weights or heads are per group × emotion cell); with a separate groups "
                         "source no face has both. Train baseline, erasure or fairvae with groups data.")
    if reweight_attribute not in ("auto", None):
        raise ValueError("reweighting balances (group × emotion) cells, which needs faces that carry both; with a "
                         "separate groups source no face has both (use reweight_attribute=None or 'auto').")
    if model_kwargs.get("label_noise") not in (None, "auto"):
        raise ValueError("label noise learns T_g from faces that carry both an emotion label and a group; with a "
                         "separate groups source no face has both (leave label_noise unset).")
    data, sources = join_sources(train_data, groups_data)
    shares = source_shares(groups_share)
    return data, None if shares is None else (sources, shares)


def _check_trainable(name, train_data, model_kwargs) -> None:
    """Refuse training data a model cannot learn from, before any TensorFlow work."""
    from kerasfer.models.groups import attribute_names

    if model_kwargs.get("head", "emotion") == "au":
        if train_data.aus is None or not (train_data.aus >= 0).any():
            raise ValueError(f"{name} with head='au' needs Action Unit labels; the training data has none.")
    elif not (train_data.labels >= 0).any() and (train_data.soft_labels is None or not train_data.soft_labels.any()):
        raise ValueError(f"the training data has no known emotion labels (all -1), so {name} has nothing to learn; "
                         "AU data (DISFA, BP4D) trains kerasfer.models.AUClassifier or `kerasfer study au`, "
                         "attribute-only data (FairFace) kerasfer.data.as_attribute_task")
    noise = model_kwargs.get("label_noise")
    noisy = [a for a in attribute_names(None if noise == "auto" else noise, "label_noise") if a not in train_data.group_names]
    if noisy:
        raise ValueError(f"label_noise of {noisy} needs those attributes in the training data; it has "
                         f"{sorted(train_data.group_names)}")
    erased = model_kwargs.get("erasure") or ()
    missing = [a for a in ((erased,) if isinstance(erased, str) else erased) if a not in train_data.group_names]
    if missing:
        raise ValueError(f"erasure of {missing} needs those attributes in the training data; it has "
                         f"{sorted(train_data.group_names)}")
    if model_kwargs.get("training") == "two_stage":
        raise ValueError("train_model trains FairVAE jointly (measured better; see docs/fairvae.md); for the paper's "
                         "two-stage schedule call FairVAE(training='two_stage').fit_two_stage(...) yourself")


def _method_attribute(method, train_data, attribute):
    """The attribute(s) `method` works on (see `train_model`'s ``attribute``), checked against the data.

    Returns:
        An attribute name or a list of them; None when the data has none (an error for the methods
        that need one).
    """
    from kerasfer.models.groups import attribute_names, default_attribute

    if attribute is None:
        if not train_data.attribute_names and method.needs_attribute:
            raise ValueError(f"{method.name} works on a protected attribute, but the training data has none.")
        return default_attribute(train_data.attribute_names)
    for each in attribute_names(attribute):
        train_data.check_attribute(each)
    return attribute if isinstance(attribute, str) else list(attribute)


def _reweight_attribute(method, train_data, reweight, attribute):
    """The attribute whose (group × label) cells `method` balances, or None (see `train_model`)."""
    from kerasfer.training.methods import ALWAYS, WHEN_ASKED

    if reweight is None and method.reweight == ALWAYS:
        reweight = "auto"
    if reweight is None or (reweight == "auto" and method.reweight == WHEN_ASKED):
        return None
    if reweight != "auto":
        return _method_attribute(method, train_data, reweight)
    if attribute is None:
        if method.reweight == ALWAYS:
            raise ValueError(f"{method.name} works on a protected attribute, but the training data has none.")
        return None  # a method reweighted by default, on data without attributes: nothing to balance
    return attribute

"""The registry of training methods: `Method`, what `train_model` needs to know of one, and `METHODS`.

A method is declared once, in its own module of this package (``METHOD = Method(...)``), and
registered by name; `train_model`, `build_model`, ``kerasfer train --model`` and `compare` read
`METHODS` and never branch on a name. Declaring one imports no TensorFlow: a model class can be
named as ``"module:Class"`` and is imported when the first model is built.

Example:
    >>> from kerasfer.training.methods import Method, register, unregister
    >>> toy = register(Method("toy", "the baseline on balanced batches", model="kerasfer.models:EmotionClassifier",
    ...                       needs_attribute=True, balanced_sampling=True))
    >>> "toy" in METHODS
    True
    >>> unregister("toy")
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: `Method.reweight`: weight the loss only when `train_model`'s ``reweight_attribute`` names an attribute
WHEN_ASKED = "when_asked"
#: ... and under ``reweight_attribute="auto"`` (the default) balance the method's ``attribute``
BY_DEFAULT = "by_default"
#: ... and with ``reweight_attribute=None`` too (the reweighted baseline): the method needs an attribute
ALWAYS = "always"
REWEIGHTING = (WHEN_ASKED, BY_DEFAULT, ALWAYS)


def group_counts(data) -> dict:
    """``{attribute: number of groups}`` of a `FaceData`: the ``groups`` a group-aware model is built for."""
    return {a: len(g) for a, g in data.group_names.items()}


def classifier_kwargs(train_data, attribute, kwargs) -> dict:
    """What an `EmotionClassifier` takes from the training data: label noise over the data's own groups.

    The default `Method.model_kwargs`.
    """
    if kwargs.get("label_noise") is None:
        return {}
    return {"label_noise_groups": group_counts(train_data)}


def group_kwargs(train_data, attribute, kwargs) -> dict:
    """`classifier_kwargs` plus the protected attribute(s) and the data's group counts (Group DRO's cells,
    the domain-independent blocks)."""
    return {"attribute": attribute, "groups": group_counts(train_data), **classifier_kwargs(train_data, attribute, kwargs)}


def erasure_refit(model, plan) -> list:
    """A model built with ``erasure=`` refits its eraser at every epoch (`kerasfer.training.callbacks.ErasureRefit`).

    The default `Method.callbacks`.
    """
    if not getattr(model, "erasure", ()):
        return []
    from kerasfer.training.callbacks import ErasureRefit

    return [ErasureRefit(plan.train_data, plan.steps_per_epoch, seed=plan.seed)]


@dataclass(frozen=True)
class Method:
    """Everything `train_model` needs to know about one training method.

    Hooks that take ``plan`` get the run's `kerasfer.training.plan.Plan` (its training data, seed,
    batch size, sample weights, steps per epoch, ...).

    Args:
        name: what `train_model(name)` and ``kerasfer train --model NAME`` call it.
        help: one line for ``kerasfer train --help`` (what changes against the baseline).
        model: the model class, a builder ``(input_shape=..., **kwargs) -> keras.Model``, or its
            ``"module:attribute"`` path (imported when the first model is built). Under
            ``size="auto"`` a small run trains the class's own default preset (its ``size`` default).
        model_kwargs: ``(train_data, attribute, kwargs) -> dict``: the constructor arguments the
            method takes from the training data; the caller's `kwargs` win over them. Default
            `classifier_kwargs` (label noise over the data's groups).
        needs_attribute: it cannot train without a protected attribute in the data.
        balanced_sampling: batches are drawn (group × emotion)-balanced
            (`kerasfer.models.mitigations.balanced`).
        joint_labels: whether it needs faces that carry both an emotion label and a protected group
            (per (group × emotion) sampling, weights or heads); such a method cannot train with a
            separate groups source (`train_model`'s ``groups_data``) and is refused there.
        reweight: when the loss is reweighted by (group × emotion) cells: `WHEN_ASKED`, `BY_DEFAULT`
            or `ALWAYS`.
        callbacks: ``(model, plan) -> list`` of Keras callbacks it trains with (before the trainer's).
            Default `erasure_refit` (a model built with ``erasure=`` refits its eraser every epoch).
        finish: optional after-training step ``(model, plan) -> dict``, run before the evaluation
            (it may change the model); the dict's entries join the metrics.
        metrics: optional ``(model, plan) -> dict`` of extra entries of the metrics.
    """

    name: str
    help: str
    model: Callable | str
    model_kwargs: Callable = classifier_kwargs
    needs_attribute: bool = False
    joint_labels: bool = False
    balanced_sampling: bool = False
    reweight: str = WHEN_ASKED
    callbacks: Callable = erasure_refit
    finish: Callable | None = None
    metrics: Callable | None = None

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"a method's `name` must be an identifier (a CLI choice); got {self.name!r}.")
        if self.reweight not in REWEIGHTING:
            raise ValueError(f"`reweight` must be one of {REWEIGHTING}; got {self.reweight!r}.")

    def builder(self) -> Callable:
        """The model class (or builder), imported on first use when `model` names it."""
        if not isinstance(self.model, str):
            return self.model
        module, _, attribute = self.model.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def build(self, input_shape, **kwargs):
        """The uncompiled model for images of `input_shape`."""
        return self.builder()(input_shape=input_shape, **kwargs)

    def default_size(self) -> str:
        """The encoder preset the model builds when it is given no ``size`` (its constructor's default)."""
        from kerasfer.models.encoder import DEFAULT_SIZE

        builder = self.builder()
        for each in getattr(builder, "__mro__", (builder,)):
            size = inspect.signature(each.__init__ if isinstance(each, type) else each).parameters.get("size")
            if size is not None and size.default is not inspect.Parameter.empty:
                return size.default
        return DEFAULT_SIZE


#: name → `Method`, in registration order (the order of ``kerasfer train --help`` and of `compare`)
METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add `method` to `METHODS` (`train_model`, the CLI and `compare` take it from then on).

    Raises:
        ValueError: a method of that name is registered already.
    """
    if method.name in METHODS:
        raise ValueError(f"a method named {method.name!r} is registered already; unregister it first.")
    METHODS[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove method `name` from `METHODS` (nothing when it is not there)."""
    METHODS.pop(name, None)


def get_method(name: str) -> Method:
    """The registered method `name`.

    Raises:
        ValueError: naming the unknown method and the registered ones.
    """
    if name not in METHODS:
        raise ValueError(f"unknown model {name!r}; use one of {tuple(METHODS)}.")
    return METHODS[name]


class MethodNames(Sequence):
    """The names of the registered methods (those `where` accepts), read from `METHODS` at each use.

    A live tuple: a method registered later is in it, so ``kerasfer.training.MODELS`` stays right.
    """

    def __init__(self, where: Callable[[Method], bool] | None = None):
        self._where = where

    def _names(self) -> tuple[str, ...]:
        return tuple(name for name, method in METHODS.items() if self._where is None or self._where(method))

    def __getitem__(self, index):
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __eq__(self, other):
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self._names() == tuple(other)
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return repr(self._names())

"""Building a method's model: `build_model` by name, and `train_model`'s build step (seed, warm start, compile)."""

from __future__ import annotations


def build_model(name: str, input_shape, *, protected=None, **kwargs):
    """Build a kerasfer model by name.

    Args:
        name: one of `kerasfer.training.MODELS` (the registered methods, `kerasfer.training.methods`):
            ``"baseline"``, ``"reweighted"``, ``"balanced"`` and ``"erasure"`` build an
            `EmotionClassifier` (what differs happens in `train_model`), ``"group_dro"`` a
            `GroupDROClassifier`, ``"domain_independent"`` a `DomainIndependentClassifier`,
            ``"fairvae"`` a `FairVAE`.
        input_shape: (H, W, C) of the images.
        protected: FairVAE's protected attributes (name → groups).
        **kwargs: passed to the model's constructor.

    Returns:
        The (uncompiled) model.
    """
    from kerasfer.training.methods import get_method

    method = get_method(name)
    if protected is not None:  # FairVAE's; `train_model` passes it with the other constructor arguments
        kwargs["protected"] = protected
    return method.build(input_shape, **kwargs)


def build(plan):
    """Seed the run, build the plan's model under its strategy, warm-start it and compile it.

    The optimizer is AdamW when the model (Group DRO's strong regularisation) or the preset sets a
    weight decay, else Adam, on the cosine schedule of `kerasfer.training.recipe.learning_rate_schedule`;
    it is built here so a backup can be restored into it.

    Args:
        plan: the run's `kerasfer.training.plan.Plan`.

    Returns:
        ``(model, warm_start)``: the compiled model and what `init` copied (None without `init`).
    """
    import keras
    import tensorflow as tf

    from kerasfer.models.encoder import LEARNING_RATES
    from kerasfer.training.recipe import learning_rate_schedule
    from kerasfer.training.warm_start import copy_weights

    keras.utils.set_random_seed(plan.seed)
    if plan.deterministic:
        tf.config.experimental.enable_op_determinism()
    with plan.strategy.scope():
        model = build_model(plan.name, plan.train_data.image_shape, **plan.model_kwargs)
        warm_start = None if plan.source is None else copy_weights(model, plan.source)
        learning_rate = plan.learning_rate
        if learning_rate is None:
            learning_rate = LEARNING_RATES[getattr(model, "size", "phone")]
        schedule = learning_rate_schedule(learning_rate, epochs=plan.epochs, steps_per_epoch=plan.steps_per_epoch,
                                          warmup_epochs=plan.recipe.get("warmup_epochs", 0))
        weight_decay = getattr(model, "weight_decay", None) or plan.recipe.get("weight_decay")
        model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=weight_decay) if weight_decay
                      else keras.optimizers.Adam(schedule))
        model.optimizer.build(model.trainable_variables)
    return model, warm_start

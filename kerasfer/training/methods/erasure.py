"""``erasure``: the baseline, then LEACE on its latent and a refit of its head (`kerasfer.models.mitigations.erasure`).

The model is built with an eraser of the method's attribute (so the saved graph has it), but the
eraser is fitted once, after training (`erase_and_refit`), not every epoch as ``erasure=`` on
another method is (`kerasfer.training.callbacks.ErasureRefit`).
"""

from kerasfer.training.methods.registry import Method, classifier_kwargs


def erased_attribute(train_data, attribute, kwargs) -> dict:
    """The classifier's arguments with an eraser of `attribute`."""
    return {**classifier_kwargs(train_data, attribute, kwargs), "erasure": attribute}


def no_callbacks(model, plan) -> list:
    """None: the eraser is fitted after training (`erase_and_refit`)."""
    return []


def erase_and_refit(model, plan) -> dict:
    """Fit the eraser on the trained latents and refit the head: ``{"erasure": report}``."""
    from kerasfer.models.mitigations.erasure import REFIT_EPOCHS, erase_and_refit as refit

    return {"erasure": refit(model, plan.train_data, epochs=REFIT_EPOCHS, batch_size=plan.batch_size,
                             sample_weight=plan.sample_weight, seed=plan.seed)}


METHOD = Method("erasure", "LEACE on the latent after training, head refitted",
                model="kerasfer.models.classifier:EmotionClassifier", model_kwargs=erased_attribute,
                needs_attribute=True, callbacks=no_callbacks, finish=erase_and_refit)

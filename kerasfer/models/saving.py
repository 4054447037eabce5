"""Loading `.keras` files safely: never run code from a model file someone sent."""

from __future__ import annotations

import zipfile
from pathlib import Path


def load_model(path, *, compile: bool = True):
    """Load a `.keras` model with Keras' ``safe_mode=True``; refuse files that carry code.

    kerasfer models are registered serializable, so they load without `custom_objects`. A file
    whose config holds a ``Lambda`` layer (arbitrary Python bytecode) or any other executable
    code is refused instead of being run.

    Args:
        path: a `.keras` file.
        compile: restore the training configuration too.

    Returns:
        The `keras.Model`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: `path` is not a `.keras` archive, or it carries executable code.
    """
    import keras

    import kerasfer.models  # noqa: F401  registers the kerasfer classes

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .keras model file (a Keras 3 zip archive); "
                         "convert older .h5 files with Keras first")
    with zipfile.ZipFile(path) as archive:
        if "config.json" not in archive.namelist():
            raise ValueError(f"{path} is not a .keras model file: it has no config.json")
        config = archive.read("config.json").decode("utf-8", errors="replace")
    if '"class_name": "Lambda"' in config or '"class_name":"Lambda"' in config:
        raise ValueError(f"refusing to load {path}: it contains a Lambda layer, i.e. Python code that "
                         "would run on load; rebuild the model without Lambda layers")
    try:
        return keras.models.load_model(path, compile=compile, safe_mode=True)
    except ValueError as err:
        if "safe_mode" in str(err) or "lambda" in str(err).lower():
            raise ValueError(f"refusing to load {path}: it carries executable code "
                             f"(Keras safe_mode: {str(err).splitlines()[0]})") from None
        raise

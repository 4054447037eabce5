"""Loading `.keras` files safely: never run code from a model file someone sent."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

# Keras serializes a lambda (e.g. ``Dense(activation=lambda x: ...)``) as its marshalled bytecode in
# base64; a marshalled code object starts with the byte 0xE3, i.e. "4w" in base64.
_CODE_PREFIX = "4w"


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
    # No import registers the kerasfer classes here: this module is reached through
    # kerasfer/models/__init__.py, which has imported every model module (and so registered them) by then.
    import keras

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
    where = _serialized_code(json.loads(config))
    if where:
        raise ValueError(f"refusing to load {path}: {where} holds serialized Python code (a lambda), which would "
                         "run on load; rebuild the model with named, registered functions")
    try:
        return keras.models.load_model(path, compile=compile, safe_mode=True)
    except ValueError as err:
        if "safe_mode" in str(err) or "lambda" in str(err).lower():
            raise ValueError(f"refusing to load {path}: it carries executable code "
                             f"(Keras safe_mode: {str(err).splitlines()[0]})") from None
        raise


def _serialized_code(config, where="config") -> str | None:
    """Where in a `.keras` config a lambda's bytecode or a ``__lambda__`` object sits (None: nowhere)."""
    if isinstance(config, dict):
        if config.get("class_name") in ("Lambda", "__lambda__"):
            return where
        value = config.get("value")
        if isinstance(value, list) and value and isinstance(value[0], str) and value[0].startswith(_CODE_PREFIX):
            return where
        for key, item in config.items():
            found = _serialized_code(item, f"{where}.{key}")
            if found:
                return found
    elif isinstance(config, list):
        for i, item in enumerate(config):
            found = _serialized_code(item, f"{where}[{i}]")
            if found:
                return found
    return None

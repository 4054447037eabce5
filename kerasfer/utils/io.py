"""Writing result files atomically, so a crash never leaves a half-written file behind."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path, payload: bytes) -> Path:
    """Write `payload` to `path` through a temporary file in the same folder and a rename.

    Args:
        path: destination file; its folder is created if missing.
        payload: the bytes to write.

    Returns:
        The destination as a `Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes owner-only files; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path, obj) -> Path:
    """Write `obj` as strict JSON (NaN and ±Inf become ``null``), indented and atomically.

    Python's `json` writes a bare ``NaN``, which JSON parsers in other languages reject (a
    worst-group accuracy on data without attributes is NaN); `allow_nan=False` guards that none
    slips through.

    Args:
        path: destination file.
        obj: dicts, lists, numbers, strings, numpy scalars and arrays.

    Returns:
        The destination as a `Path`.
    """
    text = json.dumps(strict_json(obj), indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_bytes(path, (text + "\n").encode())


def strict_json(value):
    """`value` with numpy values made plain and every non-finite float replaced by None."""
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return strict_json(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise TypeError(f"Cannot write {type(value).__name__} to JSON.")



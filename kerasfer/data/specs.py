"""`--data` specs of the command line: a string naming a dataset → a `FaceData`.

``synthfaces`` (clean, balanced), ``synthfaces:demo`` (the demo's biased distribution) and
``synthfaces:skin-bias`` (the AU study's skin-tone bias) are built in, biased in the train split
only; readers of real datasets register their prefix in `READERS`.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from kerasfer.data.bias import NAMED_BIASES
from kerasfer.data.disfa import read_bp4d, read_disfa
from kerasfer.data.fairface import read_fairface
from kerasfer.data.fer2013 import read_fer2013
from kerasfer.data.ferplus import read_ferplus
from kerasfer.data.folder import read_folder
from kerasfer.data.manifest import read_affectnet, read_manifest
from kerasfer.data.rafdb import read_rafdb
from kerasfer.data.synthfaces import make_synthfaces
from kerasfer.data.utkface import read_utkface

# Split → seed offset, so train and test SynthFaces never share faces.
_SYNTH_SPLIT_SEED = {"train": 0, "val": 1000, "test": 2000}

# prefix → reader(path, split=..., image_size=..., [channels=...,] on_error=...) -> FaceData; each
# reader has its own default `channels` (grey for FER2013 / FER+, from the images for folders, else
# 3). The readers' own train/test partitions are used; a manifest without a split column gets a
# seeded stratified split.
READERS: dict = {
    "rafdb": read_rafdb,
    "fer2013": read_fer2013,
    "ferplus": read_ferplus,
    "folder": read_folder,
    "fairface": read_fairface,
    "manifest": read_manifest,
    "affectnet": read_affectnet,
    "disfa": read_disfa,
    "bp4d": read_bp4d,
    "utkface": read_utkface,
}


def load_data(spec: str, *, split: str = "train", n: int = 8000, seed: int = 0, image_size: int | None = 64,
              channels: int | None = None, labels: str | None = None, on_error: str = "raise"):
    """Load the dataset a `--data` string names.

    Args:
        spec: ``synthfaces``, ``synthfaces:demo``, ``synthfaces:skin-bias``, or ``PREFIX:PATH`` for a
            registered reader.
        split: ``train``, ``val`` or ``test``.
        n: number of faces for SynthFaces (ignored by readers of real data).
        seed: seed for SynthFaces.
        image_size: image side in pixels; None: the source's own (48 for FER2013 and FER+, 64 for
            SynthFaces, the reader's default for the others).
        channels: 1 (grey) or 3 (RGB); None: the source's own (grey for FER2013 and FER+, grey
            for a folder of grey images, RGB for SynthFaces and the other datasets).
        labels: for readers with label modes (FER+'s ``"majority"`` / ``"votes"``), the mode;
            None: the reader's default. Ignored by sources with one label per face.
        on_error: what a reader of real data does with a bad record: ``"raise"`` or ``"skip"``
            (see `kerasfer.data.errors`; SynthFaces has none).

    Returns:
        A `FaceData`.
    """
    if split not in _SYNTH_SPLIT_SEED:
        raise ValueError(f"`split` must be one of {sorted(_SYNTH_SPLIT_SEED)}; got {split!r}.")
    name, rest = check_data_spec(spec)
    if name == "synthfaces":
        bias = rest if rest in NAMED_BIASES and split == "train" else None
        return make_synthfaces(n, seed=seed + _SYNTH_SPLIT_SEED[split], bias=bias,
                               image_size=64 if image_size is None else image_size,
                               channels=3 if channels is None else channels)
    reader = READERS[name]
    # None = the reader's own default: e.g. FER2013 and FER+ stay 48×48 grey as released.
    given = {key: value for key, value in (("image_size", image_size), ("channels", channels)) if value is not None}
    if labels is not None and "labels" in inspect.signature(reader).parameters:
        given["labels"] = labels
    return reader(rest, split=split, on_error=on_error, **given)


def check_data_spec(spec: str) -> tuple[str, str]:
    """Check a `--data` string without reading any data (so a command can refuse it before slow work).

    Args:
        spec: as for `load_data`.

    Returns:
        ``(name, rest)``: the dataset name and what follows its colon (a path for readers).

    Raises:
        ValueError: unknown name, or a reader prefix without a path.
        FileNotFoundError: the path does not exist.
    """
    name, _, rest = str(spec).partition(":")
    if name == "synthfaces":
        if rest not in ("", "clean", *NAMED_BIASES):
            names = ", ".join(f"':{name}'" for name in NAMED_BIASES)
            raise ValueError(f"--data synthfaces takes {names} or ':clean'; got {spec!r}.")
        return name, rest
    if name in READERS:
        if not rest:
            raise ValueError(f"--data {name}: needs a path, e.g. {name}:/data/{name}.")
        if not Path(rest).exists():
            raise FileNotFoundError(f"--data {spec}: no such file or folder: {rest}")
        return name, rest
    known = ["synthfaces", "synthfaces:demo"] + [f"{p}:PATH" for p in sorted(READERS)]
    raise ValueError(f"unknown --data {spec!r}; use one of {', '.join(known)}.")

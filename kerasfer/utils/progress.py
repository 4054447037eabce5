"""Where output goes — a terminal, a Jupyter notebook, or a file — and so how progress should show.

Keras' progress bar redraws itself after every batch. On a terminal that is one live line; written
to a file or a pipe it is one line per batch, and in a notebook's stored output thousands of them.
`progress_style` names what suits the place; `kerasfer.training.callbacks.fit_progress` turns it into Keras
settings.
"""

from __future__ import annotations

import sys

STYLES = ("silent", "bar", "epochs", "notebook")


def in_notebook() -> bool:
    """Whether the code runs in a Jupyter (ipykernel) kernel rather than a terminal or a script."""
    return "ipykernel" in sys.modules and not is_terminal(sys.stdout)


def is_terminal(stream) -> bool:
    """Whether `stream` is an interactive terminal (False for files, pipes and notebook streams)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_style(verbose) -> str:
    """One of `STYLES` for a caller's verbosity.

    Args:
        verbose: 0 / False / None: ``"silent"``; 2: ``"epochs"`` (one line per epoch) always;
            1 / True / ``"auto"``: ``"bar"`` on a terminal, ``"notebook"`` in Jupyter, ``"epochs"``
            when output goes to a file or a pipe.

    Returns:
        The style name.
    """
    if verbose in (0, False, None):
        return "silent"
    if verbose == 2:
        return "epochs"
    if verbose not in (1, True, "auto"):
        raise ValueError(f"`verbose` must be 0, 1, 2 or 'auto'; got {verbose!r}.")
    if in_notebook():
        return "notebook"
    return "bar" if is_terminal(sys.stdout) else "epochs"


def auto_bar(**kwargs):
    """A `tqdm.auto` bar (a widget in Jupyter, text elsewhere), without the warning tqdm.auto gives
    when ipywidgets is missing (it then draws text, which is fine).

    Args:
        **kwargs: passed to `tqdm` (``total``, ``desc``, ``unit``, ...).

    Returns:
        The bar.
    """
    import warnings

    from tqdm.auto import tqdm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tqdm(**kwargs)

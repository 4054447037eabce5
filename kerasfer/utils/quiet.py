"""Keep TensorFlow's native chatter from the user: C++ log lines, converter dumps, Python INFO logs.

TensorFlow ≥ 2.18 logs through absl before anything calls ``absl::InitializeLog()``, so its start-up
lines (``I0000 … cudart_stub.cc … Could not find cuda drivers``, ``oneDNN custom operations are on``,
``WARNING: All log messages before absl::InitializeLog() …``) reach stderr whatever
``TF_CPP_MIN_LOG_LEVEL`` says (abseil/abseil-cpp#1718). They are written by C++ straight to file
descriptor 2, which Python's ``sys.stderr`` does not see, so they are filtered at the descriptor:
`native_output_filtered` points fds 1 and 2 at temporary files for the length of a block and then
replays every line that is not such a log line. kerasfer runs TensorFlow's import (`quiet_tensorflow_import`),
TFLite conversion and LiteRT interpreter start-up inside it.

Set ``KERASFER_VERBOSE=1`` (the CLI's ``--verbose``) to see everything.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import io
import logging
import os
import re
import sys
import tempfile

VERBOSE_ENV = "KERASFER_VERBOSE"

# absl / glog lines (``I0000 00:00:1796113702.514791    2179 port.cc:153] …``), absl's warning that it
# is not initialised, LiteRT's delegate notice and the TFLite calibrator's settings line.
NATIVE_LOG_LINE = re.compile(
    r"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] "
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] \S+:\d+\] "  # TensorFlow's own pre-absl format
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
    r"|fully_quantize: \d+, inference_type: \d+, input_inference_type: )")  # the int8 calibrator's settings


def is_verbose() -> bool:
    """Whether the user asked for TensorFlow's own output (``KERASFER_VERBOSE`` set to 1/true/yes)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def set_verbose(verbose: bool = True) -> None:
    """Show (True) or hide (False) TensorFlow's log lines and the converter's output from now on.

    Args:
        verbose: the setting; it is stored in ``KERASFER_VERBOSE`` so worker processes inherit it.
    """
    os.environ[VERBOSE_ENV] = "1" if verbose else "0"
    if verbose:  # TensorFlow not imported yet: let its import print as it would
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorFlowFinder)]
    if "tensorflow" in sys.modules:
        logging.getLogger("tensorflow").setLevel(logging.INFO if verbose else logging.ERROR)


@contextlib.contextmanager
def native_output_filtered(*, keep_python_stdout: bool = True):
    """Run a block with TensorFlow's native log lines removed from its stdout and stderr.

    What the block writes to fds 1 and 2 (C/C++) and to ``sys.stdout`` / ``sys.stderr`` (Python) is
    held back and replayed when it ends, less the lines matching `NATIVE_LOG_LINE`; Python warnings
    and errors therefore still show, just after the block. Does nothing when `is_verbose`.

    Args:
        keep_python_stdout: False drops what Python code printed to ``sys.stdout`` (e.g. the
            converter's signature dump) instead of replaying it.

    Yields:
        None.
    """
    if is_verbose():
        yield
        return
    for stream in (sys.stdout, sys.stderr):
        _flush(stream)
    held = {}
    for fd in (1, 2):
        try:
            held[fd] = (os.dup(fd), tempfile.TemporaryFile())
        except OSError:  # no such descriptor (a daemon with closed stdio): nothing to filter
            continue
        os.dup2(held[fd][1].fileno(), fd)
    python_out, python_err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(python_out), contextlib.redirect_stderr(python_err):
            yield
    finally:
        _flush_c_stdio()
        native = {}
        for fd, (saved, capture) in held.items():
            os.dup2(saved, fd)
            os.close(saved)
            capture.seek(0)
            native[fd] = capture.read().decode("utf-8", "replace")
            capture.close()
        _replay(native.get(1, "") + (python_out.getvalue() if keep_python_stdout else ""), sys.stdout)
        _replay(native.get(2, "") + python_err.getvalue(), sys.stderr)


def quiet_tensorflow_import() -> None:
    """Make the first ``import tensorflow`` of this process run inside `native_output_filtered`.

    Installs a one-shot import hook (removed as soon as TensorFlow is found) that also sets
    ``TF_CPP_MIN_LOG_LEVEL=3`` unless the user set it, and quiets the ``tensorflow`` Python logger
    (INFO lines such as ``Assets written to``, retracing warnings).
    Called by ``import kerasfer``; a TensorFlow imported before kerasfer has already printed.
    """
    if "tensorflow" in sys.modules:
        _quiet_python_logger()
        return
    if not is_verbose() and not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the other finders and wraps its loading in `native_output_filtered`."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        # TensorFlow's own C++ logging after start-up ("failed call to cuInit", oneDNN fallbacks): errors
        # that matter reach Python as exceptions, so only the user's setting shows these lines.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec(module):
            with native_output_filtered():
                exec_module(module)
            _quiet_python_logger()

        spec.loader.exec_module = quiet_exec
        return spec


def _quiet_python_logger() -> None:
    if not is_verbose():
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _replay(text: str, stream) -> None:
    kept = [line for line in text.splitlines(keepends=True) if not NATIVE_LOG_LINE.match(line)]
    if kept:
        stream.write("".join(kept))
        _flush(stream)


def _flush(stream) -> None:
    try:
        stream.flush()
    except (AttributeError, OSError, ValueError):
        pass


def _flush_c_stdio() -> None:
    """``fflush(NULL)``: C stdio buffers must reach the temporary files before the fds go back."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass

"""`kerasfer` entry point: builds the parser from the command modules and turns errors into exit 2.

Each command lives in its own module of `kerasfer.cli` with two functions:
``register(subparsers) -> parser`` (flags only, no heavy imports, so ``--help`` is fast) and
``run(args) -> int``. Add a command by adding its module name to `COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

import yaml

from kerasfer.utils.quiet import set_verbose

COMMANDS = ("demo", "train", "compare", "audit", "export", "predict", "study")  # the order of `kerasfer --help`


class UsageError(Exception):
    """A bad argument or missing file: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line (``kerasfer demo: error: ...``) with exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The full `kerasfer` parser with every registered command.

    Returns:
        The top-level `argparse.ArgumentParser`.
    """
    from kerasfer import __version__

    parser = _Parser(prog="kerasfer", description="Fairness-aware facial expression recognition with Keras 3.")
    parser.add_argument("--version", action="version", version=f"kerasfer {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"kerasfer.cli.{name}")
        sub = module.register(subparsers)
        sub.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
        sub.add_argument("--config", metavar="FILE", help="YAML file of option values (flags override it)")
        sub.add_argument("--verbose", action="store_true",
                         help="also show TensorFlow's own log lines and the TFLite converter's output")
        sub.set_defaults(run=module.run, parser=sub)
    return parser


def main(argv=None) -> int:
    """Run `kerasfer` with `argv` (default: the process arguments).

    Returns:
        The exit code: 0 on success, 2 on bad arguments, missing files or invalid input.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help, --version (0) or a bad argument (2, message printed)
        return exit_.code if isinstance(exit_.code, int) else 2
    if args.verbose:
        set_verbose(True)
    else:  # TensorFlow's C++ logging (errors still raise); set before TensorFlow is imported
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        if args.config:
            _apply_config(args.parser, args.config)
            args = parser.parse_args(argv)  # flags on the command line override the file
        return int(args.run(args) or 0)
    except SystemExit as exit_:  # a bad value from the config file, reported by argparse
        return exit_.code if isinstance(exit_.code, int) else 2
    except (UsageError, ValueError, OSError) as err:  # OSError: missing/unreadable/unwritable files
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"kerasfer {args.command}: error: {message}", file=sys.stderr)
        return 2


def _apply_config(sub: argparse.ArgumentParser, path: str) -> None:
    """Make the YAML file's values the defaults of command parser `sub`."""
    try:
        with open(path) as f:
            values = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except yaml.YAMLError as err:
        raise UsageError(f"config file {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise UsageError(f"config file {path} must hold a mapping of option: value")
    known = {action.dest for action in sub._actions}
    defaults = {}
    for key, value in values.items():
        dest = str(key).replace("-", "_")
        if dest not in known or dest in ("config", "help"):
            raise UsageError(f"config file {path}: unknown option {key!r}")
        defaults[dest] = value
    sub.set_defaults(**defaults)

"""The `kerasfer` command line: one subcommand per module of this package."""

from kerasfer.cli.main import main

__all__ = ["main"]

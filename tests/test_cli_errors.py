"""Every `kerasfer` command fails the same way on bad input: exit code 2, one stderr line, no traceback.

The tests iterate over the registry (`kerasfer.cli.main.COMMANDS`), so a command added later is
covered without touching this file.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kerasfer.cli.main import COMMANDS, build_parser, main

SMALL = {"--n-train": "64", "--n-test": "32", "--n": "32", "--epochs": "1", "--n-calibration": "8"}


def command_parsers() -> dict:
    """Command name → its argparse parser, as `kerasfer` builds them."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: sub.choices[name] for name in COMMANDS}


PARSERS = command_parsers()


def flag(action) -> str | None:
    """The long flag of an optional action (None for positionals)."""
    longs = [s for s in action.option_strings if s.startswith("--")]
    return longs[0] if longs else None


def file_actions(parser):
    """Options and positionals that name input files: --model (no choices), --data, positional paths."""
    for action in parser._actions:
        if action.dest in ("model", "models", "checkpoint") and not action.choices:
            yield action
        elif action.dest == "data" and not action.choices:
            yield action
        elif not action.option_strings and action.dest not in ("help",) and action.nargs in ("+", "*", None):
            yield action


def missing_value(action, missing: Path) -> str:
    """A value naming a file that does not exist, in the form `action` takes."""
    if action.dest == "data":
        from kerasfer.data.specs import READERS

        prefix = sorted(READERS)[0] if READERS else "synthfaces"
        return f"{prefix}:{missing}"
    return str(missing)


def base_argv(name, parser, tmp_path) -> list[str]:
    """Arguments that satisfy argparse for command `name`: real-looking values for required ones."""
    argv = [name, "--out", str(tmp_path / "out")] if any(flag(a) == "--out" for a in parser._actions) else [name]
    for action in parser._actions:
        option = flag(action)
        if option in SMALL:
            argv += [option, SMALL[option]]
        elif action.required and option:
            argv += [option, action.choices[0] if action.choices else str(tmp_path / "missing.keras")]
        elif not action.option_strings and action.dest != "help":
            argv.append(str(tmp_path / "missing.jpg"))
    return argv


def replace(argv, option, value):
    """`argv` with `option` set to `value` (added when absent; a positional when `option` is None)."""
    argv = list(argv)
    if option in argv:
        argv[argv.index(option) + 1] = value
    else:
        argv += [option, value]
    return argv


def assert_one_line_error(code, capsys, *fragments):
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    for fragment in fragments:
        assert fragment in err[0], (fragment, err[0])


def test_every_command_has_the_common_flags():
    for name, parser in PARSERS.items():
        flags = {flag(a) for a in parser._actions}
        assert {"--out", "--seed", "--config"} <= flags, (name, flags)


@pytest.mark.parametrize("name", COMMANDS)
def test_missing_files_exit_2_with_one_line(name, tmp_path, capsys):
    """A missing config file, model, data folder or input path: exit 2 and one line naming a missing path."""
    parser = PARSERS[name]
    argv = base_argv(name, parser, tmp_path)
    assert_one_line_error(main(argv + ["--config", str(tmp_path / "missing.yaml")]), capsys, "config file not found")
    for action in file_actions(parser):
        missing = tmp_path / f"missing_{action.dest}"
        if flag(action):
            bad = replace(argv, flag(action), missing_value(action, missing))
        else:  # a positional: every value of it points at a missing path
            bad = [a for a in argv if a != str(tmp_path / "missing.jpg")] + [str(missing)]
        # Commands check their files in their own order: the line names one of the missing paths.
        assert_one_line_error(main(bad), capsys, str(tmp_path / "missing"))


@pytest.mark.parametrize("name", COMMANDS)
def test_bad_values_exit_2_with_one_line(name, tmp_path, capsys):
    parser = PARSERS[name]
    argv = base_argv(name, parser, tmp_path)
    for action in parser._actions:
        option = flag(action)
        if option is None or action.nargs == 0:
            continue
        if action.type in (int, float):
            assert_one_line_error(main(replace(argv, option, "many")), capsys, option)
        elif action.choices:
            assert_one_line_error(main(replace(argv, option, "no-such-choice")), capsys, option)
    config = tmp_path / "bad.yaml"
    config.write_text("no-such-option: 1\n")
    assert_one_line_error(main(argv + ["--config", str(config)]), capsys, "unknown option 'no-such-option'")
    config.write_text("seed: [1, 2\n")
    assert_one_line_error(main(argv + ["--config", str(config)]), capsys, "not valid YAML")


# Integer options that count things and must be positive (--n-boot 0, say, legitimately means "none").
COUNT_FLAGS = ("--n", "--n-train", "--n-test", "--n-calibration", "--epochs", "--every", "--batch-size")


def count_options():
    """(command, flag) for every integer option that counts something (faces, epochs, frames, batch size)."""
    pairs = []
    for name, parser in PARSERS.items():
        for action in parser._actions:
            option = flag(action)
            if action.type is int and option in COUNT_FLAGS:
                pairs.append((name, option))
    return pairs


# Gaps found by this test in commands this test's author does not own; reported to their owners.
@pytest.mark.parametrize("name,option", count_options())
def test_count_options_refuse_zero(name, option, tmp_path, capsys):
    """Counts of zero are refused before any work starts, naming the option."""
    parser = PARSERS[name]
    argv = base_argv(name, parser, tmp_path)
    for action in file_actions(parser):  # existing (empty) files, so the count check is what fails
        if action.dest == "data":
            argv = replace(argv, flag(action), "synthfaces")
        elif flag(action):
            (tmp_path / "model.keras").write_bytes(b"")
            argv = replace(argv, flag(action), str(tmp_path / "model.keras"))
        else:
            (tmp_path / "photo.jpg").write_bytes(b"")
            argv = [a if a != str(tmp_path / "missing.jpg") else str(tmp_path / "photo.jpg") for a in argv]
    code = main(replace(argv, option, "0"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert option in err[0] or option.lstrip("-").replace("-", "_") in err[0], err[0]


def run_cli(*args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    return subprocess.run([sys.executable, "-m", "kerasfer", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def test_no_traceback_reaches_the_terminal(tmp_path):
    """Through a real process: stderr holds exactly the one error line, nothing from Python or TensorFlow."""
    checks = [
        (["predict", str(tmp_path / "nope.jpg"), "--model", str(tmp_path / "nope.keras")], "no such file"),
        (["export", "--model", str(tmp_path / "nope.keras")], "--model: no such file"),
        (["predict", "x.jpg", "--model", "m.keras", "--every", "often"], "invalid int value"),
    ]
    checks += [(base_argv(name, parser, tmp_path) + ["--config", str(tmp_path / "nope.yaml")], "config file not found")
               for name, parser in PARSERS.items()]
    for args, message in checks:
        result = run_cli(*args, cwd=tmp_path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (args, result.stderr[-1500:])
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, (args, lines)


@pytest.mark.parametrize("name", ["audit", "export"])
def test_bad_data_is_reported_before_the_model_is_loaded(name, tmp_path, capsys):
    """A typo in --data must not cost a model load first (nor hide behind a model error)."""
    model = tmp_path / "model.keras"
    model.write_bytes(b"not a keras archive")  # loading it would fail with a different message
    assert main([name, "--model", str(model), "--data", "rafdb:/nowhere/raf", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "/nowhere/raf" in err[0], err

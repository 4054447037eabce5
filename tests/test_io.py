"""Atomic result files: whole or absent, and readable like any file the user writes."""

import os

from kerasfer.utils.io import write_json


def test_result_files_get_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = write_json(tmp_path / "metrics.json", {"accuracy": 0.5})
    finally:
        os.umask(mask)
    assert path.read_text().strip().startswith("{")
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left behind

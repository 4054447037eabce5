"""Every notebook in notebooks/ executes top to bottom (with small parameters) and is stored without outputs.

Parameters: each notebook has one code cell tagged ``parameters``; a cell with the overrides in
`SMALL` is inserted after it (as papermill does), so the notebook runs in seconds here and at full
size for a reader. The kernel is this interpreter (the project's .venv), registered in a temporary
Jupyter path, so the test does not depend on which kernels the machine has installed.
"""

import json
import sys
from pathlib import Path

import nbformat
import pytest
from library_noise import notebook_noise

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TESTED_ELSEWHERE = {"03_au_bias_study.ipynb"}  # executed by tests/test_notebook_au.py (its own budget)
KERNEL = "kerasfer-test"

# Overrides per notebook: sized to run in well under a minute each on 2 CPU cores.
SMALL = {
    "01_quickstart.ipynb": dict(N_TRAIN=280, N_TEST=140, EPOCHS=1, IMAGE_SIZE=32, N_BOOT=20, HEATMAPS=True),
    "02_real_datasets.ipynb": dict(EPOCHS=1, IMAGE_SIZE=32, N_BOOT=20, HEATMAPS=False, MIN_COUNT=5,
                                   MINI_TRAIN=84, MINI_TEST=42),
    "04_choose_a_mitigation.ipynb": dict(N_TRAIN=240, N_TEST=140, EPOCHS=1, SEEDS=1, METHODS=["reweighted"],
                                         N_BOOT=20, OUT="compare"),
    "05_audit_real_photos.ipynb": dict(N_PHOTOS=240, N_TRAIN=200, N_TEST=140, IMAGE_SIZE=32, SIZE="phone", EPOCHS=1,
                                       N_BOOT=20, HEATMAPS=False, MIN_COUNT=5),
}


def parameters_index(nb) -> int:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "a notebook needs exactly one code cell tagged 'parameters'"
    return tagged[0]


def inject(nb, values: dict):
    """Insert a cell assigning `values` right after the parameters cell; the names must exist there."""
    index = parameters_index(nb)
    source = nb.cells[index].source
    for name in values:
        assert f"{name} =" in source, f"{name} is not a parameter of this notebook"
    lines = [f"{name} = {value!r}" for name, value in values.items()]
    cell = nbformat.v4.new_code_cell("# injected by tests/test_notebooks.py\n" + "\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)
    return nb


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory):
    """A Jupyter data dir with a kernel spec that runs this very interpreter."""
    folder = tmp_path_factory.mktemp("jupyter")
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        # without PYTEST_CURRENT_TEST, ipykernel forwards what C++ writes to fds 1 and 2 into the cell
        # outputs, as in a user's Jupyter; under pytest it would not, and TensorFlow's lines would hide
        "argv": ["env", "-u", "PYTEST_CURRENT_TEST", sys.executable, "-m", "ipykernel_launcher",
                 "-f", "{connection_file}"],
        "display_name": "kerasfer tests", "language": "python",
        "env": {"MPLBACKEND": "agg"},  # no TF_CPP_MIN_LOG_LEVEL: a new user's kernel has none
    }))
    return folder


def test_every_notebook_is_covered():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_quickstart.ipynb", "02_real_datasets.ipynb"} <= names
    assert names - TESTED_ELSEWHERE <= set(SMALL), "add small parameters for the new notebook to SMALL"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.execution_count is None and cell.outputs == [], f"{path.name} cell {i} has outputs"
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(markdown) >= len(code) - 2, f"{path.name}: every step needs a sentence of explanation"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name not in TESTED_ELSEWHERE], ids=lambda p: p.name)
def test_notebook_executes(path, tmp_path, kernel_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # as a new user's kernel: conftest sets it
    nb = inject(nbformat.read(path, as_version=4), SMALL[path.name])
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=300, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert nb.cells[-1].outputs, "the last step printed nothing"
    assert not notebook_noise(nb), notebook_noise(nb)  # no TensorFlow logs, converter dumps or per-batch bars

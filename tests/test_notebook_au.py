"""notebooks/03_au_bias_study.ipynb executes top to bottom with small parameters (the AU bias study)."""

import nbformat
from library_noise import notebook_noise

from test_notebooks import KERNEL, inject, kernel_path  # noqa: F401  (kernel_path is a fixture)

from kerasfer.constants import ACTION_UNITS

NOTEBOOK = "notebooks/03_au_bias_study.ipynb"
SMALL = dict(N_TRAIN=200, N_TEST=150, IMAGE_SIZE=32, EPOCHS=1, WIDTH=8, LATENT_DIM=8, N_BOOT=10,
             HEATMAPS_PER_GROUP=4, MIN_COUNT=5)


def test_au_study_notebook_runs_and_reports(tmp_path, kernel_path, monkeypatch):  # noqa: F811
    from pathlib import Path

    from nbclient import NotebookClient

    root = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # as a new user's kernel: conftest sets it
    nb = inject(nbformat.read(root / NOTEBOOK, as_version=4), SMALL)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=600, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not notebook_noise(nb), notebook_noise(nb)
    report = tmp_path / "runs" / "au_bias_study" / "report.html"
    assert report.is_file() and "FairVAE" in report.read_text()
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4, "the heatmap and difference grids of both models are shown"
    last = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "F1 gap between skin groups" in last and "baseline" in last
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert all(au in html for au in ACTION_UNITS[:3])  # the F1 table per AU is displayed

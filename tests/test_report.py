"""The HTML report, the notebook view and `kerasfer audit`: every section, self-contained, readable numbers."""

import base64
import json
import re
import warnings

import keras
import numpy as np
import pytest

from kerasfer.cli.main import main
from kerasfer.fairness import audit
from kerasfer.models import EmotionClassifier

SECTIONS = ("summary", "gaps", "groups", "intersections", "leakage", "latent", "heatmaps", "method")


@pytest.fixture(scope="module")
def result(tiny_faces):
    """One audit with every part: latent, heatmaps, an intersection."""
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return audit(model, tiny_faces, ["gender", "skin"], n_boot=50, min_count=10, heatmaps_per_group=4)


@pytest.fixture(scope="module")
def report_html(result, tmp_path_factory):
    """The report of `result`, written once."""
    return result.to_html(tmp_path_factory.mktemp("report") / "report.html")


def _images(html):
    return re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)


def test_report_has_every_section_and_embeds_every_plot(result, report_html):
    html = report_html.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in html, section
    # bars + TPR + confusion for 2 attributes, bars + TPR for the intersection, projection, 2 × 2 heatmap grids
    images = _images(html)
    assert len(images) == 2 * 3 + 2 + 1 + 2 * 2
    assert all(base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n" for png in images)
    assert not re.search(r'(src|href)="(http|//|file:)', html) and "<script" not in html  # self-contained
    for group in ("male", "female", "light", "dark", "female × dark"):
        assert f"<td>{group}" in html, group
    accuracy = result.to_frame("groups").loc[("skin", "dark"), "accuracy"]
    assert f"{accuracy:.3f}" in html
    assert "Equalized odds diff." in html and "Fairness ratio" in html and "probe balanced accuracy" in html
    verdicts = "Equalized-odds gaps unlikely to be noise|No significant equalized-odds gap"
    assert re.search(f'<p class="verdict">({verdicts})', html)


def test_notebook_view_and_frames(result):
    html = result._repr_html_()
    assert "Equalized odds diff." in html and "female × dark" in html and "<img" not in html
    assert list(result.to_frame("groups").index.names) == ["attribute", "group"]
    assert "p_value" in result.to_frame("gaps").columns
    with pytest.raises(ValueError, match="table"):
        result.to_frame("everything")
    with pytest.raises(ValueError, match=r"\.html"):
        result.to_html("report.pdf")


def test_report_of_an_au_model_without_latent(tiny_faces, tmp_path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, name="feature_map")(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(len(tiny_faces.au_names), activation="sigmoid")(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = audit(model, tiny_faces, ["skin"], n_boot=30, min_count=10, heatmaps_per_group=4)
    assert r.task == "au" and "AU12" in set(r.per_class["class"])
    html = r.to_html(tmp_path / "au.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in html, section
    assert "Action Unit (multi-label) model" in html and "Mean-AUC diff." in html
    assert "Not measured" in html  # no encoder_model(): leakage explained, not silently missing
    assert len(_images(html)) == 2 + 2  # bars + per-AU AUC for skin; heatmap means + differences
    assert "Differences per Action Unit" in html and "<td>AU12</td>" in html


def test_cli_audit_writes_report_audit_and_metrics(tmp_path, capsys):
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=8)
    model.save(tmp_path / "model.keras")
    out = tmp_path / "audit"
    code = main(["audit", "--model", str(tmp_path / "model.keras"), "--n", "140", "--n-boot", "20",
                 "--min-count", "5", "--attributes", "gender,skin", "--no-heatmaps", "--out", str(out)])
    assert code == 0
    assert (out / "report.html").stat().st_size > 10_000
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["gaps"]) == {"gender", "skin", "gender × skin"}
    assert 0 <= metrics["overall"]["accuracy"]["value"] <= 1
    assert np.isfinite(metrics["gaps"]["skin"]["equalized_odds_difference"]["p_value"])
    assert json.loads((out / "audit.json").read_text())["settings"]["n_boot"] == 20
    assert "wrote" in capsys.readouterr().out
    assert main(["audit", "--model", str(tmp_path / "missing.keras"), "--out", str(out)]) == 2
    assert main(["audit", "--model", str(tmp_path / "model.keras"), "--data", "nope", "--out", str(out)]) == 2
    assert "unknown --data" in capsys.readouterr().err

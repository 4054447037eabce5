"""The HTML report in a real headless browser (Debian's chromium): loads cleanly, shows every table and image.

`make test` installs chromium when it is missing (as root, with apt-get); without it this test
skips and says so. The screenshot lands in test-artifacts/report.png for a person to look at.
"""

import json
import re
import subprocess
import warnings

import numpy as np
import pytest

from kerasfer.fairness import audit
from kerasfer.models import EmotionClassifier
from browser_harness import ARTIFACTS, HEADLESS, chromium

# Injected into a copy of the report only: collects JS errors and console.error calls, opens every
# <details>, then records which images failed to decode and which tables have no visible size.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(
  String(e.message || (e.target && (e.target.src || '').slice(0, 60)))), true);
const __consoleError = console.error;
console.error = (...a) => { window.__errors.push(a.join(' ')); __consoleError(...a); };
window.addEventListener('load', () => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const images = [...document.images];
  const badImages = images.filter(i => !(i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0));
  const tables = [...document.querySelectorAll('table')];
  const hidden = tables.filter(t => t.getBoundingClientRect().height === 0 || t.rows.length < 2);
  const out = document.createElement('pre');
  out.id = '__check';
  out.textContent = JSON.stringify({images: images.length, bad_images: badImages.map(i => i.alt),
    tables: tables.length, hidden_tables: hidden.map(t => t.className), errors: window.__errors,
    sections: [...document.querySelectorAll('section')].map(s => s.id)});
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def report(tiny_faces, tmp_path_factory):
    """A report with every part: two attributes and their intersection, latent, heatmaps."""
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = audit(model, tiny_faces, ["gender", "skin"], n_boot=50, min_count=10, heatmaps_per_group=4)
    return result.to_html(tmp_path_factory.mktemp("report") / "report.html")


def test_report_loads_without_errors_and_shows_every_table_and_image(report):
    browser = chromium()
    html = report.read_text(encoding="utf-8")
    probe = report.with_name("probe.html")
    probe.write_text(html.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    run = subprocess.run([browser, *HEADLESS, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="__check">(.*?)</pre>', run.stdout, re.S)
    assert found, f"the page did not finish loading in chromium: {run.stderr[-2000:]}"
    check = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert check["errors"] == []
    assert check["images"] == html.count("<img ") and check["images"] >= 10
    assert check["bad_images"] == []
    assert check["tables"] == html.count("<table") and check["hidden_tables"] == []
    sections = {"summary", "gaps", "groups", "intersections", "leakage", "latent", "heatmaps", "method"}
    assert sections <= set(check["sections"])


def test_report_screenshot_is_saved_and_not_blank(report):
    browser = chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    subprocess.run([browser, *HEADLESS, "--window-size=1280,5200", f"--screenshot={shot}", report.as_uri()],
                   capture_output=True, text=True, timeout=120)
    assert shot.is_file(), "chromium wrote no screenshot"
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), np.float32)
    assert pixels.shape == (5200, 1280)
    assert pixels.std() > 10  # text, tables and plots, not an empty page

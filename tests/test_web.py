"""`kerasfer export --web`: the browser page runs the model with LiteRT.js in headless Chromium and gives
Python LiteRT's predictions (export/run_tflite.py) on the same image files; its pre-processing
(preprocess.js) is Pillow's, pixel for pixel."""

import functools
import http.server
import importlib.util
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from browser_harness import ARTIFACTS, chromium
from kerasfer.cli import main
from kerasfer.data import make_synthfaces
from kerasfer.export import to_tflite
from kerasfer.export.web_page import find_litertjs, write_web
from kerasfer.models import EmotionClassifier

ROOT = Path(__file__).resolve().parents[1]
PREPROCESS_JS = ROOT / "kerasfer" / "export" / "web" / "preprocess.js"
SCORE_STEP = 1 / 256


def _runner():
    spec = importlib.util.spec_from_file_location("run_tflite", ROOT / "export" / "run_tflite.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the page's pre-processing is checked with Node.js")
    return node


def _litertjs():
    try:
        return find_litertjs()
    except FileNotFoundError as err:
        pytest.skip(str(err))


def test_preprocess_js_gives_run_tflite_inputs_exactly(tmp_path):
    """Random photo sizes, shrunk and enlarged, RGB and grey, float32 and uint8 inputs: the same bytes."""
    node, runner = _node(), _runner()
    rng = np.random.default_rng(0)
    cases, expected = [], []
    for i in range(24):
        w, h = (int(v) for v in rng.integers(3, 260, 2))
        size, channels = int(rng.choice([32, 48, 64])), int(rng.choice([1, 3]))
        dtype = "uint8" if i % 2 else "float32"
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3)).astype(np.uint8)).save(path)
        meta = {"input": {"height": size, "width": size, "channels": channels, "dtype": dtype,
                          "scale": 1.0 if dtype == "uint8" else 0.0, "zero_point": 0}}
        rgba = np.asarray(Image.open(path).convert("RGBA"))
        cases.append({"rgba": rgba.reshape(-1).tolist(), "width": w, "height": h, "sidecar": meta})
        expected.append(runner.preprocess(path, meta).reshape(-1))
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    script = (f"import {{inputTensorData}} from {json.dumps(PREPROCESS_JS.as_uri())};\n"
              "import {readFileSync} from 'fs';\n"
              f"const cases = JSON.parse(readFileSync({json.dumps(str(tmp_path / 'cases.json'))}));\n"
              "console.log(JSON.stringify(cases.map(c => Array.from("
              "inputTensorData(Uint8ClampedArray.from(c.rgba), c.width, c.height, c.sidecar)))));")
    run = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    for i, (mine, want) in enumerate(zip(got, expected)):
        np.testing.assert_array_equal(np.asarray(mine, np.float64), want.astype(np.float64), err_msg=f"case {i}")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """`kerasfer export --mode int8 --web` of a small trained classifier, with 24 test photos beside the page."""
    _litertjs()
    out = tmp_path_factory.mktemp("web")
    keras.utils.set_random_seed(0)
    train = make_synthfaces(600, seed=31, image_size=32)
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=16)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(train.dataset(64), epochs=4, verbose=0)
    model.save(out / "m.keras")
    code = main(["export", "--model", str(out / "m.keras"), "--out", str(out / "export"), "--n", "70",
                 "--n-calibration", "64", "--detector", "none", "--web", str(out / "site")])
    assert code == 0
    photos = out / "site" / "photos"
    photos.mkdir()
    faces = make_synthfaces(24, seed=32, image_size=96).load_images().astype(np.uint8)
    rng = np.random.default_rng(1)
    names = []
    for i, face in enumerate(faces):  # whole photos of many sizes: the page resizes them as the runner does
        w, h = (int(v) for v in rng.integers(40, 300, 2))
        Image.fromarray(face).resize((w, h), Image.BICUBIC).save(photos / f"face{i}.png")
        names.append(f"photos/face{i}.png")
    (photos / "list.json").write_text(json.dumps(names))
    return out


@pytest.fixture(scope="module")
def served(page):
    """The page folder on http://127.0.0.1:PORT (WebAssembly does not load from file://)."""
    handler = functools.partial(_QuietHandler, directory=str(page / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_web_folder_is_self_contained(page):
    site = page / "site"
    html = (site / "index.html").read_text()
    assert '<script type="module" src="app.js">' in html and "./litert/core/index.js" in html
    assert not re.search(r"(src|href)=\"https?://", html), "the page must fetch nothing from elsewhere"
    for name in ("app.js", "preprocess.js", "style.css", "model/model.tflite", "model/model.json",
                 "model/MODEL_CARD.md", "litert/core/index.js", "litert/wasm-utils/index.js",
                 "litert/wasm/litert_wasm_internal.wasm", "litert/wasm/litert_wasm_compat_internal.wasm"):
        assert (site / name).is_file(), name
    assert (site / "model" / "model.tflite").read_bytes() == (page / "export" / "model_int8.tflite").read_bytes()
    for script in ("app.js", "preprocess.js"):
        assert not re.search(r"https?://", (site / script).read_text()), script


@pytest.fixture(scope="module")
def in_chromium(page, served):
    """What the page shows in headless Chromium for the 24 photos (tests/web_check.mjs, playwright-core)."""
    browser, node = chromium(), _node()
    if not (ROOT / "node_modules" / "playwright-core").is_dir():
        pytest.skip("playwright-core is not installed: `make install` runs `npm ci`")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "web.png"
    shot.unlink(missing_ok=True)
    run = subprocess.run([node, str(ROOT / "tests" / "web_check.mjs"), f"{served}/index.html?batch=photos/list.json",
                          str(shot), browser], capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert run.returncode == 0, f"the page did not finish in chromium: {run.stderr[-3000:]}"
    return json.loads(run.stdout.strip().splitlines()[-1]) | {"screenshot": shot}


def test_page_in_chromium_gives_python_litert_predictions(page, in_chromium):
    batch = in_chromium["batch"]
    assert in_chromium["console_errors"] == [] and batch["errors"] == []
    assert any("XNNPACK" in line for line in batch["runtime_log"])  # LiteRT.js really ran, on the CPU
    runner = _runner().Runner(page / "export" / "model_int8.tflite")
    names = json.loads((page / "site" / "photos" / "list.json").read_text())
    assert [r["image"] for r in batch["results"]] == names and len(names) >= 20
    for result in batch["results"]:
        label, _, want = runner.classify(page / "site" / result["image"])
        assert result["label"] == label, result["image"]
        np.testing.assert_allclose(result["probabilities"], want, atol=SCORE_STEP + 1e-6, err_msg=result["image"])
    assert len({r["label"] for r in batch["results"]}) >= 2, "a trained model predicts more than one class"


def test_page_screenshot_is_kept_and_not_blank(in_chromium):
    pixels = np.asarray(Image.open(in_chromium["screenshot"]).convert("L"), np.float32)
    assert pixels.shape[1] == 1100 and pixels.shape[0] >= 1400
    assert pixels.std() > 10  # the photos and their bars, not an empty page


def test_web_refuses_int8_io_and_says_how(tmp_path, tiny_faces):
    keras.utils.set_random_seed(1)
    model = EmotionClassifier(input_shape=(32, 32, 3), width=8, latent_dim=8)
    to_tflite(model, tmp_path / "m.tflite", mode="int8", representative_data=tiny_faces, int8_io="int8",
              num_calibration=32)
    with pytest.raises(ValueError, match="--int8-io uint8"):
        write_web(tmp_path / "site", tmp_path / "m.tflite")
    with pytest.raises(FileNotFoundError, match="no such .tflite"):
        write_web(tmp_path / "site", tmp_path / "missing.tflite")


def test_missing_litertjs_names_the_install_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"npm (ci|install)") as err:
        find_litertjs([tmp_path / "node_modules"])
    assert str(tmp_path) in str(err.value)

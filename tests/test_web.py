"""`kerasfer export --web`: the browser page runs the model with LiteRT.js in headless Chromium and gives
Python LiteRT's predictions (export/run_tflite.py) on the same image files; its pre-processing
(preprocess.js) is Pillow's, pixel for pixel."""

import functools
import http.server
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
from test_export import _load_runner as _runner
from kerasfer.cli import main
from kerasfer.data import make_synthfaces
from kerasfer.export import to_tflite
from kerasfer.export.web_page import find_litertjs, write_web
from kerasfer.models import EmotionClassifier

ROOT = Path(__file__).resolve().parents[1]
PREPROCESS_JS = ROOT / "kerasfer" / "export" / "web" / "preprocess.js"
SCORE_STEP = 1 / 256


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
                 "--n-calibration", "64", "--web", str(out / "site_faces")])  # with the face detector
    assert code == 0
    write_web(out / "site", out / "export" / "model_int8.tflite", detector=False)  # each photo as one face
    faces = out / "site_faces" / "photos"
    faces.mkdir()
    for name, rgb in _photos_for_faces().items():
        Image.fromarray(rgb).save(faces / f"{name}.png")
    Image.fromarray(np.full((300, 400, 3), 90, np.uint8)).save(faces / "empty.png")
    (faces / "list.json").write_text(json.dumps([f"photos/{n}.png" for n in (*_photos_for_faces(), "empty")]))
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
    """The pages on http://127.0.0.1:PORT/site/ and /site_faces/ (WebAssembly does not load from file://)."""
    handler = functools.partial(_QuietHandler, directory=str(page))
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
    assert not (site / "model" / "face_detector.tflite").exists()  # written without the detector
    assert (page / "site_faces" / "model" / "face_detector.json").is_file()
    for name in ("app.js", "preprocess.js", "faces.js", "style.css", "model/model.tflite", "model/model.json",
                 "model/MODEL_CARD.md", "litert/core/index.js", "litert/wasm-utils/index.js",
                 "litert/wasm/litert_wasm_internal.wasm", "litert/wasm/litert_wasm_compat_internal.wasm"):
        assert (site / name).is_file(), name
    assert (site / "model" / "model.tflite").read_bytes() == (page / "export" / "model_int8.tflite").read_bytes()
    for script in ("app.js", "preprocess.js", "faces.js"):
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
    pages = {}
    for site in ("site", "site_faces"):
        run = subprocess.run([node, str(ROOT / "tests" / "web_check.mjs"),
                              f"{served}/{site}/index.html?batch=photos/list.json",
                              str(shot if site == "site" else ARTIFACTS / "web_faces.png"), browser],
                             capture_output=True, text=True, timeout=240, cwd=ROOT)
        assert run.returncode == 0, f"the page did not finish in chromium: {run.stderr[-3000:]}"
        pages[site] = json.loads(run.stdout.strip().splitlines()[-1])
    return pages["site"] | {"screenshot": shot, "faces": pages["site_faces"]}


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


def test_page_with_the_detector_finds_aligns_and_classifies_as_the_runner(page, in_chromium):
    """detect → align → classify in the browser against export/run_tflite.py --detector on the same photos."""
    faces = in_chromium["faces"]
    assert faces["console_errors"] == [] and faces["batch"]["errors"] == []
    module = _runner()
    runner = module.Runner(page / "export" / "model_int8.tflite")
    detector = module.FaceDetector(page / "export" / "face_detector.tflite")
    counts = []
    for result in faces["batch"]["results"]:
        want = module.classify_faces(runner, detector, page / "site_faces" / result["image"])
        counts.append(len(want))
        assert len(result["faces"]) == len(want), result["image"]
        for mine, (_, box, label, probability) in zip(result["faces"], want):
            assert np.abs(np.subtract(mine["box"], box)).max() <= 1, result["image"]
            assert max(mine["probabilities"]) == pytest.approx(probability, abs=2 / 256)
            # crops may differ by one grey level here and there (float32 vs float64 geometry): the label
            # must agree unless the runner's own top two are within that noise (2 quantization steps)
            top = sorted(mine["probabilities"], reverse=True)
            if top[0] - top[1] > 2 / 256:
                assert mine["label"] == label, result["image"]
    assert counts == [1, 2, 1, 0]  # the astronaut, two side by side, one small in a wide scene, none


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


def _photos_for_faces():
    """Photos for the face pipeline: the astronaut, two side by side (tiled), and a small face in a wide scene."""
    import cv2
    import skimage.data

    astronaut = skimage.data.astronaut()
    pair = np.concatenate([astronaut, cv2.flip(astronaut, 1)], axis=1)
    wide = cv2.resize(skimage.data.coffee(), (1400, 800))
    small = cv2.resize(astronaut, (260, 260))
    wide[300:560, 900:1160] = small
    return {"astronaut": astronaut, "pair": pair, "wide": wide}


def test_faces_js_finds_aligns_and_crops_as_run_tflite(tmp_path):
    """faces.js on the same detector outputs as the Python runner: the same windows and letterboxes (bit for
    bit), the same boxes and eyes, and crops within one grey level (float32 vs float64 arithmetic)."""
    from kerasfer.export.detector import write_detector
    from kerasfer.predict.blazeface import letterbox

    node, module = _node(), _runner()
    detector = module.FaceDetector(write_detector(tmp_path))
    meta, template = detector.meta, [[0.37, 0.43], [0.63, 0.44]]
    cases = []
    expected = {}
    for name, rgb in _photos_for_faces().items():
        height, width = rgb.shape[:2]
        windows = module._windows(height, width, meta["tiling"])
        outputs = []
        for i, (x0, y0, side) in enumerate(windows):
            canvas = letterbox(rgb[y0:y0 + side, x0:x0 + side], 192)[0] / 127.5 - 1.0
            detector.interpreter.set_tensor(detector.interpreter.get_input_details()[0]["index"],
                                            canvas[None].astype(np.float32))
            detector.interpreter.invoke()
            boxes = detector.interpreter.get_tensor(detector._boxes)[0].astype(np.float32)
            logits = detector.interpreter.get_tensor(detector._scores)[0, :, 0].astype(np.float32)
            (tmp_path / f"{name}{i}.bin").write_bytes(boxes.tobytes() + logits.tobytes())
            outputs.append({"file": str(tmp_path / f"{name}{i}.bin"), "canvas_sum": float(canvas.astype(np.float32)
                                                                                          .sum(dtype=np.float64))})
        (tmp_path / f"{name}.rgb").write_bytes(np.ascontiguousarray(rgb).tobytes())
        boxes, eyes = detector.detect(rgb)
        crops = [[module.align_crop(rgb, b, e, margin=0.2, height=32, width=32, template=t).reshape(-1).tolist()
                  for b, e in zip(boxes, eyes)] for t in (None, template)]
        expected[name] = {"boxes": boxes.tolist(), "eyes": eyes.tolist(), "crops": crops}
        cases.append({"name": name, "rgb": str(tmp_path / f"{name}.rgb"), "width": width, "height": height,
                      "windows": [list(w) for w in windows], "outputs": outputs})
    (tmp_path / "cases.json").write_text(json.dumps({"meta": meta, "template": template, "cases": cases}))
    faces_js = (ROOT / "kerasfer" / "export" / "web" / "faces.js").as_uri()
    script = f"""
import {{anchorCentres, cropMatrix, detectFaces, searchWindows, warpCrop}} from {json.dumps(faces_js)};
import {{readFileSync}} from 'fs';
const {{meta, template, cases}} = JSON.parse(readFileSync({json.dumps(str(tmp_path / 'cases.json'))}));
const anchors = anchorCentres(meta.input.height, meta.anchors);
const out = {{}};
for (const c of cases) {{
  const rgb = new Uint8Array(readFileSync(c.rgb));
  let i = 0;
  const sums = [];
  const run = async (canvas) => {{
    sums.push(canvas.reduce((s, v) => s + v, 0));
    const bytes = readFileSync(c.outputs[i++].file);
    const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    return {{boxes: all.subarray(0, anchors.length * 16), logits: all.subarray(anchors.length * 16)}};
  }};
  const faces = await detectFaces(rgb, c.width, c.height, meta, anchors, run, 40);
  const crops = [null, template].map((t) => faces.map((f) =>
    Array.from(warpCrop(rgb, c.width, c.height, cropMatrix(f.box, f.eyes, 32, 32, meta.crop, t), 32, 32))));
  out[c.name] = {{windows: searchWindows(c.height, c.width, meta.tiling), sums, faces, crops}};
}}
console.log(JSON.stringify(out));
"""
    run = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout)
    for case in cases:
        name, mine, want = case["name"], got[case["name"]], expected[case["name"]]
        assert mine["windows"] == case["windows"], name
        np.testing.assert_allclose(mine["sums"], [o["canvas_sum"] for o in case["outputs"]], rtol=1e-6, err_msg=name)
        assert [f["box"] for f in mine["faces"]] == want["boxes"], name
        np.testing.assert_allclose([f["eyes"] for f in mine["faces"]], want["eyes"], atol=1e-2, err_msg=name)
        for js_crops, py_crops in zip(mine["crops"], want["crops"]):
            difference = np.abs(np.asarray(js_crops, int) - np.asarray(py_crops, int))
            assert difference.max() <= 1 and difference.mean() < 0.05, name
    assert len(expected["pair"]["boxes"]) == 2 and len(expected["wide"]["boxes"]) == 1

"""`write_web`: an exported `.tflite` → a static, self-contained browser page that runs it with LiteRT.js.

The folder holds the page (``index.html``, ``app.js``, ``preprocess.js``, ``style.css``), the model
and its sidecar (``model/``) and LiteRT.js's files (``litert/``), copied from the npm package
``@litertjs/core`` that ``make install`` puts in the project's ``node_modules`` (``npm ci``). The
page fetches nothing from elsewhere. Serve the folder over HTTP (browsers refuse WebAssembly from
``file://``): ``python -m http.server -d DIR``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from kerasfer.predict.sidecar import read_sidecar, sidecar_path

PAGE_FILES = ("app.js", "preprocess.js", "faces.js", "style.css")
DETECTOR_FILES = ("face_detector.tflite", "face_detector.json")
HOW = {True: "Each face is found (BlazeFace), aligned and classified exactly as <code>export/run_tflite.py "
             "--detector</code> does; the camera shows the first face of each frame.",
       False: "A photo is classified as one face crop, resized to the model's input as <code>export/run_tflite.py"
              "</code> does; the camera classifies the centre square of each frame."}
# The plain build (browsers with relaxed SIMD) and the compat build (without); no threads, no JSPI.
WASM_FILES = ("litert_wasm_internal.js", "litert_wasm_internal.wasm",
              "litert_wasm_compat_internal.js", "litert_wasm_compat_internal.wasm")
LITERTJS_ENV = "KERASFER_LITERTJS"
BROWSER_DTYPES = ("float32", "uint8")  # LiteRT.js's tensor types for images (no int8)


def find_litertjs(candidates=None) -> Path:
    """The ``node_modules`` folder that holds ``@litertjs/core`` and ``@litertjs/wasm-utils``.

    Looked for in ``$KERASFER_LITERTJS``, then in ``node_modules`` beside the kerasfer checkout (an
    editable install; ``make install`` runs ``npm ci`` there), then in the working directory's.

    Args:
        candidates: folders to look in instead of those.

    Returns:
        The ``node_modules`` path.

    Raises:
        FileNotFoundError: not found; the message says how to install it.
    """
    if candidates is None:
        candidates = [Path(os.environ[LITERTJS_ENV])] if os.environ.get(LITERTJS_ENV) else []
        candidates += [Path(__file__).resolve().parents[2] / "node_modules", Path.cwd() / "node_modules"]
    candidates = [Path(c) for c in candidates]
    for folder in candidates:
        if (folder / "@litertjs" / "core" / "dist" / "index.js").is_file() and \
                (folder / "@litertjs" / "wasm-utils" / "dist" / "index.js").is_file():
            return folder
    raise FileNotFoundError(
        "LiteRT.js (@litertjs/core) is not installed: `make install` runs `npm ci` in the kerasfer checkout; "
        "elsewhere run `npm install @litertjs/core@2.5.3` in a folder and set "
        f"{LITERTJS_ENV}=that-folder/node_modules. Looked in: " + ", ".join(str(c) for c in candidates))


def litertjs_version(node_modules: Path) -> str:
    """The version of the ``@litertjs/core`` package in `node_modules`."""
    return json.loads((node_modules / "@litertjs" / "core" / "package.json").read_text())["version"]


def write_web(out_dir, tflite_path, *, title: str = "kerasfer: facial expressions in your browser",
              detector: bool | None = None) -> Path:
    """Write the browser page for an exported model.

    Args:
        out_dir: the folder to write (created; files of an earlier page are replaced).
        tflite_path: the exported `.tflite`, with its sidecar beside it (and ``MODEL_CARD.md``,
            copied when present).
        title: the page title.
        detector: run the face detector in the page (``face_detector.tflite`` and ``.json`` beside
            the model, as `kerasfer export` writes them): detect → align → classify. None: when
            those files are there.

    Returns:
        The path of ``index.html``.

    Raises:
        FileNotFoundError: no model, sidecar or LiteRT.js.
        ValueError: the model's input or output type is one LiteRT.js cannot feed (int8).
    """
    from kerasfer import __version__

    tflite_path = Path(tflite_path)
    if not tflite_path.is_file():
        raise FileNotFoundError(f"no such .tflite file: {tflite_path}")
    if not sidecar_path(tflite_path).is_file():
        raise FileNotFoundError(f"no sidecar {sidecar_path(tflite_path)} beside the model: export it with "
                                "`kerasfer export`, which writes both.")
    sidecar = read_sidecar(tflite_path)
    for part in ("input", "output"):
        if sidecar[part]["dtype"] not in BROWSER_DTYPES:
            raise ValueError(f"{tflite_path.name} has a {sidecar[part]['dtype']} {part}; LiteRT.js takes "
                             f"{' or '.join(BROWSER_DTYPES)}: export with `--int8-io uint8` for the browser.")
    here_detector = [tflite_path.with_name(name) for name in DETECTOR_FILES]
    if detector is None:
        detector = all(path.is_file() for path in here_detector)
    elif detector and not all(path.is_file() for path in here_detector):
        raise FileNotFoundError(f"detector=True needs {' and '.join(p.name for p in here_detector)} beside "
                                f"{tflite_path.name}: export with `--detector blazeface` (the default).")
    node_modules = find_litertjs()
    out = Path(out_dir)
    (out / "model").mkdir(parents=True, exist_ok=True)
    (out / "litert" / "wasm").mkdir(parents=True, exist_ok=True)
    for folder in ("core", "wasm-utils"):
        (out / "litert" / folder).mkdir(exist_ok=True)
        package = node_modules / "@litertjs" / folder
        shutil.copy2(package / "dist" / "index.js", out / "litert" / folder / "index.js")
        shutil.copy2(package / "package.json", out / "litert" / folder / "package.json")  # version, licence
    for name in WASM_FILES:
        shutil.copy2(node_modules / "@litertjs" / "core" / "wasm" / name, out / "litert" / "wasm" / name)
    shutil.copy2(tflite_path, out / "model" / "model.tflite")
    shutil.copy2(sidecar_path(tflite_path), out / "model" / "model.json")
    for path in here_detector:
        if detector:
            shutil.copy2(path, out / "model" / path.name)
        else:
            (out / "model" / path.name).unlink(missing_ok=True)  # an earlier page's detector must not stay
    links = ['<a href="model/model.json">sidecar</a>', '<a href="model/model.tflite">model</a>']
    card = tflite_path.with_name("MODEL_CARD.md")
    if card.is_file():
        shutil.copy2(card, out / "model" / "MODEL_CARD.md")
        links.insert(0, '<a href="model/MODEL_CARD.md">model card</a>')
    else:
        (out / "model" / "MODEL_CARD.md").unlink(missing_ok=True)
    here = Path(__file__).with_name("web")
    for name in PAGE_FILES:
        shutil.copy2(here / name, out / name)
    page = (here / "index.html").read_text(encoding="utf-8")
    for key, value in {"TITLE": _html(title), "VERSION": __version__, "HOW": HOW[bool(detector)],
                       "DETECTOR": "true" if detector else "false",
                       "LITERTJS_VERSION": litertjs_version(node_modules), "LINKS": " · ".join(links)}.items():
        page = page.replace("{{" + key + "}}", value)
    (out / "index.html").write_text(page, encoding="utf-8")
    return out / "index.html"


def _html(text: str) -> str:
    import html

    return html.escape(text, quote=True)

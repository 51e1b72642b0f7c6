# Two entry points; each creates the virtual environment when it is missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH_VERSION ?= 2.13.0

.PHONY: demo test lint bench bench-seed bench-adbench bench-throughput bench-serve clean

$(BIN)/aedetect: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of PyTorch first, so that the package's torch>=2.3 needs nothing more.
	$(BIN)/python -m pip show -q torch >/dev/null 2>&1 || $(BIN)/python -m pip install -q torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(BIN)/aedetect

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

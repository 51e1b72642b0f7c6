#!/usr/bin/env bash
# Creates the separate virtual environment in which benchmarks/seed_imbalanced.py runs the
# tutorials' Keras pipeline (shared/reference/seed_keras_reference.py): tensorflow-cpu and
# scikit-learn, kept apart from the project's own environment (PyTorch) so that neither pins the other.
#
# Usage: benchmarks/setup_keras_env.sh [VENV_DIR]   (default: .bench-venv-tf at the repository root)
# Does nothing when the environment already imports tensorflow and sklearn. Exits non-zero when
# tensorflow-cpu cannot be installed; the benchmark then reports the Keras pipeline as unavailable.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${1:-.bench-venv-tf}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import tensorflow, sklearn" >/dev/null 2>&1; then
  echo "Keras benchmark environment ready: $VENV"
  exit 0
fi

echo "Creating the Keras benchmark environment in $VENV (tensorflow-cpu, scikit-learn; a few minutes)"
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q tensorflow-cpu scikit-learn
"$VENV/bin/python" -c "import tensorflow as tf, sklearn; print('tensorflow', tf.__version__, 'scikit-learn', sklearn.__version__)"
echo "Keras benchmark environment ready: $VENV"

"""The hostile-input matrix, run through the real command line (see ``tests/hostile``).

For every case: the documented exit code, one line on standard error that names the problem, no
traceback, and the case's folder unchanged afterwards: inputs byte-identical, nothing half-written,
no temporary file left behind.
"""

from __future__ import annotations

import importlib
import pkgutil
import shutil
from pathlib import Path

import hostile
import numpy as np
import pytest
from conftest import FAST, normal_rows
from hostile import Context, assert_clean_refusal, run_cli, snapshot

from aedetect import AutoencoderDetector, EnsembleDetector

CASES = []
for info in sorted(pkgutil.iter_modules(hostile.__path__), key=lambda m: m.name):
    CASES.extend(importlib.import_module(f"hostile.{info.name}").CASES)


@pytest.fixture(scope="module")
def trained_models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile-models")
    table = AutoencoderDetector(**FAST).fit(normal_rows(200))
    table.save(folder / "table")
    EnsembleDetector(AutoencoderDetector(**FAST), n_members=2).fit(normal_rows(200)).save(folder / "ensemble")
    images = np.random.default_rng(0).random((60, 8, 8)).astype(np.float32)
    AutoencoderDetector(**{**FAST, "epochs": 2}).fit(images).save(folder / "image")
    return {kind: folder / kind for kind in ("table", "ensemble", "image")}


def test_case_names_are_unique():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input_is_refused_cleanly(case, trained_models, tmp_path):
    context = Context(tmp_path, trained_models)
    args = case.build(context)
    before = snapshot(tmp_path)
    result = run_cli([str(a) for a in args], cwd=tmp_path, stdin=case.stdin, timeout=case.timeout)
    assert_clean_refusal(result, case.expect, case.code)
    assert snapshot(tmp_path) == before, "the case's folder changed: an input was modified or output left behind"
    shutil.rmtree(tmp_path, ignore_errors=True)

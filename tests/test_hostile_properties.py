"""Property tests: random bytes and near-valid tables, records and manifests never end in a traceback.

``score`` (files and standard input) may succeed or refuse with exit code 2 and one line; ``load``
may return a detector or raise :class:`ModelFileError`. Anything else (another exception, another
exit code, a non-finite score written out) is a defect. The service's own property test is in
``tests/test_serve_safety.py``.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FAST, normal_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from aedetect import AutoencoderDetector, load
from aedetect.cli import app
from aedetect.persistence.storage import CONFIG_FILE, ModelFileError, seal

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Cell texts a hostile or careless file holds: numbers at the edges of float32/float64, words, blanks.
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            "1e39",
            "-1e39",
            "1e308",
            "1e20",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "",
            " ",
            "x",
            "1,5",
            '"',
            "0x10",
            "1_000",
            "9" * 400,
            "\x00",
            "é",
            "True",
        ]
    ),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("property-model") / "model"
    AutoencoderDetector(**FAST).fit(normal_rows(200)).save(path)
    return path


def _scores_are_finite(path: Path) -> None:
    scores = pd.read_csv(path)["score"].to_numpy(dtype=float)
    assert np.isfinite(scores).all(), scores


def _assert_clean(result) -> None:
    assert result.exit_code in (0, 2), (result.exit_code, result.output, repr(result.exception))
    if result.exit_code == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output


def _score_file(model: Path, folder: Path, content: bytes) -> None:
    """``aedetect score`` on a file holding ``content``: a clean outcome, the input unchanged, and
    either finite scores written or no output at all."""
    source = folder / "in.csv"
    source.write_bytes(content)
    output = folder / "out.csv"
    output.unlink(missing_ok=True)
    result = CliRunner().invoke(app, ["score", str(model), str(source), "-o", str(output)])
    _assert_clean(result)
    assert source.read_bytes() == content
    if result.exit_code == 0:
        _scores_are_finite(output)
    else:
        assert not output.exists()


@settings(PROPERTY)
@given(data=st.binary(max_size=400))
def test_score_random_bytes(model, tmp_path, data):
    _score_file(model, tmp_path, data)


@settings(PROPERTY)
@given(data=st.data())
def test_score_near_valid_csv(model, tmp_path, data):
    # Mostly the training columns (sometimes shuffled, repeated, missing or extra) and rows of about the
    # right length, so that most files get past the header checks and reach the cells.
    header = data.draw(
        st.sampled_from(
            [["a", "b", "c", "d"]] * 6
            + [
                ["d", "c", "b", "a"],
                ["a", "b", "c", "d", "e"],
                ["a", "a", "b", "c", "d"],
                ["a", "b", "c"],
                [""],
                ["a", "b", "c", "d", ""],
            ]
        ),
        label="header",
    )
    width = st.integers(min_value=max(len(header) - 1, 0), max_value=len(header) + 1)
    plain = st.floats(min_value=-10, max_value=10).map(repr)
    # A row of ordinary numbers in which one cell may be hostile, or a row of anything.
    row = st.one_of(
        st.tuples(
            st.lists(plain, min_size=len(header), max_size=len(header)), st.integers(0, len(header) - 1), CELLS
        ).map(lambda t: t[0][: t[1]] + [t[2]] + t[0][t[1] + 1 :]),
        width.flatmap(lambda n: st.lists(CELLS, min_size=n, max_size=n)),
    )
    rows = data.draw(st.lists(row, min_size=1, max_size=5), label="rows")
    text = ",".join(header) + "\n" + "".join(",".join(row) + "\n" for row in rows)
    _score_file(model, tmp_path, text.encode())


@pytest.mark.parametrize("cell", ["1e39", "-1e39", "3.5e38", "1e308", "1e20", "-1e20", "1e-320", "9" * 400])
def test_score_edge_numbers(model, tmp_path, cell):
    """The numbers at the edges of float32 and float64 that random generation rarely hits."""
    text = f"a,b,c,d\n0.1,0.2,0.3,0.4\n0.5,{cell},0.1,0.2\n"
    source = tmp_path / "in.csv"
    source.write_text(text)
    output = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["score", str(model), str(source), "-o", str(output)])
    _assert_clean(result)
    if result.exit_code == 0:
        _scores_are_finite(output)
    else:
        assert not output.exists() and "row" in result.stderr and "'b'" in result.stderr


@settings(PROPERTY)
@given(
    records=st.lists(
        st.one_of(
            st.tuples(
                st.fixed_dictionaries({k: st.floats(min_value=-10, max_value=10) for k in "abcd"}),
                st.sampled_from(["a", "b", "c", "d", "id", "é"]),
                st.one_of(
                    st.floats(),
                    st.integers(min_value=-(10**400), max_value=10**400),
                    st.text(max_size=3),
                    st.none(),
                    st.booleans(),
                ),
            ).map(lambda t: {**t[0], t[1]: t[2]}),
            st.dictionaries(
                st.sampled_from(["a", "b", "c", "d", "id", "é"]),
                st.one_of(
                    st.floats(),
                    st.integers(min_value=-(10**400), max_value=10**400),
                    st.text(max_size=3),
                    st.none(),
                    st.booleans(),
                ),
                max_size=6,
            ),
            st.text(max_size=20),
        ),
        max_size=4,
    )
)
def test_score_stdin_near_valid_json_lines(model, records):
    lines = [json.dumps(r) if isinstance(r, dict) else r.replace("\n", " ") for r in records]
    result = CliRunner().invoke(app, ["score", str(model), "-", "--format", "jsonl"], input="\n".join(lines) + "\n")
    _assert_clean(result)

    def refuse(token):
        pytest.fail(f"non-standard JSON token {token} in the output:\n{result.stdout}")

    for line in result.stdout.splitlines():  # every line written is strict JSON: no bare NaN or Infinity
        json.loads(line, parse_constant=refuse)


def _manifest_values():
    return st.recursive(
        st.one_of(
            st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.text(max_size=8)
        ),
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
        max_leaves=8,
    )


@settings(PROPERTY)
@given(data=st.data())
def test_load_never_crashes_on_a_tampered_manifest(model, tmp_path, data):
    folder = tmp_path / "model"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(model, folder)
    config = json.loads((folder / CONFIG_FILE).read_text())
    keys = sorted(config)
    key = data.draw(st.sampled_from(keys), label="key")
    if isinstance(config[key], dict) and config[key] and data.draw(st.booleans(), label="nested"):
        inner = data.draw(st.sampled_from(sorted(config[key])), label="inner key")
        config[key][inner] = data.draw(_manifest_values(), label="value")
    else:
        config[key] = data.draw(_manifest_values(), label="value")
    # Re-sealed, as a careful tamperer would: the checks behind the checksum are what is tested.
    (folder / CONFIG_FILE).write_text(json.dumps(config if key == "manifest_sha256" else seal(config)))
    try:
        detector = load(folder)
    except ModelFileError as error:
        assert "\n" not in str(error) and str(error)
        return
    # A tampered manifest that still loads must still score sensibly.
    scores = detector.decision_function(normal_rows(5))
    assert all(math.isfinite(s) for s in scores)


@settings(PROPERTY)
@given(data=st.binary(max_size=600), which=st.sampled_from(["model.json", "weights.safetensors"]))
def test_load_never_crashes_on_random_bytes(model, tmp_path, data, which):
    folder = tmp_path / "model"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(model, folder)
    (folder / which).write_bytes(data)
    with pytest.raises(ModelFileError):
        load(folder)

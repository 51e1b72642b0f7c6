"""Reading and writing tables; separating and mapping the label column."""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aedetect.data.io import WRITABLE, read_table, select_features, split_labels, write_table
from aedetect.data.outputs import atomic_write, check_output


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6], "label": [0, 1, 0]})


@pytest.mark.parametrize("name", ["t.csv", "t.parquet", "t.pq"])
def test_written_tables_read_back(table, tmp_path, name):
    path = write_table(table, tmp_path / name)
    pd.testing.assert_frame_equal(read_table(path), table)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


def test_gzipped_csv_and_tsv(table, tmp_path):
    with gzip.open(tmp_path / "t.csv.gz", "wt") as handle:
        table.to_csv(handle, index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.csv.gz"), table)
    table.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.tsv"), table)


def test_csv_without_header(tmp_path):
    (tmp_path / "t.csv").write_text("1,2\n3,4\n")
    frame = read_table(tmp_path / "t.csv", header=False)
    assert list(frame.columns) == ["x0", "x1"] and frame.shape == (2, 2)


def test_npy_reads_as_named_columns(tmp_path):
    np.save(tmp_path / "t.npy", np.arange(6.0).reshape(3, 2))
    frame = read_table(tmp_path / "t.npy")
    assert list(frame.columns) == ["x0", "x1"]
    np.testing.assert_array_equal(frame.to_numpy(), np.arange(6.0).reshape(3, 2))


def test_npz_in_the_adbench_layout(tmp_path):
    np.savez(tmp_path / "t.npz", X=np.ones((4, 3)), y=np.array([0.0, 1.0, 0.0, 0.0]))
    frame = read_table(tmp_path / "t.npz")
    assert list(frame.columns) == ["x0", "x1", "x2", "y"]
    assert frame["y"].tolist() == [0, 1, 0, 0] and frame["y"].dtype == np.int64
    np.savez(tmp_path / "unlabelled.npz", X=np.ones((2, 2)))
    assert list(read_table(tmp_path / "unlabelled.npz").columns) == ["x0", "x1"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.with_suffix(".csv").write_text(""), "is empty"),
        (lambda p: p.with_suffix(".csv").write_text("a,b\n"), "has no rows"),
        (lambda p: np.save(p.with_suffix(".npy"), np.zeros(3)), "a table needs 2 dimensions"),
        (lambda p: np.savez(p.with_suffix(".npz"), data=np.zeros((2, 2))), "has no 'X' array"),
        (lambda p: np.savez(p.with_suffix(".npz"), X=np.zeros(2)), "a table needs 2 dimensions"),
        (lambda p: p.with_suffix(".parquet").write_text("not parquet"), "not a parquet file"),
        (lambda p: p.with_suffix(".csv").write_text('a,b\n1,"2\n'), "Cannot parse"),
        (lambda p: p.with_suffix(".xlsx").write_text("x"), "unknown file type"),
    ],
)
def test_unreadable_files_are_value_errors(tmp_path, make, message):
    make(tmp_path / "t")
    (path,) = tmp_path.iterdir()
    with pytest.raises(ValueError, match=message):
        read_table(path)


def test_object_arrays_are_not_unpickled(tmp_path):
    np.save(tmp_path / "t.npy", np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle=False"):
        read_table(tmp_path / "t.npy")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="is a directory"):
        read_table(tmp_path)


def test_split_labels_with_declared_labels():
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "kind": ["normal.", "smurf.", "normal.", "smurf."]})
    features, labels = split_labels(frame, "kind", "normal.", "smurf.")
    assert list(features.columns) == ["x"]
    assert labels.tolist() == [0, 1, 0, 1] and labels.dtype == np.int64


def test_split_labels_star_means_every_other_value_is_an_anomaly():
    frame = pd.DataFrame({"x": [1, 2, 3], "kind": ["normal.", "smurf.", "neptune."]})
    _, labels = split_labels(frame, "kind", "normal.", None)
    assert labels.tolist() == [0, 1, 1]


def test_split_labels_rejects_undeclared_values():
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "label": [0, 1, 2, 3]})
    with pytest.raises(ValueError, match=r"values other than the declared normal 0 and anomaly 1: \['2', '3'\]"):
        split_labels(frame, "label")


def test_split_labels_treats_1_and_1_point_0_alike():
    floats = pd.DataFrame({"x": [1, 2, 3], "label": [0.0, 1.0, 0.0]})
    assert split_labels(floats, "label")[1].tolist() == [0, 1, 0]
    assert split_labels(floats, "label", "0", "1.0")[1].tolist() == [0, 1, 0]
    texts = pd.DataFrame({"x": [1, 2], "label": [" 0 ", "1"]})
    assert split_labels(texts, "label", 0, 1)[1].tolist() == [0, 1]


def test_split_labels_errors_and_no_label_column():
    frame = pd.DataFrame({"x": [1, 2], "label": [0, None]})
    assert split_labels(frame, None)[1] is None
    with pytest.raises(ValueError, match="Label column 'y' is not in the data"):
        split_labels(frame, "y")
    with pytest.raises(ValueError, match="has 1 missing value"):
        split_labels(frame, "label")


def test_select_features(table):
    assert list(select_features(table, ["b", "a"]).columns) == ["b", "a"]
    assert list(select_features(table, None, drop=["label", "absent"]).columns) == ["a", "b"]
    with pytest.raises(ValueError, match=r"Feature column\(s\) \['c'\] are not in the data"):
        select_features(table, ["a", "c"])


def test_write_table_errors(table, tmp_path):
    with pytest.raises(ValueError, match="unknown output type"):
        write_table(table, tmp_path / "t.json")
    with pytest.raises(ValueError, match="does not exist; create it first"):
        write_table(table, tmp_path / "missing" / "t.csv")
    assert list(tmp_path.iterdir()) == []


def test_write_table_replaces_an_existing_file(table, tmp_path):
    write_table(table, tmp_path / "t.csv")
    write_table(table.iloc[:1], tmp_path / "t.csv")
    assert len(read_table(tmp_path / "t.csv")) == 1


# -- outputs: the one check every command runs, and temporary files --------------------------------


def test_an_output_that_is_an_input_is_refused(table, tmp_path):
    data = write_table(table, tmp_path / "in.csv")
    (tmp_path / "link.csv").symlink_to("in.csv")
    os.link(data, tmp_path / "hard.csv")
    for output in (data, tmp_path / "link.csv", tmp_path / "hard.csv", tmp_path / "sub" / ".." / "in.csv"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(ValueError, match=r"it is the input .*give another output path"):
            check_output(output, inputs=[data])
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text("{}")
    with pytest.raises(ValueError, match="it is a file of the input .*model"):
        check_output(model / "model.json", folders=[model])
    # A new file, another file, a dangling link, and a table beside images in a data folder are fine.
    (tmp_path / "dangling.csv").symlink_to("nowhere.csv")
    (tmp_path / "images").mkdir()
    write_table(table, tmp_path / "images" / "scores.csv")
    for output in (tmp_path / "new.csv", tmp_path / "dangling.csv", tmp_path / "images" / "scores.csv"):
        assert (
            check_output(output, inputs=[data, tmp_path / "images", "-", "dataset:wine", None], folders=[model])
            == output
        )


def test_check_output_refuses_what_cannot_be_written(table, tmp_path):
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(ValueError, match="it is a directory; give a file name"):
        check_output(tmp_path / "folder.csv")
    with pytest.raises(ValueError, match=r"unknown output type; use \.csv or \.parquet"):
        check_output(tmp_path / "t.json", suffixes=WRITABLE)
    with pytest.raises(ValueError, match="does not exist; create it first"):
        check_output(tmp_path / "missing" / "t.csv")
    # A folder output (a model) may not be a file, nor hold an input that replacing it would delete.
    data = write_table(table, tmp_path / "folder.csv" / "in.csv")
    with pytest.raises(ValueError, match="holds the input"):
        check_output(tmp_path / "folder.csv", inputs=[data], directory=True)
    with pytest.raises(ValueError, match="a file of that name exists"):
        check_output(data, directory=True)
    assert check_output(tmp_path / "model", inputs=[data], directory=True) == tmp_path / "model"


def test_a_directory_output_is_refused_with_one_sentence(table, tmp_path):
    (tmp_path / "t.csv").mkdir()
    with pytest.raises(ValueError, match="it is a directory"):
        write_table(table, tmp_path / "t.csv")
    with pytest.raises(ValueError, match="it is a directory"):
        atomic_write(tmp_path / "t.csv", lambda temporary: None)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_temporary_files_of_writers_that_died_are_removed(table, tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    stale = tmp_path / f".t.csv.{dead}.ab_cd123.tmp"
    kept = [
        tmp_path / f".t.csv.{alive}.ab_cd123.tmp",  # a writer still running
        tmp_path / ".t.csv.ab_cd123.tmp",  # not our pattern: no PID
        tmp_path / f".u.csv.{dead}.ab_cd123.tmp",  # another output's
        tmp_path / f".t.csv.{dead}.ab_cd123.tmp.bak",  # not ours
    ]
    for path in (stale, *kept):
        path.write_text("partial")
    seen = []
    atomic_write(tmp_path / "t.csv", lambda temporary: seen.append(Path(temporary).name))
    assert re.fullmatch(rf"\.t\.csv\.{alive}\.[a-z0-9_]{{8}}\.tmp", seen[0])
    assert not stale.exists() and all(path.exists() for path in kept)
    assert (tmp_path / "t.csv").exists()


def test_sigterm_during_a_write_removes_the_temporary_file(tmp_path):
    script = (
        "import os, signal, sys\n"
        "from aedetect.data.outputs import atomic_write\n"
        "def write(temporary):\n"
        "    open(temporary, 'w').write('partial')\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "atomic_write(sys.argv[1], write)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "t.csv")], capture_output=True)
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_signal_handlers_come_back_after_a_write(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    during = []
    atomic_write(tmp_path / "t.csv", lambda temporary: during.append(signal.getsignal(signal.SIGTERM)))
    assert signal.getsignal(signal.SIGTERM) is before
    assert during[0] is not before or before is not signal.SIG_DFL


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = write_table(pd.DataFrame({"a": [1.0]}), tmp_path / "out.csv")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode

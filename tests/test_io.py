"""Reading and writing tables; separating and mapping the label column."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from aedetect.data.io import read_table, select_features, split_labels, write_table


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
    with pytest.raises(
        ValueError, match=r"values other than the declared normal 0 and anomaly 1: \['2', '3'\]"
    ):
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

"""Readers and writers for tables: CSV (optionally gzipped), Parquet, NumPy ``.npy`` / ``.npz``.

``.npz`` files follow the ADBench layout: an ``X`` matrix and an optional ``y`` vector (1 = anomaly),
read as columns ``x0, x1, ...`` and ``y``. Tables are written through :mod:`aedetect.data.outputs`,
which checks the output and writes it atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# atomic_write, check_output and check_output_folder are also named here, where other modules import them.
from aedetect.data.outputs import atomic_write, check_output, check_output_folder  # noqa: F401

READABLE = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq", ".npy", ".npz")
WRITABLE = (".csv", ".parquet", ".pq")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(READABLE, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def read_table(path, header: bool = True) -> pd.DataFrame:
    """Read a file into a DataFrame; raise ``ValueError`` with a clear message when it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Data file {str(path)!r} does not exist; check the path.")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory; give a data file ({', '.join(READABLE)}).")
    suffix = _suffix(path)
    try:
        if suffix in (".csv", ".csv.gz", ".tsv"):
            if header:
                _refuse_duplicated_names(path, "\t" if suffix == ".tsv" else ",")
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", header=0 if header else None)
            if not header:
                frame.columns = [f"x{i}" for i in range(frame.shape[1])]
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            if array.ndim != 2:
                raise ValueError(f"{str(path)!r} holds an array of shape {array.shape}; a table needs 2 dimensions.")
            frame = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                if "X" not in archive.files:
                    raise ValueError(
                        f"{str(path)!r} has no 'X' array (keys: {archive.files}); use the ADBench layout X, y."
                    )
                array = archive["X"]
                labels = archive["y"] if "y" in archive.files else None
            if array.ndim != 2:
                raise ValueError(f"'X' in {str(path)!r} has shape {array.shape}; a table needs 2 dimensions.")
            frame = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
            if labels is not None:
                frame["y"] = np.asarray(labels).astype(np.int64).ravel()
        else:
            raise ValueError(f"Cannot read {str(path)!r}: unknown file type; use one of {', '.join(READABLE)}.")
    except pd.errors.EmptyDataError:
        raise ValueError(f"Data file {str(path)!r} is empty; give a file with a header and rows.") from None
    except pd.errors.ParserError as error:
        raise ValueError(f"Cannot parse {str(path)!r} as CSV: {str(error).splitlines()[0]}") from None
    except (OSError, EOFError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"Cannot read {str(path)!r}: {error}") from None
    if len(frame) == 0:
        raise ValueError(f"Data file {str(path)!r} has no rows; give a file with data.")
    return frame


def _refuse_duplicated_names(path: Path, delimiter: str) -> None:
    """pandas renames a repeated column name ("a", "a.1"): a model must not learn under a made-up name."""
    import csv
    import gzip
    from collections import Counter

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
        names = next(csv.reader(handle, delimiter=delimiter), [])
    seen = [name for name in names if name]  # pandas names blank ones "Unnamed: N"
    counts = Counter(seen)
    duplicated = [name for name in dict.fromkeys(seen) if counts[name] > 1]
    if duplicated:
        more = f" and {len(duplicated) - 5} more" if len(duplicated) > 5 else ""
        raise ValueError(
            f"Data file {str(path)!r} has duplicated column names {duplicated[:5]}{more}; "
            "give each column its own name."
        )


def split_labels(
    frame: pd.DataFrame,
    label_column: str | None,
    normal_label: str | int = 0,
    anomaly_label: str | int | None = 1,
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Separate the label column and map it to 0 (normal) / 1 (anomaly).

    ``anomaly_label=None`` (``"*"`` on the command line) treats every value other than
    ``normal_label`` as an anomaly; otherwise any value other than the two declared ones is an error.
    """
    if label_column is None:
        return frame, None
    if label_column not in frame.columns:
        raise ValueError(f"Label column {label_column!r} is not in the data; columns are {list(frame.columns)[:10]}.")
    raw = frame[label_column]
    features = frame.drop(columns=[label_column])
    if raw.isna().any():
        raise ValueError(
            f"Label column {label_column!r} has {int(raw.isna().sum())} missing value(s); label every row."
        )
    text = raw.astype(str).str.strip()
    # Normalise the column like the declared labels (1 and 1.0 are the same label), once per value.
    as_text = text.map({value: _text(value) for value in text.unique()})
    normal = as_text == _text(normal_label)
    if anomaly_label is None:
        return features, (~normal).to_numpy().astype(np.int64)
    anomaly = as_text == _text(anomaly_label)
    other = ~(normal | anomaly)
    if other.any():
        found = sorted(as_text[other].unique().tolist())[:5]
        raise ValueError(
            f"Label column {label_column!r} has values other than the declared normal {normal_label!r} and "
            f"anomaly {anomaly_label!r}: {found}; declare them (--normal-label / --anomaly-label, or '*' for "
            "'every other value is an anomaly')."
        )
    return features, anomaly.to_numpy().astype(np.int64)


def _text(value) -> str:
    text = str(value).strip()
    try:  # 1 and 1.0 are the same label
        number = float(text)
        return str(int(number)) if number.is_integer() else text
    except ValueError:
        return text


def select_features(frame: pd.DataFrame, columns: Sequence[str] | None, drop: Sequence[str] = ()) -> pd.DataFrame:
    """Keep ``columns`` (all when ``None``) minus ``drop``; unknown names are an error."""
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"Feature column(s) {missing} are not in the data; columns are {list(frame.columns)[:10]}."
            )
        frame = frame[list(columns)]
    return frame.drop(columns=[c for c in drop if c in frame.columns])


def write_table(frame: pd.DataFrame, path) -> Path:
    """Write CSV or Parquet atomically: to a temporary file in the same folder, then rename."""
    path = check_output(path, suffixes=WRITABLE)
    if path.name.lower().endswith(".csv"):
        return atomic_write(path, lambda temporary: frame.to_csv(temporary, index=False))
    return atomic_write(path, lambda temporary: frame.to_parquet(temporary, index=False))

"""Where the files of :mod:`aedetect.batch.cluster_files` are: inputs (paths or fsspec URLs, globs
allowed) expanded to the files they name, the output folder created or checked empty, an input as a
local file, and written parts removed when a run fails.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from aedetect.batch.cluster import is_url, local_path
from aedetect.batch.files import file_kind
from aedetect.data.outputs import check_output


def as_location(value) -> str:
    """A path or URL as the user wrote it: ``pathlib.Path`` (what the command line hands over) folds the
    ``//`` of ``s3://bucket`` into one slash, which is put back."""
    text = os.fspath(value)
    match = re.fullmatch(r"([a-zA-Z][a-zA-Z0-9+.-]+):/(?!/)(.*)", text, re.S)
    if match is None:
        return text
    scheme, rest = match.groups()
    return f"/{rest}" if scheme == "file" else f"{scheme}://{rest}"


def expand(inputs: str | Sequence[str]) -> list[str]:
    """The files that ``inputs`` (paths or URLs, globs allowed) name, sorted, each once; only CSV and Parquet."""
    import fsspec

    names = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    files: list[str] = []
    for name in map(os.fspath, names):
        try:
            opened = fsspec.open_files(name)
        except (ImportError, ValueError) as error:  # an unknown protocol, or its package missing
            raise ValueError(f"Cannot read {name!r}: {error}") from None
        except OSError as error:
            raise ValueError(f"Cannot read {name!r}: {error}") from None
        found = [opened.fs.unstrip_protocol(item.path) if is_url(name) else item.path for item in opened]
        found = [path for path in found if opened.fs.isfile(opened.fs._strip_protocol(path))]
        if not found:
            raise FileNotFoundError(f"No file matches {name!r}; check the path or URL.")
        unknown = [path for path in found if file_kind(path) is None]
        if unknown:
            raise ValueError(f"Cannot score {unknown[0]!r}: use CSV or Parquet files.")
        files += found
    return sorted(dict.fromkeys(files))


def prepare_folder(output: str, files: Sequence[str]) -> str:
    """Create the output folder, or check that it is empty; return its name without a trailing slash."""
    output = os.fspath(output)
    if not is_url(output):
        path = check_output(Path(local_path(output)).expanduser().absolute(), inputs=files, directory=True)
        if path.is_dir() and any(path.iterdir()):
            raise ValueError(f"Output folder {output!r} is not empty; give a new or empty folder for the parts.")
        path.mkdir(exist_ok=True)
        return str(path)
    import fsspec

    fs, root = fsspec.core.url_to_fs(output)
    root = root.rstrip("/")
    if fs.exists(root) and (not fs.isdir(root) or fs.ls(root, detail=False)):
        raise ValueError(f"Output folder {output!r} is not empty; give a new or empty folder for the parts.")
    fs.makedirs(root, exist_ok=True)
    return output.rstrip("/")


@contextmanager
def local_copy(name: str) -> Iterator[Path]:
    """The input as a local file: the file itself, or a temporary copy of a URL's."""
    if not is_url(name):
        yield Path(local_path(name))
        return
    fs, path = filesystem(name)
    with tempfile.TemporaryDirectory(prefix="aedetect-input-") as folder:
        local = Path(folder, Path(path).name)
        fs.get_file(path, str(local))
        yield local


def filesystem(url: str):
    """The fsspec file system of ``url`` and the path on it."""
    import fsspec

    return fsspec.core.url_to_fs(url)


def remove_outputs(outputs: Sequence[str]) -> None:
    """Remove the written parts ``outputs`` (paths or URLs), as far as can be."""
    for name in outputs:
        try:
            if is_url(name):
                fs, path = filesystem(name)
                fs.rm(path)
            else:
                Path(local_path(name)).unlink(missing_ok=True)
        except OSError:
            pass  # the error that made us clean up is the one to report


__all__ = ["as_location", "expand", "prepare_folder", "local_copy", "filesystem", "remove_outputs"]

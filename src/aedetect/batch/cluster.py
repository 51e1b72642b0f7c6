"""Scoring on a cluster: what Dask and Spark share.

A model reaches the workers as a :class:`ModelSource`: a path or fsspec URL that every worker can read
(``/shared/models/m``, ``s3://bucket/models/m``), or the files of a fitted model shipped with the tasks;
either way the SHA-256 of its manifest goes along. Each worker process loads the model once (a URL is
first copied to a local temporary folder) with :func:`aedetect.load`, which checks the manifest's seal
and the weights' checksum, and keeps it for the next partitions under the key (location, manifest
checksum); a model folder replaced while a job runs is refused, not mixed in.

Every partition goes through :class:`~aedetect.batch.core.RowScoringCore` (:func:`score_frame`), so a
row gets the same score, bit for bit, whatever partition it lands in: the core pads each forward batch
to a whole number of blocks. Bitwise equality holds between machines with the same CPU instruction set
and the same torch build; across mixed hardware, expect differences of about 1e-6 relative.

Dask and PySpark are optional (``pip install 'aedetect[dask]'``, ``'aedetect[spark]'``) and imported only
when used.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aedetect.batch.core import RowScoringCore, ScoredRows
from aedetect.persistence.storage import CONFIG_FILE, ENSEMBLE_FILE

#: Models kept per worker process (a job uses one; a few more cover a worker shared by several jobs).
CACHED_MODELS = 4
#: Column of the output that lists, for each flagged row, the features that contribute most (JSON).
EXPLANATION_COLUMN = "top_features"


def require(module: str, extra: str):
    """Import ``module``, or raise ``ImportError`` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"Scoring with {extra.capitalize()} needs the '{extra}' extra: pip install 'aedetect[{extra}]'."
        ) from None


def is_url(location: str) -> bool:
    """Whether ``location`` names a file system other than the local one (``s3://``, ``memory://``...)."""
    return "://" in location and not location.startswith("file://")


def local_path(location: str) -> str:
    return location[len("file://") :] if location.startswith("file://") else location


@dataclass(frozen=True)
class ModelSource:
    """Where the workers read the model from, and the SHA-256 of its manifest.

    ``location`` is an absolute path or an fsspec URL; for a fitted model passed as an object,
    ``files`` holds its saved folder (relative path, bytes) and travels with the tasks.
    """

    location: str
    checksum: str
    files: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, model) -> ModelSource:
        """The source of ``model``: a fitted detector or ensemble, or the path or URL of a saved one."""
        if isinstance(model, ModelSource):
            return model
        if callable(getattr(model, "decision_function", None)) and callable(getattr(model, "save", None)):
            return cls._packed(model)
        if not isinstance(model, str | os.PathLike):
            raise TypeError(
                f"model must be a fitted detector or the path or URL of a saved model; got {type(model).__name__}."
            )
        location = os.fspath(model)
        if is_url(location):
            location = location.rstrip("/")
        else:
            location = str(Path(local_path(location)).expanduser().resolve())
        return cls(location, _manifest_checksum(location))

    @classmethod
    def _packed(cls, model) -> ModelSource:
        model._check_fitted()
        with tempfile.TemporaryDirectory(prefix="aedetect-model-") as folder:
            root = Path(folder) / "model"
            model.save(root)
            files = tuple(
                (path.relative_to(root).as_posix(), path.read_bytes())
                for path in sorted(root.rglob("*"))
                if path.is_file()
            )
        checksum = _manifest_checksum(None, dict(files))
        return cls(f"fitted model {checksum[:12]}", checksum, files)

    def load(self):
        """The detector, loaded once per process and kept (see :data:`CACHED_MODELS`)."""
        key = (self.location, self.checksum)
        with _LOCK:
            if key in _MODELS:
                _MODELS.move_to_end(key)
                return _MODELS[key]
            detector = self._fetch()
            _MODELS[key] = detector
            while len(_MODELS) > CACHED_MODELS:
                _MODELS.popitem(last=False)
            return detector

    def _fetch(self):
        from aedetect.persistence.load import load

        if not self.files and not is_url(self.location):
            self._check(_manifest_checksum(self.location))
            return load(self.location)
        with tempfile.TemporaryDirectory(prefix="aedetect-model-") as folder:
            root = Path(folder) / "model"
            if self.files:
                for name, data in self.files:
                    (root / name).parent.mkdir(parents=True, exist_ok=True)
                    (root / name).write_bytes(data)
            else:
                _download(self.location, root)
            self._check(_manifest_checksum(str(root)))
            return load(root)  # every tensor is read here: the copy is not needed afterwards

    def _check(self, checksum: str) -> None:
        if checksum != self.checksum:
            raise ValueError(
                f"The model at {self.location!r} changed after scoring started (its manifest differs); "
                "score again once the model is no longer being replaced."
            )


_MODELS: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


def _manifest_checksum(location: str | None, files: dict | None = None) -> str:
    """SHA-256 of the model folder's manifest (``ensemble.json`` or ``model.json``), read from
    ``files`` or from ``location`` (a path or URL)."""
    if files is not None:
        data = files.get(ENSEMBLE_FILE, files.get(CONFIG_FILE))
        return hashlib.sha256(data or b"").hexdigest()
    fs, root = _filesystem(location)
    for name in (ENSEMBLE_FILE, CONFIG_FILE):
        path = f"{root}/{name}"
        try:
            with fs.open(path, "rb") as handle:
                return hashlib.sha256(handle.read()).hexdigest()
        except FileNotFoundError:
            continue
        except OSError as error:
            raise ValueError(f"Cannot read the model at {location!r}: {error}") from None
    if fs.exists(root):
        raise ValueError(
            f"{location!r} is not a model folder (it has no {CONFIG_FILE}); give a folder written by "
            "'aedetect train' or save()."
        )
    raise FileNotFoundError(f"Model folder {location!r} does not exist; check the path or URL.")


def _filesystem(location: str):
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(location)
    except (ImportError, ValueError) as error:  # an unknown protocol, or its package missing
        raise ValueError(f"Cannot open {location!r}: {error}") from None
    return fs, root.rstrip("/") or "/"


def _download(location: str, target: Path) -> None:
    """Copy the model folder at the URL ``location`` into the new local folder ``target``."""
    fs, root = _filesystem(location)
    target.mkdir(parents=True)
    for path in fs.find(root):
        name = Path(target, os.path.relpath(path, root))
        name.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(path, str(name))


# -- options and one partition ---------------------------------------------------------------------
@dataclass(frozen=True)
class ScoringOptions:
    """How each partition is scored: the options of :class:`~aedetect.batch.core.RowScoringCore`, and
    ``explain`` features listed per flagged row (0: none)."""

    id_column: str | None = None
    drop: tuple[str, ...] = ()
    only_anomalies: bool = False
    threshold: object = None
    explain: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.explain, bool) or not isinstance(self.explain, int | np.integer) or self.explain < 0:
            raise ValueError(f"explain must be an int >= 0 (features listed per flagged row); got {self.explain!r}.")
        if isinstance(self.drop, str):
            raise TypeError(f"drop must be a list of column names; got the string {self.drop!r}.")
        object.__setattr__(self, "drop", tuple(self.drop))

    def core(self, detector) -> RowScoringCore:
        return RowScoringCore(
            detector,
            id_column=self.id_column,
            drop=self.drop,
            only_anomalies=self.only_anomalies,
            threshold=self.threshold,
        )


def score_frame(frame: pd.DataFrame, source: ModelSource, options: ScoringOptions) -> pd.DataFrame:
    """One partition (a pandas DataFrame) scored by the core: its pass-through columns with ``score``,
    ``is_anomaly`` and, with ``explain``, ``top_features``."""
    core = options.core(source.load())
    if len(frame) == 0:
        return empty_output(frame, core, options)
    features = core.features(frame)
    scored = core.score_features(features)
    out = core.output(frame, scored)
    if options.explain:
        out[EXPLANATION_COLUMN] = explanations(core, features, scored, options.explain)[core.kept(scored)]
    return out


def explanations(core: RowScoringCore, features, scored: ScoredRows, top: int) -> np.ndarray:
    """For each row, the ``top`` features that contribute most to a flagged row's score as JSON
    (``[{"feature", "error", "contribution"}, ...]``); None for rows that are not flagged."""
    out = np.full(len(scored.flags), None, dtype=object)
    flagged = np.flatnonzero(scored.flags)
    for row, parts in zip(flagged, core.explain(features, flagged, top), strict=True):
        out[row] = json.dumps([{"feature": p.feature, "error": p.error, "contribution": p.contribution} for p in parts])
    return out


def empty_output(frame: pd.DataFrame, core: RowScoringCore, options: ScoringOptions) -> pd.DataFrame:
    """The output of no rows: the columns and types that :func:`score_frame` gives (Dask's ``meta``)."""
    out = frame.iloc[:0][core.pass_through(frame.columns)].copy()
    out["score"] = np.empty(0, dtype=np.float64)
    out["is_anomaly"] = np.empty(0, dtype=np.int64)
    if options.explain:
        out[EXPLANATION_COLUMN] = pd.Series([], dtype=object)
    return out


def prepare(model, columns, options: ScoringOptions) -> tuple[ModelSource, RowScoringCore]:
    """The model's source, and its core after checking ``columns`` on the driver: a missing model,
    a bad option or a missing column is one clear error before any task starts."""
    source = ModelSource.of(model)
    core = options.core(source.load())
    core.check_columns(list(columns))
    return source, core


__all__ = ["ModelSource", "ScoringOptions", "score_frame", "empty_output", "prepare", "require", "EXPLANATION_COLUMN"]

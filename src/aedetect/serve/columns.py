"""Request bodies to feature tables: strict JSON, read straight into columns where the body allows it.

A body of plain numbers (every record holding every feature once, or one list per feature) goes from
orjson's parse into one float64 matrix in the model's column order, scored as it is: no pydantic
model, no DataFrame. Anything else (text, null, true/false, a missing or unknown feature,
a field of the wrong type) is validated by :class:`~aedetect.serve.schemas.ScoreRequest` and read
as before, so both paths give the same scores and the same 4xx messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import orjson
import pandas as pd
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from aedetect.serve.http import strict_json
from aedetect.serve.schemas import MAX_RULE_CHARS, MAX_TOP_FEATURES, ScoreRequest

_FIELDS = frozenset(ScoreRequest.model_fields)


@dataclass
class Rows:
    """A request's rows with the request's options: a float64 matrix of the model's columns in
    training order (a body of plain numbers), or a DataFrame of them (any other body)."""

    features: np.ndarray | pd.DataFrame
    threshold: float | str | None
    top_features: int


def parse_json(body: bytes):
    """The body parsed as RFC 8259 JSON, or a 4xx saying what is wrong with it.

    orjson refuses what a model cannot score or a response cannot carry (``NaN``, ``Infinity``,
    numbers beyond a 64-bit float, lone surrogates, bad UTF-8, deep nesting); when it refuses a
    body, :func:`~aedetect.serve.http.strict_json` reads it again to name the problem.
    """
    if not body:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return strict_json(body)


def request_rows(body: bytes, columns: list[str], numeric: list[str], max_rows: int) -> Rows:
    """The rows of a JSON scoring request; ``HTTPException`` / ``RequestValidationError`` when refused."""
    parsed = parse_json(body)
    if len(numeric) == len(columns) and not _may_hold_booleans(body):
        rows = _plain_numbers(parsed, columns, max_rows)
        if rows is not None:
            return rows
    try:  # read again by Python's rules: orjson turns integers beyond 64 bits into floats
        request = ScoreRequest.model_validate(strict_json(body))
    except ValidationError as error:
        problems = [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        raise RequestValidationError(problems) from None
    return Rows(_frame(request, columns, numeric, max_rows), request.threshold, request.top_features)


def _may_hold_booleans(body: bytes) -> bool:
    """Whether ``body`` may hold ``true`` or ``false``, which NumPy would read as numbers among numbers.

    (``null`` needs no search: it makes an object array, which :func:`_plain_numbers` refuses.) A
    search for one byte is a ``memchr``; the 4-byte searches run only when a body holds ``u`` or ``f``.
    """
    return (b"u" in body and b"true" in body) or (b"f" in body and b"false" in body)


def _plain_numbers(parsed, columns: list[str], max_rows: int) -> Rows | None:
    """The rows of a body of plain numbers, or None for any other body (validated the long way)."""
    if type(parsed) is not dict or not parsed.keys() <= _FIELDS:
        return None
    threshold, top = parsed.get("threshold"), parsed.get("top_features", 3)
    if type(top) is not int or not 0 <= top <= MAX_TOP_FEATURES:
        return None
    if not (
        threshold is None
        or (type(threshold) is float and math.isfinite(threshold))
        or type(threshold) is int
        or (type(threshold) is str and len(threshold) <= MAX_RULE_CHARS)
    ):
        return None
    records, given = parsed.get("records"), parsed.get("columns")
    try:
        if records is not None and given is None and type(records) is list:
            _check_count(len(records), max_rows)
            if not records or set(map(len, records)) != {len(columns)}:
                return None
            get = itemgetter(*columns) if len(columns) > 1 else (lambda record: (record[columns[0]],))
            matrix = np.array(list(map(get, records)))
        elif given is not None and records is None and type(given) is dict and len(given) == len(columns):
            lists = [given[c] for c in columns]
            if any(type(values) is not list for values in lists) or len(set(map(len, lists))) != 1:
                return None
            _check_count(len(lists[0]), max_rows)
            matrix = np.array(lists).T
        else:
            return None
    except (KeyError, TypeError, ValueError):  # a record that is not an object, a missing feature, ragged lists
        return None
    if matrix.ndim != 2 or matrix.dtype.kind not in "iuf" or not len(matrix):
        return None
    return Rows(matrix.astype(np.float64, copy=False), threshold, top)


def _check_count(n_rows: int, max_rows: int) -> None:
    if n_rows > max_rows:
        raise HTTPException(413, f"{n_rows} rows is more than this server scores per request ({max_rows}); split them.")


def _frame(request: ScoreRequest, columns: list[str], numeric: list[str], max_rows: int) -> pd.DataFrame:
    if (request.records is None) == (request.columns is None):
        raise HTTPException(422, "Give the rows either as 'records' or as 'columns' (exactly one of them).")
    if request.records is not None:
        n_rows, names = len(request.records), set().union(*(r.keys() for r in request.records))
    else:
        lengths = {len(v) for v in request.columns.values()}
        if len(lengths) > 1:
            raise HTTPException(
                422, f"Every column must have the same number of values; got lengths {sorted(lengths)}."
            )
        n_rows, names = (lengths.pop() if lengths else 0), set(request.columns)
    _check_count(n_rows, max_rows)
    if n_rows == 0:
        raise HTTPException(422, "There are no rows to score.")
    unknown, missing = sorted(names - set(columns)), [c for c in columns if c not in names]
    if unknown:
        shown = [name[:60] for name in unknown[:5]]
        raise HTTPException(422, f"Unknown feature(s) {shown}; the model's features are {columns[:20]}.")
    if request.records is not None:
        incomplete = next((i for i, r in enumerate(request.records) if len(r) != len(columns)), None)
        if incomplete is not None:
            lacking = [c for c in columns if c not in request.records[incomplete]]
            raise HTTPException(422, f"Record {incomplete} lacks feature(s) {lacking[:5]}; give every feature.")
        return _nulls_as_nan(pd.DataFrame.from_records(request.records, columns=columns), numeric)
    if missing:
        raise HTTPException(422, f"Missing feature(s) {missing[:5]}; give every feature.")
    return _nulls_as_nan(pd.DataFrame({c: request.columns[c] for c in columns}), numeric)


def _nulls_as_nan(frame: pd.DataFrame, numeric: list[str]) -> pd.DataFrame:
    """JSON null in a numeric column is a missing number (NaN), not text: impute or reject it as such."""
    for column in numeric:
        values = frame[column]
        if values.dtype == object and all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values
        ):
            frame[column] = values.astype(np.float64)
    return frame


__all__ = ["Rows", "parse_json", "request_rows"]

"""The service reads a body of plain numbers straight into a matrix; every other body goes through a
table. Both give the detector's scores bit for bit, and small requests batched together keep theirs."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest
from conftest import FAST, batched
from fastapi.testclient import TestClient

from aedetect import AutoencoderDetector
from aedetect.batch.core import RowScoringCore
from aedetect.serve.app import ServedModel, create_app
from aedetect.serve.batching import SmallRequestBatcher
from aedetect.serve.columns import request_rows

COLUMNS = ["fuel", "b", "c", "d"]  # a name holding "u" and "f": the boolean search runs in full


@pytest.fixture(scope="module")
def frame(normal_frame) -> pd.DataFrame:
    return normal_frame.set_axis(COLUMNS, axis=1)


@pytest.fixture(scope="module")
def probe(fresh_normals, outliers) -> pd.DataFrame:
    return pd.concat([fresh_normals.iloc[:25], outliers], ignore_index=True).set_axis(COLUMNS, axis=1)


@pytest.fixture(scope="module")
def detectors(frame) -> dict[str, AutoencoderDetector]:
    categorical = frame.assign(kind=np.where(frame["b"] > 0, "up", "down"))
    return {
        "numeric": AutoencoderDetector(**FAST).fit(frame),
        "imputed": AutoencoderDetector(**{**FAST, "epochs": 3}, impute="median").fit(frame),
        "categorical": AutoencoderDetector(**{**FAST, "epochs": 3}, categorical_features=["kind"]).fit(categorical),
    }


@pytest.fixture(scope="module")
def client(detectors):
    app = create_app({name: ServedModel(name, d) for name, d in detectors.items()}, max_rows=100)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


def scores(client, model: str, body: dict) -> np.ndarray:
    response = client.post(
        f"/models/{model}/score", content=orjson.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    return np.asarray(orjson.loads(response.content)["scores"], dtype=np.float64)


def same_bits(got: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_array_equal(got.view(np.uint64), np.asarray(expected, dtype=np.float64).view(np.uint64))


@pytest.mark.parametrize("rows", [1, 3, 35])
def test_plain_numbers_score_bit_for_bit_as_the_detector(client, detectors, probe, rows):
    table = probe.iloc[:rows].copy()
    table["d"] = np.rint(table["d"] * 3)  # whole numbers travel as JSON integers
    records = [{c: (int(v) if c == "d" else float(v)) for c, v in row.items()} for row in table.to_dict("records")]
    expected = detectors["numeric"].decision_function(table)
    same_bits(scores(client, "numeric", {"records": records}), expected)
    same_bits(scores(client, "numeric", {"columns": table.to_dict("list"), "top_features": 0}), expected)


def test_missing_values_and_categories_go_through_a_table_and_score_as_the_detector(client, detectors, probe):
    holes = probe.iloc[:6].copy()
    holes.loc[holes.index[2], "c"] = np.nan  # sent as null, imputed as the detector imputes it
    records = [{c: (None if pd.isna(v) else v) for c, v in row.items()} for row in holes.to_dict("records")]
    same_bits(scores(client, "imputed", {"records": records}), detectors["imputed"].decision_function(holes))
    kinds = probe.iloc[:6].assign(kind=["up", "down", "up", "sideways", "down", "up"])  # one unseen category
    same_bits(
        scores(client, "categorical", {"records": kinds.to_dict("records")}),
        detectors["categorical"].decision_function(kinds),
    )


def test_only_a_body_of_plain_numbers_is_read_as_a_matrix(probe):
    row = {c: float(v) for c, v in probe.iloc[0].items()}
    plain = request_rows(orjson.dumps({"records": [row, row]}), COLUMNS, COLUMNS, 10)
    assert isinstance(plain.features, np.ndarray) and plain.features.shape == (2, 4)
    assert isinstance(
        request_rows(orjson.dumps({"columns": {c: [v] for c, v in row.items()}}), COLUMNS, COLUMNS, 10).features,
        np.ndarray,
    )
    for value in (None, True, "1.5"):
        body = orjson.dumps({"records": [row, {**row, "c": value}]})
        assert isinstance(request_rows(body, COLUMNS, COLUMNS, 10).features, pd.DataFrame), value
    assert isinstance(request_rows(orjson.dumps({"records": [row]}), COLUMNS, COLUMNS[:3], 10).features, pd.DataFrame)


def test_true_among_numbers_is_refused_as_before_not_read_as_one(client, probe):
    row = {c: float(v) for c, v in probe.iloc[0].items()}
    response = client.post("/models/numeric/score", json={"records": [row, {**row, "fuel": True}]})
    assert response.status_code == 422 and "Column 'fuel' is not numeric" in response.json()["detail"]


def test_waiting_matrices_share_one_forward_pass_and_keep_their_own_scores(detectors, probe):
    detector, matrix = detectors["numeric"], probe.to_numpy()
    requests = [matrix[:1], matrix[1:2], matrix[2:5], matrix[5:30]]
    calls, results = batched(RowScoringCore(detector), SmallRequestBatcher(), requests)
    assert calls == [1, 29]
    for i, request in enumerate(requests):
        same_bits(results[i].scores, detector.decision_function(request))


def test_every_waiting_request_is_answered_when_their_rows_exceed_one_batch(detectors, probe):
    detector, matrix = detectors["numeric"], probe.to_numpy()
    table = probe.iloc[10:12].reset_index(drop=True)  # a table is not batched with matrices
    requests = [matrix[:1], matrix[1:4], matrix[4:7], matrix[7:10], table]
    calls, results = batched(RowScoringCore(detector), SmallRequestBatcher(max_rows=5), requests)
    assert sorted(calls[1:]) == [2, 3, 3, 3]  # 3 + 3 rows exceed a batch of 5
    for i, request in enumerate(requests):
        same_bits(results[i].scores, detector.decision_function(request))


def test_small_requests_to_a_quick_model_are_scored_on_the_event_loop_and_the_rest_in_threads(
    detectors, probe, monkeypatch
):
    import asyncio
    import math

    import aedetect.serve.app as app_module
    from aedetect.serve.scoring import LOOP_BODY_BYTES

    served = {name: ServedModel(name, detectors["numeric"]) for name in ("quick", "slow")}
    served["quick"].loop_seconds, served["slow"].loop_seconds = 0.0, math.inf  # not left to the clock
    where, score_json = [], app_module.score_json

    def recorded(*args):
        try:
            asyncio.get_running_loop()
            where.append("loop")
        except RuntimeError:
            where.append("thread")
        return score_json(*args)

    monkeypatch.setattr(app_module, "score_json", recorded)
    table = probe.iloc[:35]
    small, large = {"records": table.iloc[:1].to_dict("records")}, {"records": table.to_dict("records")}
    assert len(orjson.dumps(small)) <= LOOP_BODY_BYTES < len(orjson.dumps(large))
    overriding = {**small, "threshold": "percentile:90"}  # a rule fitted on first use: not on the loop
    with TestClient(create_app(served)) as http:
        answers = {(model, n): scores(http, model, body) for model in served for n, body in ((1, small), (35, large))}
        answers["quick", 1, "override"] = scores(http, "quick", overriding)
    assert where == ["loop", "thread", "thread", "thread", "thread"]
    for (_, n, *_), got in answers.items():  # the same scores wherever a request is scored
        same_bits(got, detectors["numeric"].decision_function(table.iloc[:n]))


def test_a_model_is_scored_on_the_loop_only_when_its_largest_small_request_is_quick(detectors):
    from aedetect.serve.scoring import LOOP_BODY_BYTES, LOOP_SECONDS

    for name in ("numeric", "categorical"):  # measured: reading, scoring and explaining 256 rows
        assert 0 < ServedModel(name, detectors[name]).loop_seconds < 1
    numeric = ServedModel("n", detectors["numeric"])
    numeric.loop_seconds = LOOP_SECONDS / 2
    assert numeric.scores_on_loop(b"x" * LOOP_BODY_BYTES) and not numeric.scores_on_loop(b"x" * (LOOP_BODY_BYTES + 1))
    numeric.loop_seconds = LOOP_SECONDS
    assert not numeric.scores_on_loop(b"{}")

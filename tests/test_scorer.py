"""RowScorer and its exact two-stage kNN: the one implementation behind every score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aedetect.scoring.scorer import LatentKnn, score_matrix


@pytest.mark.parametrize(
    ("n", "k"),
    [(1, 1), (1, 5), (3, 5), (7, 5), (30, 5), (31, 6), (33, 1), (512, 1), (1000, 5), (4096, 5), (2500, 6), (700, 26)],
)
def test_two_stage_knn_equals_brute_force(n, k):
    rng = np.random.default_rng(n + k)
    reference = rng.normal(size=(n, 6)).astype(np.float32)
    query = rng.normal(size=(500, 6)).astype(np.float32)
    got = LatentKnn(reference, k)(torch.from_numpy(query)).numpy()
    distances = np.sqrt(((query[:, None, :].astype(np.float64) - reference[None]) ** 2).sum(axis=2))
    expected = np.sort(distances, axis=1)[:, min(k, n) - 1]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_duplicated_reference_codes_count_once_each():
    reference = np.repeat(np.arange(10, dtype=np.float32)[:, None], 2, axis=1).repeat(3, axis=0)  # each code 3 times
    got = LatentKnn(reference, 5)(torch.zeros(1, 2)).numpy()
    np.testing.assert_allclose(got, [np.sqrt(2.0)])  # 0, 0, 0, then 1, 1: the 5th is at (1, 1)


def test_scores_do_not_depend_on_the_batch_size(fitted, fresh_normals):
    matrix = fitted._matrix(fresh_normals)
    scorer = fitted._scorer()
    np.testing.assert_allclose(score_matrix(scorer, matrix, batch_size=7), score_matrix(scorer, matrix), rtol=1e-6)
    assert fitted._scorer() is scorer  # built once per fitted state

"""RowScorer and its exact two-stage kNN: the one implementation behind every score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aedetect.scoring import scorer as scorer_module
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


@pytest.mark.skipif(scorer_module._faiss() is None, reason="FAISS searches only on Linux x86-64")
@pytest.mark.parametrize("width", [2, 3, 10, 32])
def test_the_fused_search_finds_the_matrix_products_nearest_rows_whatever_the_batch(width, monkeypatch):
    rng = np.random.default_rng(width)
    reference = rng.normal(size=(3000, width)).astype(np.float32)
    query = torch.from_numpy(rng.normal(size=(400, width)).astype(np.float32))
    knn = LatentKnn(reference, 1)
    assert (
        knn.fused("cpu")
        and not LatentKnn(reference, 2).fused("cpu")
        and not LatentKnn(reference[:, :1], 1).fused("cpu")
    )
    fused = knn(query).numpy()
    one_at_a_time = np.concatenate([knn(query[i : i + 1]).numpy() for i in range(len(query))])
    monkeypatch.setattr(scorer_module, "FUSED_SEARCH_WIDTH", 0)
    assert not knn.fused("cpu")
    assert np.array_equal(fused, knn(query).numpy()) and np.array_equal(fused, one_at_a_time)
    distances = np.sqrt(((query.numpy()[:, None, :].astype(np.float64) - reference[None]) ** 2).sum(axis=2))
    np.testing.assert_allclose(fused, distances.min(axis=1), rtol=1e-5)


@pytest.mark.skipif(scorer_module._faiss() is None, reason="FAISS searches only on Linux x86-64")
def test_among_rows_equally_near_up_to_rounding_both_searches_find_a_nearest_row(monkeypatch):
    """Rows far from the origin and near-duplicates: the two searches may pick different rows, but
    each lies as near as the nearest up to float32 rounding of |q|^2 + |r|^2 - 2 q.r."""
    rng = np.random.default_rng(7)
    base = rng.normal(size=(200, 3)) + 20.0
    reference = (np.repeat(base, 10, axis=0) + rng.normal(scale=1e-3, size=(2000, 3))).astype(np.float32)
    query = (base[rng.integers(0, 200, 2000)] + rng.normal(scale=1e-3, size=(2000, 3))).astype(np.float32)
    knn = LatentKnn(reference, 1)
    fused = knn(torch.from_numpy(query)).numpy().astype(np.float64)
    monkeypatch.setattr(scorer_module, "FUSED_SEARCH_WIDTH", 0)
    product = knn(torch.from_numpy(query)).numpy().astype(np.float64)
    squared = ((query[:, None, :].astype(np.float64) - reference[None]) ** 2).sum(axis=2)
    rounding = (
        8 * np.finfo(np.float32).eps * ((query.astype(np.float64) ** 2).sum(axis=1) + (reference**2).sum(axis=1).max())
    )
    for found in (fused, product):
        assert np.all(found**2 - squared.min(axis=1) <= rounding)


def test_duplicated_reference_codes_count_once_each():
    reference = np.repeat(np.arange(10, dtype=np.float32)[:, None], 2, axis=1).repeat(3, axis=0)  # each code 3 times
    got = LatentKnn(reference, 5)(torch.zeros(1, 2)).numpy()
    np.testing.assert_allclose(got, [np.sqrt(2.0)])  # 0, 0, 0, then 1, 1: the 5th is at (1, 1)


def test_scores_do_not_depend_on_the_batch_size(fitted, fresh_normals):
    matrix = fitted._matrix(fresh_normals)
    scorer = fitted._scorer()
    np.testing.assert_allclose(score_matrix(scorer, matrix, batch_size=7), score_matrix(scorer, matrix), rtol=1e-6)
    assert fitted._scorer() is scorer  # built once per fitted state


def test_the_default_score_adds_the_distance_to_the_nearest_normal_input_row(fitted, fresh_normals):
    """The input part, checked against scikit-learn's search: the default score minus the same
    score without input reference rows is the row's distance to its nearest reference row in model
    space, divided by its normal level and weighted INPUT_WEIGHT_MULTIPLE times the network's parts
    together."""
    from sklearn.neighbors import NearestNeighbors

    from aedetect.scoring.statistics import INPUT_WEIGHT_MULTIPLE, ScoreStatistics, row_scorer

    matrix = fitted._matrix(fresh_normals)
    statistics = ScoreStatistics.of(fitted)
    assert statistics.input_reference.shape == (len(fitted.latent_reference_), matrix.shape[1])
    without = ScoreStatistics(**{**vars(statistics), "input_reference": statistics.input_reference[:0]})
    args = (fitted.score, fitted.loss, fitted.trim_fraction)
    added = score_matrix(row_scorer(fitted.model_, statistics, *args), matrix)
    plain = score_matrix(row_scorer(fitted.model_, without, *args), matrix)
    nearest = NearestNeighbors(n_neighbors=1).fit(statistics.input_reference).kneighbors(matrix)[0][:, 0]
    weight = INPUT_WEIGHT_MULTIPLE * (1 + fitted._scorer().latent_weight)  # a table model has no rotation head
    assert statistics.input_weight[0] == weight
    np.testing.assert_allclose(added - plain, weight * nearest / statistics.input_scale[0], rtol=1e-4, atol=1e-4)


def test_a_model_saved_without_the_input_weight_scores_with_the_weight_it_was_fitted_with(
    fitted, fresh_normals, tmp_path
):
    """Models saved before the input part's weight was saved were fitted (and their threshold set)
    with the input part weighted as the network's parts together: loaded, they score as then."""
    from hostile.persistence import as_saved_without_input_weight

    from aedetect import load
    from aedetect.scoring.statistics import input_weight

    fitted.save(tmp_path / "model")
    as_saved_without_input_weight(tmp_path / "model")
    old = load(tmp_path / "model")
    assert old.input_weight_[0] == input_weight(rotation=False, multiple=1.0) == 1 + old._scorer().latent_weight
    matrix = fitted._matrix(fresh_normals)
    nearest = old._scorer().input_knn(torch.from_numpy(matrix)).numpy() / fitted.input_scale_[0]
    change = fitted.input_weight_[0] - old.input_weight_[0]
    np.testing.assert_allclose(
        fitted.decision_function(fresh_normals) - old.decision_function(fresh_normals),
        change * nearest,
        rtol=1e-4,
        atol=1e-4,
    )
    fitted.save(tmp_path / "current")
    np.testing.assert_array_equal(load(tmp_path / "current").input_weight_, fitted.input_weight_)


def test_a_rotation_head_counts_among_the_network_parts_that_the_input_weight_multiplies(tmp_path):
    from hostile.persistence import as_saved_without_input_weight

    from aedetect import AutoencoderDetector, load
    from aedetect.scoring.statistics import INPUT_WEIGHT_MULTIPLE, LATENT_WEIGHT

    rng = np.random.default_rng(0)
    # Images that vary along three patterns (few dimensions: the input part is kept), with an upright mark.
    images = (rng.random((40, 3)) @ rng.random((3, 64)) / 3).reshape(40, 8, 8).astype(np.float32)
    images[:, 1:4, 1:3] += 0.8
    detector = AutoencoderDetector(random_state=0, epochs=1, hidden_dims=[4], latent_dim=2, rotation_head=True)
    detector.fit(images)
    assert detector._scorer().rotation and len(detector.input_reference_)
    assert detector.input_weight_[0] == INPUT_WEIGHT_MULTIPLE * (1 + 2 * LATENT_WEIGHT)
    detector.save(tmp_path / "model")
    as_saved_without_input_weight(tmp_path / "model")
    assert load(tmp_path / "model").input_weight_[0] == 1 + 2 * LATENT_WEIGHT


def test_inputs_wider_than_the_limit_keep_no_reference_rows(tmp_path):
    from aedetect import AutoencoderDetector, load
    from aedetect.scoring.statistics import INPUT_REFERENCE_MAX_VALUES

    side = int(np.ceil(np.sqrt(INPUT_REFERENCE_MAX_VALUES + 1)))
    images = np.random.default_rng(0).integers(0, 255, size=(40, side, side), dtype=np.uint8)
    detector = AutoencoderDetector(random_state=0, epochs=1, hidden_dims=[4], latent_dim=2).fit(images)
    assert detector.input_reference_.shape == (0, side * side) and detector._scorer().input_knn is None
    detector.save(tmp_path / "model")
    loaded = load(tmp_path / "model")
    assert loaded.input_reference_.shape == (0, side * side)
    np.testing.assert_array_equal(loaded.decision_function(images[:3]), detector.decision_function(images[:3]))


def test_series_windows_keep_no_input_reference_rows():
    from aedetect import AutoencoderDetector

    windows = np.random.default_rng(0).normal(size=(60, 1, 16)).astype(np.float32)
    detector = AutoencoderDetector(architecture="conv1d", random_state=0, epochs=1, hidden_dims=[4], latent_dim=2)
    detector.fit(windows)
    assert detector.input_reference_.shape == (0, 16) and detector._scorer().input_knn is None


def test_tables_keep_each_distinct_training_row_once_as_an_input_reference_row():
    from aedetect import AutoencoderDetector

    distinct = np.random.default_rng(0).normal(size=(150, 3))
    table = np.repeat(distinct, 4, axis=0)  # each row four times
    detector = AutoencoderDetector(random_state=0, epochs=1, hidden_dims=[4], latent_dim=2, validation_fraction=0)
    detector.fit(table)
    assert detector.input_reference_.shape == (150, 3)
    kept, rows = np.unique(detector.input_reference_, axis=0), np.unique(detector._matrix(distinct), axis=0)
    np.testing.assert_allclose(kept, rows, rtol=1e-6)  # the same rows, row by row


@pytest.mark.parametrize(("distinct", "columns", "kept"), [(160, 3, 64), (1000, 3, 0), (1000, 8, 64)])
def test_tables_keep_a_sample_of_their_distinct_rows_only_while_it_stretches_distances_little(
    monkeypatch, distinct, columns, kept
):
    """Up to the table limit the reference holds every distinct row, beyond it a uniform sample of them,
    and none when the sample would stretch nearest distances more than INPUT_DISTANCE_STRETCH times:
    one row in 16 of three dimensions would (16 ** (1 / 3) = 2.5), of eight would not (1.4)."""
    from aedetect import AutoencoderDetector
    from aedetect.kinds import TABLE
    from aedetect.scoring import statistics

    monkeypatch.setitem(statistics.INPUT_REFERENCE_ROWS, TABLE, 64)
    table = np.repeat(np.random.default_rng(0).normal(size=(distinct, columns)), 2, axis=0)
    detector = AutoencoderDetector(random_state=0, epochs=1, hidden_dims=[4], latent_dim=2, validation_fraction=0)
    detector.fit(table)
    assert detector.input_reference_.shape == (kept, columns)
    assert len(np.unique(detector.input_reference_, axis=0)) == kept
    assert (detector._scorer().input_knn is not None) == bool(kept)


def test_wide_tables_keep_fewer_input_rows_so_that_the_reference_holds_at_most_its_values(monkeypatch):
    from aedetect import AutoencoderDetector
    from aedetect.scoring import statistics

    monkeypatch.setattr(statistics, "INPUT_REFERENCE_VALUES", 40 * 8)
    table = np.random.default_rng(0).normal(size=(100, 8))
    detector = AutoencoderDetector(random_state=0, epochs=1, hidden_dims=[4], latent_dim=2, validation_fraction=0)
    assert detector.fit(table).input_reference_.shape == (40, 8)


@pytest.mark.parametrize(("input_rows", "kept"), [(0, 0), (50, 50), (None, 100)])
def test_input_rows_sets_how_many_distinct_rows_the_input_part_keeps(tmp_path, input_rows, kept):
    from aedetect import AutoencoderDetector, load

    table = np.random.default_rng(0).normal(size=(100, 3))
    detector = AutoencoderDetector(
        random_state=0, epochs=1, hidden_dims=[4], latent_dim=2, validation_fraction=0, input_rows=input_rows
    ).fit(table)
    assert detector.input_reference_.shape == (kept, 3)
    assert (detector._scorer().input_knn is not None) == bool(kept)
    detector.save(tmp_path / "model")
    loaded = load(tmp_path / "model")
    assert loaded.input_rows == input_rows
    np.testing.assert_array_equal(loaded.decision_function(table[:5]), detector.decision_function(table[:5]))


def test_intrinsic_dimension_estimates_the_dimensions_rows_spread_over():
    from aedetect.scoring.statistics import intrinsic_dimension, knn_distance

    rng = np.random.default_rng(0)
    for dimension in (2, 5):
        reference = rng.random((2000, dimension)).astype(np.float32)
        rows = rng.random((300, dimension)).astype(np.float32)
        near = knn_distance(rows, reference, np.ones(dimension), 1)
        after = knn_distance(rows, reference, np.ones(dimension), 2)
        assert intrinsic_dimension(np.log(after / near).sum(), len(rows)) == pytest.approx(dimension, rel=0.15)
    assert intrinsic_dimension(0.0, 10) == 0.0  # no row tells: no estimate


def test_tables_whose_rows_spread_over_many_dimensions_keep_no_input_part():
    """Forty independent noise columns: every row's nearest row is about as far, and the input part is
    left out; the same forty columns made from three hidden ones keep it."""
    from aedetect import AutoencoderDetector

    rng = np.random.default_rng(0)
    noise = rng.normal(size=(300, 40))
    flat = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 40))
    for table, kept in ((noise, False), (flat, True)):
        detector = AutoencoderDetector(random_state=0, epochs=1, hidden_dims=[4], latent_dim=2).fit(table)
        assert (len(detector.input_reference_) > 0) == kept
        assert (detector._scorer().input_knn is not None) == kept


def test_with_trim_fraction_the_input_part_looks_past_the_anomalies_expected_among_its_rows():
    """Its rank is half the anomalies expected among its own rows; a model whose input rows are its
    reference codes' rows (every model saved before format version 3) keeps the codes' rank; and
    the dimension bound is judged at the nearest row whatever the rank."""
    from aedetect import AutoencoderDetector
    from aedetect.scoring.statistics import input_neighbour_rank, neighbour_rank

    for n, trim in ((30, 0.0), (1024, 0.0), (4096, 0.0), (1024, 0.1), (300, 0.2)):
        assert input_neighbour_rank(n, n, trim) == neighbour_rank(n, trim)
    table = np.random.default_rng(0).normal(size=(3000, 3))  # more rows than the 1,024 reference codes
    detector = AutoencoderDetector(
        random_state=0, epochs=1, hidden_dims=[4], latent_dim=2, trim_fraction=0.1, validation_fraction=0
    ).fit(table)
    kept = len(detector.input_reference_)
    assert kept > 2000
    assert detector._scorer().input_knn.k == round(0.1 * 0.5 * kept) > detector._scorer().knn.k
    noise = np.random.default_rng(1).normal(size=(300, 40))
    trimmed = AutoencoderDetector(random_state=0, epochs=1, hidden_dims=[4], latent_dim=2, trim_fraction=0.1)
    assert len(trimmed.fit(noise).input_reference_) == 0


def test_distinct_rows_finds_each_repeated_row_and_keeps_apart_what_differs():
    from aedetect.partitions import distinct_rows

    rows = np.array([[1, 2], [3, 4], [1, 2], [np.nan, 1], [np.nan, 1], [-0.0, 0], [0, 0], [3, 4]], dtype=np.float32)
    first, inverse = distinct_rows(rows)
    np.testing.assert_array_equal(rows[first][inverse], rows)  # NaN rows: each stands for itself
    assert sorted(first.tolist()) == [0, 1, 3, 4, 5]  # (1, 2), (3, 4), each NaN row, one zero row
    assert distinct_rows(np.zeros((0, 3), np.float32))[0].shape == (0,)


def test_distinct_rows_keeps_rows_apart_whose_hashes_collide(monkeypatch):
    import aedetect.partitions as partitions

    monkeypatch.setattr(partitions, "_splitmix64", lambda values: np.zeros(np.shape(values), dtype=np.uint64))
    rows = np.array([[1, 2], [3, 4], [1, 2], [5, 6]], dtype=np.float32)
    first, inverse = partitions.distinct_rows(rows)
    np.testing.assert_array_equal(rows[first][inverse], rows)
    assert len(first) == 3  # every row hashes alike, yet only the true repeat is merged


def test_a_repeated_row_is_searched_once_and_scores_as_alone(fitted, fresh_normals):
    """With an input part a row that occurs several times is scored once: the scores are those of
    the rows one by one, and the search sees each distinct row once."""
    matrix = fitted._matrix(fresh_normals)
    repeated = matrix[np.arange(len(matrix)).repeat(3)]
    scorer = fitted._scorer()
    assert scorer.input_knn is not None
    searched = []
    handle = scorer.input_knn.register_forward_hook(lambda module, args, out: searched.append(len(args[0])))
    try:
        scores = score_matrix(scorer, repeated, batch_size=len(repeated))
    finally:
        handle.remove()
    assert len(searched) == 1 and len(matrix) <= searched[0] < 2 * len(matrix)  # (padded to whole blocks)
    alone = np.concatenate([score_matrix(scorer, row[None]) for row in matrix])
    np.testing.assert_allclose(scores, alone.repeat(3), rtol=1e-6)


def test_the_dimension_estimate_holds_on_rows_of_large_values():
    """Rows far from the origin (a standardised rare category can be hundreds): the estimate is the
    same as near it, where float32's ranking by |r|^2 - 2 q.r would misrank the nearest rows."""
    from aedetect.scoring.statistics import reference_dimension

    rows = np.random.default_rng(0).random((3000, 3)).astype(np.float32)
    far = np.concatenate([rows, np.full((3000, 1), 1000.0, dtype=np.float32)], axis=1)
    assert reference_dimension(far) == pytest.approx(reference_dimension(rows), rel=1e-3)
    assert reference_dimension(rows) == pytest.approx(3, rel=0.15)
    assert reference_dimension(rows[:2]) == 0.0  # two rows tell nothing


def test_scoring_the_distinct_rows_once_changes_no_fitted_level_or_score(monkeypatch):
    """The same table fitted with every row searched (distinct_rows made the identity) and with each
    distinct row searched once: the same input level and the same scores, a bad row still named."""
    from aedetect import AutoencoderDetector, partitions
    from aedetect.preprocessing.values import InvalidValueError
    from aedetect.scoring import scorer

    table = np.repeat(np.random.default_rng(0).normal(size=(120, 3)), 3, axis=0)
    params = dict(random_state=0, epochs=2, hidden_dims=[4], latent_dim=2)
    merged = AutoencoderDetector(**params).fit(table)
    every = lambda rows: (np.arange(len(rows)), np.arange(len(rows)))  # noqa: E731
    monkeypatch.setattr(partitions, "distinct_rows", every)
    alone = AutoencoderDetector(**params).fit(table)
    assert merged._scorer().input_knn is not None
    np.testing.assert_allclose(merged.input_scale_, alone.input_scale_, rtol=1e-6)
    np.testing.assert_allclose(merged.decision_scores_, alone.decision_scores_, rtol=1e-6)
    monkeypatch.undo()
    matrix = merged._matrix(table[:6])
    matrix[[3, 5]] = np.nan  # two rows whose scores are not finite (NaN rows are never merged)
    with pytest.raises(InvalidValueError, match="data row 4"):  # the first of them, counted from 1
        scorer.check_finite(scorer.score_matrix(merged._scorer(), matrix), merged.data_kind_)

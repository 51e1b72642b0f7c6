"""AutoencoderDetector: the scikit-learn / PyOD contract and the autoencoder-specific extras."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from aedetect import AutoencoderDetector
from aedetect.kinds import IMAGE, TABLE
from aedetect.parameters import SCORES
from aedetect.thresholds import PercentileThreshold
from aedetect.training.sizing import default_architecture, default_schedule

# -- scikit-learn estimator rules -------------------------------------------------------------------


def test_init_only_stores_its_arguments_and_validates_nothing():
    detector = AutoencoderDetector(latent_dim=0, optimizer="no-such-optimizer", threshold="bogus")
    assert set(vars(detector)) == set(detector.get_params())
    assert detector.latent_dim == 0 and detector.optimizer == "no-such-optimizer"


def test_get_params_lists_every_constructor_argument():
    signature = inspect.signature(AutoencoderDetector.__init__)
    expected = {name for name in signature.parameters if name != "self"}
    params = AutoencoderDetector().get_params()
    assert set(params) == expected
    assert params["threshold"] == "false_alarm_rate:0.01" and params["loss"] == "mse"


def test_set_params_returns_the_detector_and_rejects_unknown_names():
    detector = AutoencoderDetector()
    assert detector.set_params(latent_dim=3, loss="mae") is detector
    assert detector.latent_dim == 3 and detector.loss == "mae"
    with pytest.raises(ValueError, match="no_such_param"):
        detector.set_params(no_such_param=1)


def test_clone_copies_parameters_and_drops_fitted_state(fitted):
    copied = clone(fitted)
    assert copied.get_params() == fitted.get_params()
    assert not hasattr(copied, "model_") and not hasattr(copied, "threshold_")
    with pytest.raises(NotFittedError):
        copied.decision_function(np.zeros((2, 4)))


def test_clone_and_fit_with_a_threshold_rule_object_leave_the_users_rule_untouched(normal_frame, fast):
    rule = PercentileThreshold(90)
    detector = AutoencoderDetector(threshold=rule, **fast)
    assert clone(detector).threshold.percentile == 90
    detector.fit(normal_frame)
    assert not hasattr(rule, "threshold_")
    assert detector.threshold_ == pytest.approx(np.percentile(detector.calibration_scores_, 90))


@pytest.mark.parametrize(
    "method", ["decision_function", "predict", "score_samples", "reconstruct", "feature_errors", "encode"]
)
def test_not_fitted_error_before_fit(method):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(AutoencoderDetector(), method)(np.zeros((3, 4)))


def test_not_fitted_error_for_set_threshold_and_save(tmp_path):
    detector = AutoencoderDetector()
    with pytest.raises(NotFittedError):
        detector.set_threshold("percentile:99")
    with pytest.raises(NotFittedError):
        detector.save(tmp_path / "model")
    assert not (tmp_path / "model").exists()


# -- PyOD conventions: higher = more anomalous, 1 = anomaly ------------------------------------------


def test_clear_outliers_score_higher_than_normal_rows(fitted, fresh_normals, outliers):
    normal_scores = fitted.decision_function(fresh_normals)
    outlier_scores = fitted.decision_function(outliers)
    assert outlier_scores.min() > normal_scores.max()


def test_predict_flags_outliers_with_1_and_normal_rows_with_0(fitted, fresh_normals, outliers):
    flags = fitted.predict(pd.concat([fresh_normals, outliers]))
    assert set(np.unique(flags)) <= {0, 1}
    assert flags.dtype.kind == "i"
    assert flags[len(fresh_normals) :].tolist() == [1] * len(outliers)
    # About 1 / 31 expected (the largest of 30 calibration scores); allow for the calibration draw.
    assert flags[: len(fresh_normals)].mean() <= 0.15


def test_predict_is_score_strictly_above_threshold(fitted, labelled):
    frame, _ = labelled
    scores = fitted.decision_function(frame)
    np.testing.assert_array_equal(fitted.predict(frame), (scores > fitted.threshold_).astype(int))


def test_score_samples_is_the_negated_anomaly_score(fitted, outliers):
    np.testing.assert_array_equal(fitted.score_samples(outliers), -fitted.decision_function(outliers))


def test_fitted_attributes(fitted, normal_frame):
    assert fitted.n_features_in_ == 4
    assert list(fitted.feature_names_in_) == ["a", "b", "c", "d"]
    assert fitted.decision_scores_.shape == (len(normal_frame),)
    np.testing.assert_array_equal(fitted.decision_scores_, fitted.decision_function(normal_frame))
    assert isinstance(fitted.threshold_, float) and np.isfinite(fitted.threshold_)
    np.testing.assert_array_equal(fitted.labels_, (fitted.decision_scores_ > fitted.threshold_).astype(int))
    history = fitted.history_
    assert {"loss", "val_loss", "mae", "val_mae"} <= set(history.values)
    assert len(history.values["loss"]) == history.stopped_epoch <= 15
    assert 1 <= history.best_epoch <= history.stopped_epoch


def test_default_threshold_is_the_false_alarm_rule_fitted_on_held_out_normal_rows(fitted, normal_frame):
    # 10 % of 300 rows are held out for validation and calibration.
    assert fitted.calibration_scores_.shape == (30,)
    assert fitted.threshold_rule_.to_spec() == "false_alarm_rate:0.01"
    # Fewer than 1 / rate - 1 calibration rows: the largest calibration score is the threshold.
    assert fitted.threshold_ == pytest.approx(fitted.calibration_scores_.max())


def test_fit_predict_returns_training_labels(normal_frame, fast):
    detector = AutoencoderDetector(**fast)
    labels = detector.fit_predict(normal_frame)
    np.testing.assert_array_equal(labels, detector.labels_)


# -- what trains the network ------------------------------------------------------------------------


def test_fit_with_labels_trains_on_normal_rows_only(labelled, normal_frame, fast):
    frame, labels = labelled
    with_labels = AutoencoderDetector(**fast).fit(frame, labels)
    normals_only = AutoencoderDetector(**fast).fit(normal_frame)
    np.testing.assert_array_equal(with_labels.decision_function(frame), normals_only.decision_function(frame))
    assert with_labels.threshold_ == normals_only.threshold_
    # decision_scores_ cover every row given to fit, anomalies included.
    assert with_labels.decision_scores_.shape == (len(frame),)
    assert with_labels.labels_[labels == 1].all()


def test_same_seed_gives_identical_scores_and_another_seed_differs(normal_frame, outliers, fast):
    first = AutoencoderDetector(**fast).fit(normal_frame)
    second = AutoencoderDetector(**fast).fit(normal_frame)
    np.testing.assert_array_equal(first.decision_function(outliers), second.decision_function(outliers))
    assert first.history_.values["loss"] == second.history_.values["loss"]
    other = AutoencoderDetector(**{**fast, "random_state": 1}).fit(normal_frame)
    assert not np.array_equal(first.decision_function(outliers), other.decision_function(outliers))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.r_[np.zeros(299, dtype=int), 2], r"Labels must be 0 \(normal\) or 1 \(anomaly\); found \['2'\]"),
        (np.zeros(10), "y has 10 labels but X has 300 rows"),
        (np.ones(300), "zero normal rows"),
    ],
)
def test_bad_labels_are_rejected(normal_frame, fast, labels, message):
    with pytest.raises(ValueError, match=message):
        AutoencoderDetector(**fast).fit(normal_frame, labels)


# -- DataFrame and ndarray input --------------------------------------------------------------------


def test_ndarray_and_dataframe_give_the_same_model(normal_frame, outliers, fast):
    from_frame = AutoencoderDetector(**fast).fit(normal_frame)
    from_array = AutoencoderDetector(**fast).fit(normal_frame.to_numpy())
    assert not hasattr(from_array, "feature_names_in_")
    assert from_array.n_features_in_ == 4
    np.testing.assert_array_equal(
        from_frame.decision_function(outliers), from_array.decision_function(outliers.to_numpy())
    )
    # A frame-fitted detector scores a plain array of the same columns, and vice versa.
    np.testing.assert_array_equal(
        from_frame.decision_function(outliers.to_numpy()), from_frame.decision_function(outliers)
    )
    np.testing.assert_array_equal(from_array.decision_function(outliers), from_frame.decision_function(outliers))


def test_refit_on_an_array_forgets_the_feature_names(normal_frame, fast):
    detector = AutoencoderDetector(**fast).fit(normal_frame)
    assert hasattr(detector, "feature_names_in_")
    detector.set_params(epochs=2).fit(normal_frame.to_numpy())
    assert not hasattr(detector, "feature_names_in_")


def test_list_of_rows_is_accepted(fitted, outliers):
    rows = outliers.to_numpy().tolist()
    np.testing.assert_array_equal(fitted.decision_function(rows), fitted.decision_function(outliers))


# -- feature count and names -------------------------------------------------------------------------


def test_feature_name_mismatch_is_a_clear_value_error(fitted, outliers):
    renamed = outliers.rename(columns={"d": "e"})
    with pytest.raises(ValueError, match=r"feature names differ.*missing \['d'\].*unexpected \['e'\]"):
        fitted.decision_function(renamed)


def test_reordered_columns_are_a_clear_value_error(fitted, outliers):
    with pytest.raises(ValueError, match="same names in another order"):
        fitted.predict(outliers[["b", "a", "c", "d"]])


@pytest.mark.parametrize("as_frame", [False, True])
def test_feature_count_mismatch_is_a_clear_value_error(normal_frame, fast, as_frame):
    detector = AutoencoderDetector(**fast).fit(normal_frame.to_numpy())
    narrow = normal_frame.iloc[:5, :3]
    with pytest.raises(ValueError, match="X has 3 features, but AutoencoderDetector was fitted with 4 features"):
        detector.decision_function(narrow if as_frame else narrow.to_numpy())


def test_array_with_the_wrong_width_for_a_frame_fitted_detector(fitted):
    with pytest.raises(ValueError, match="X has 5 features, but AutoencoderDetector was fitted with 4"):
        fitted.decision_function(np.zeros((2, 5)))


def test_one_dimensional_input_is_rejected_with_a_reshape_hint(fitted):
    with pytest.raises(ValueError, match="2-D table.*reshape"):
        fitted.decision_function(np.zeros(4))


# -- autoencoder extras ------------------------------------------------------------------------------


def test_feature_errors_shape_columns_and_index(fitted, outliers):
    frame = outliers.set_axis([f"row{i}" for i in range(len(outliers))])
    errors = fitted.feature_errors(frame)
    assert isinstance(errors, pd.DataFrame)
    assert errors.shape == (len(frame), 4)
    assert list(errors.columns) == ["a", "b", "c", "d"] == fitted.feature_names_out_
    assert list(errors.index) == list(frame.index)
    assert (errors.to_numpy() >= 0).all()
    assert fitted.feature_errors(outliers.to_numpy()).index.tolist() == list(range(len(outliers)))


def test_feature_errors_point_at_the_feature_that_is_off(fitted, fresh_normals):
    row = fresh_normals.iloc[[0]].copy()
    row["c"] += 15.0
    errors = fitted.feature_errors(row)
    assert errors.iloc[0].idxmax() == "c"


@pytest.mark.parametrize("score", ["reconstruction", "standardized"])
def test_feature_errors_are_the_basis_of_the_score(normal_frame, outliers, fast, score):
    detector = AutoencoderDetector(score=score, **fast).fit(normal_frame)
    errors = detector.feature_errors(outliers).to_numpy()
    if score == "standardized":  # each feature's error over its normal level
        errors = errors / detector.feature_error_means_
    np.testing.assert_allclose(errors.mean(axis=1), detector.decision_function(outliers), rtol=1e-6)


def test_encode_gives_latent_dim_columns(fitted, outliers):
    codes = fitted.encode(outliers)
    assert codes.shape == (len(outliers), 2)
    assert np.isfinite(codes).all()


def test_reconstruct_returns_the_model_space_matrix_and_fits_normal_rows_better(fitted, fresh_normals, outliers):
    reconstructed = fitted.reconstruct(fresh_normals)
    assert reconstructed.shape == (len(fresh_normals), 4)
    normal_error = ((reconstructed - fitted.preprocessor_.transform(fresh_normals)) ** 2).mean()
    outlier_error = ((fitted.reconstruct(outliers) - fitted.preprocessor_.transform(outliers)) ** 2).mean()
    assert normal_error < outlier_error / 10


def test_categorical_columns_through_the_detector(normal_frame, fast):
    frame = normal_frame.assign(colour=np.where(normal_frame["a"] > 0, "red", "blue"))
    detector = AutoencoderDetector(categorical_features=["colour"], **fast).fit(frame)
    assert detector.feature_names_out_ == ["a", "b", "c", "d", "colour=blue", "colour=red"]
    assert detector.reconstruct(frame.iloc[:3]).shape == (3, 6)
    unseen = frame.iloc[:3].assign(colour="green")
    errors = detector.feature_errors(unseen)
    assert list(errors.columns) == detector.feature_names_out_
    assert np.isfinite(detector.decision_function(unseen)).all()


def test_text_column_not_declared_categorical_is_a_clear_error(normal_frame, fast):
    frame = normal_frame.assign(colour="red")
    with pytest.raises(ValueError, match=r"Column 'colour' is not numeric.*declare it categorical"):
        AutoencoderDetector(**fast).fit(frame)


def test_missing_values_need_an_imputation(normal_frame, fast):
    frame = normal_frame.copy()
    frame.loc[5, "b"] = np.nan
    with pytest.raises(ValueError, match=r"Column 'b' has 1 NaN.*impute='median'"):
        AutoencoderDetector(**fast).fit(frame)
    detector = AutoencoderDetector(impute="median", **fast).fit(frame)
    scores = detector.decision_function(frame.iloc[:10])
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("score", SCORES)
def test_every_score_ranks_outliers_first(normal_frame, fresh_normals, outliers, fast, score):
    detector = AutoencoderDetector(score=score, **fast).fit(normal_frame)
    assert detector.decision_function(outliers).min() > np.percentile(detector.decision_function(fresh_normals), 99)


def test_the_kept_scorer_follows_the_score_parameter_and_a_refit(normal_frame, outliers, fast):
    detector = AutoencoderDetector(**fast).fit(normal_frame)
    knn = detector.decision_function(outliers)
    detector.set_params(score="reconstruction")
    errors = detector.feature_errors(outliers).to_numpy(dtype=np.float64).mean(axis=1)
    np.testing.assert_allclose(detector.decision_function(outliers), errors, rtol=1e-5)
    detector.set_params(score="latent_knn")
    np.testing.assert_array_equal(detector.decision_function(outliers), knn)
    refitted = detector.fit(normal_frame.iloc[:200])
    np.testing.assert_array_equal(
        refitted.decision_function(outliers),
        AutoencoderDetector(**fast).fit(normal_frame.iloc[:200]).decision_function(outliers),
    )


# -- training rows that hold anomalies ---------------------------------------------------------------


def _off_manifold_cluster(n: int, seed: int) -> pd.DataFrame:
    """A tight cluster of rows that break the c, d = f(a, b) structure of the normal rows."""
    rng = np.random.default_rng(seed)
    values = np.array([1.5, -1.5, 3.0, 0.0]) + 0.05 * rng.normal(size=(n, 4))
    return pd.DataFrame(values, columns=["a", "b", "c", "d"])


def test_trim_fraction_scores_a_contaminated_training_set_better(make_normals, fast):
    # 24 anomalies of one kind hide among 600 normal training rows: without trimming they are
    # learned and each finds its 5 nearest latent neighbours among its own kind.
    train = pd.concat([make_normals(600, seed=0), _off_manifold_cluster(24, seed=10)], ignore_index=True)
    test = pd.concat([make_normals(200, seed=20), _off_manifold_cluster(20, seed=30)], ignore_index=True)
    is_anomaly = np.r_[np.zeros(200), np.ones(20)]
    plain = AutoencoderDetector(**fast).fit(train)
    robust = AutoencoderDetector(trim_fraction=0.1, scaler="robust", **fast).fit(train)
    plain_auc = roc_auc_score(is_anomaly, plain.decision_function(test))
    robust_auc = roc_auc_score(is_anomaly, robust.decision_function(test))
    assert robust_auc > 0.75 and robust_auc > plain_auc + 0.1


def test_trim_fraction_widens_the_neighbour_rank_and_trims_the_reference(normal_frame, fast):
    plain = AutoencoderDetector(**fast).fit(normal_frame)
    trimmed = AutoencoderDetector(trim_fraction=0.2, **fast).fit(normal_frame)
    assert plain.n_neighbours_ == 1  # one rank per 819 reference codes, at least the nearest
    # 300 rows: 270 train the network, 216 of them (the best-reconstructed 80 %) are reference codes.
    assert len(plain.latent_reference_) == 270 and len(trimmed.latent_reference_) == 216
    assert trimmed.n_neighbours_ == round(0.2 / 2 * 216)


def test_tables_keep_1024_reference_codes_and_the_rank_grows_with_their_number(fast):
    rows = np.random.default_rng(3).normal(size=(1200, 4))
    detector = AutoencoderDetector(**fast).fit(rows)
    assert len(detector.latent_reference_) == 1024 and detector.n_neighbours_ == 1
    detector.latent_reference_ = np.zeros((4096, detector.latent_reference_.shape[1]), dtype=np.float32)
    assert detector.n_neighbours_ == 5


# -- swapping the threshold ------------------------------------------------------------------------


def test_set_threshold_swaps_the_rule_without_retraining(fitted, labelled):
    frame, _ = labelled
    detector = copy.deepcopy(fitted)
    weights = {k: v.clone() for k, v in detector.model_.state_dict().items()}
    scores = detector.decision_function(frame)
    old_threshold = detector.threshold_
    assert detector.set_threshold("percentile:50") is detector
    assert detector.threshold_ != old_threshold
    assert detector.threshold_ == pytest.approx(np.percentile(detector.calibration_scores_, 50))
    np.testing.assert_array_equal(detector.decision_function(frame), scores)
    for name, tensor in detector.model_.state_dict().items():
        assert torch.equal(tensor, weights[name])
    np.testing.assert_array_equal(detector.labels_, (detector.decision_scores_ > detector.threshold_).astype(int))
    np.testing.assert_array_equal(detector.predict(frame), (scores > detector.threshold_).astype(int))


def test_set_threshold_best_f1_uses_the_given_rows_and_labels(fitted, labelled):
    frame, labels = labelled
    detector = copy.deepcopy(fitted)
    detector.set_threshold("best_f1", frame, labels)
    np.testing.assert_array_equal(detector.predict(frame), labels)
    with pytest.raises(ValueError, match="needs labels"):
        detector.set_threshold("best_f1")


def test_set_threshold_rejects_a_bad_rule(fitted):
    detector = copy.deepcopy(fitted)
    with pytest.raises(ValueError, match="Unknown threshold rule 'nope'"):
        detector.set_threshold("nope:3")
    assert detector.threshold_ == fitted.threshold_


# -- options ---------------------------------------------------------------------------------------


def test_verbose_training_shows_progress_and_trains_the_same_model(normal_frame, outliers, fast, capsys):
    quiet = AutoencoderDetector(**fast).fit(normal_frame)
    loud = AutoencoderDetector(verbose=True, **fast).fit(normal_frame)
    assert "training" in capsys.readouterr().out
    np.testing.assert_array_equal(quiet.decision_function(outliers), loud.decision_function(outliers))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error(normal_frame, fast):
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        AutoencoderDetector(**{**fast, "device": "cuda"}).fit(normal_frame)


@pytest.mark.parametrize("normalization", ["batch", "layer"])
def test_normalization_and_dropout_train(normal_frame, outliers, fresh_normals, fast, normalization):
    detector = AutoencoderDetector(normalization=normalization, dropout=0.1, **fast).fit(normal_frame)
    assert detector.decision_function(outliers).min() > np.median(detector.decision_function(fresh_normals))


def test_default_architecture_and_schedule_adapt_to_the_data():
    assert default_architecture(4) == ([32], 3)
    assert default_architecture(200) == ([400], 128)
    batches, budgets = [], []
    for n_rows in (10, 300, 5_000, 100_000, 10_000_000):
        batch, epochs, learning_rate = default_schedule(n_rows, TABLE)
        assert 32 <= batch <= 2048 and batch & (batch - 1) == 0  # a power of two
        assert 20 <= epochs <= 300
        assert learning_rate == pytest.approx(1e-3 * np.sqrt(batch / 64))
        # Images keep at least 300 optimizer steps: far fewer epochs than a table of as many rows.
        assert 20 <= default_schedule(n_rows, IMAGE)[1] <= epochs
        assert default_schedule(n_rows, IMAGE)[:1] == (batch,)
        batches.append(batch)
        budgets.append(epochs)
    assert batches == sorted(batches) and batches[0] == 32 and batches[-1] == 2048
    # Early stopping decides on small tables (a budget of many epochs); on large ones the budget
    # bounds the cost: rows seen in all grow no faster than the rows, and not without bound per row.
    assert budgets == sorted(budgets, reverse=True) and budgets[0] == 300 and budgets[-1] == 20
    assert default_schedule(5_000, TABLE)[1] * 5_000 <= default_schedule(100_000, TABLE)[1] * 100_000


def test_adaptive_defaults_fit_a_small_table(normal_frame, outliers):
    detector = AutoencoderDetector(random_state=0, device="cpu", epochs=5).fit(normal_frame)
    assert detector.model_config_.hidden_dims == [32] and detector.model_config_.latent_dim == 3
    assert detector.encode(outliers).shape == (len(outliers), 3)

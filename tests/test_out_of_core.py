"""Training streaming from Parquet files (data larger than memory) fits what training in memory fits:
the same scaler, held-out rows, reference codes and threshold on the same network; only the order of
the rows in the training batches differs."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from aedetect import AutoencoderDetector
from aedetect.data.io import split_labels
from aedetect.distributed import fit_distributed
from aedetect.out_of_core import TableStream, fit_streaming, needs_streaming, parse_memory
from aedetect.partitions import Group, PassGroup, content_hash, in_passes, row_hash
from aedetect.preprocessing.values import InvalidValueError
from aedetect.training.streaming import step_shares

TINY = dict(hidden_dims=[8], latent_dim=2, epochs=3, batch_size=64, random_state=0, device="cpu")
BUDGET = 20_000  # bytes: chunks of the smallest size (1,024 rows), a buffer of a few batches
CUTS = [0, 5, 700, 701, 1300, 1600]  # ragged files, a 1-row one among them


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = CUTS[-1]
    base = rng.normal(size=(n, 3))
    frame = pd.DataFrame(np.column_stack([base, base @ rng.normal(size=(3, 3))]), columns=list("abcdef"))
    frame.loc[rng.random(n) < 0.02, "c"] = np.nan
    frame["label"] = (rng.random(n) < 0.05).astype(int)
    out = tmp_path_factory.mktemp("parts")
    for i in range(len(CUTS) - 1):
        frame.iloc[CUTS[i] : CUTS[i + 1]].to_parquet(out / f"part{i}.parquet", row_group_size=300)
    return out


def _pair(folder, **parameters):
    fit = {**TINY, **parameters}
    memory = fit_distributed(AutoencoderDetector(**fit), folder, label_column="label", max_memory=10**9)
    streamed = fit_distributed(AutoencoderDetector(**fit), folder, label_column="label", max_memory=BUDGET)
    return memory, streamed


@pytest.fixture(scope="module")
def trained(folder):
    return _pair(folder, impute="mean")


def test_the_scaler_and_the_held_out_rows_are_those_of_training_in_memory(trained):
    memory, streamed = trained
    assert not hasattr(memory, "drift_reference_") or memory.drift_reference_ is not None
    assert streamed.drift_reference_ is None and not hasattr(streamed, "decision_scores_")
    for name in ("offset_", "scale_", "fill_values_"):
        np.testing.assert_allclose(
            getattr(streamed.preprocessor_, name), getattr(memory.preprocessor_, name), rtol=1e-12
        )
    # The held-out rows are the same rows: the same count, and the same scores on the in-memory network.
    assert len(streamed.calibration_scores_) == len(memory.calibration_scores_) > 0
    assert streamed.feature_names_in_.tolist() == list("abcdef") and streamed.n_features_in_ == 6


def test_streamed_training_gives_a_working_model(trained, folder):
    memory, streamed = trained
    assert len(streamed.history_.values["val_loss"]) == TINY["epochs"]
    # Another batch order, the same rows: the validation loss ends close to training in memory's.
    np.testing.assert_allclose(
        streamed.history_.values["val_loss"][-1], memory.history_.values["val_loss"][-1], rtol=0.1
    )
    test = pd.DataFrame(np.vstack([np.zeros((5, 6)), np.full((5, 6), 9.0)]), columns=list("abcdef"))
    assert streamed.predict(test).tolist() == [0] * 5 + [1] * 5


def test_the_statistics_on_the_same_network_are_those_of_training_in_memory(trained, folder):
    memory, _ = trained
    again = copy.deepcopy(memory)
    table = TableStream(folder, Group(), memory.random_state_, memory.validation_fraction, 1024, None, None, _labels)
    table.split()
    table.fit_statistics(again)
    # The reference codes are the codes of the same rows (the training rows with the smallest hashes),
    # in the same order; other rows would be far apart. Not bit for bit: the chunks pass the network
    # in other batches and the latent scale that divides them is a float64 sum in another order
    # (measured: within 2e-7 relative).
    np.testing.assert_allclose(again.latent_reference_, memory.latent_reference_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again.calibration_scores_, memory.calibration_scores_, rtol=1e-5)
    np.testing.assert_allclose(again.threshold_, memory.threshold_, rtol=1e-5)
    np.testing.assert_allclose(again.score_scales_, memory.score_scales_, rtol=1e-6)
    np.testing.assert_allclose(again.latent_precision_, memory.latent_precision_, rtol=1e-6)
    # The input rows: the distinct training rows with the smallest content hashes, the same values.
    assert len(memory.input_reference_) > 0
    np.testing.assert_array_equal(again.input_reference_, memory.input_reference_)
    np.testing.assert_allclose(again.input_scale_, memory.input_scale_, rtol=1e-5)


def _labels(frame):
    return split_labels(frame, "label")


def test_quantiles_come_from_the_same_sample(folder):
    memory, streamed = _pair(folder, scaler="robust", impute="median", epochs=1)
    assert streamed.preprocessor_.offset_ == memory.preprocessor_.offset_
    assert streamed.preprocessor_.scale_ == memory.preprocessor_.scale_
    assert streamed.preprocessor_.fill_values_ == memory.preprocessor_.fill_values_


def test_a_bad_cell_is_named_by_its_row_in_the_data(tmp_path):
    frame = pd.DataFrame({"a": np.arange(3000, dtype=float), "b": 1.0})
    frame.loc[2500, "b"] = np.nan
    frame.to_parquet(tmp_path / "one.parquet", row_group_size=1000)
    with pytest.raises(InvalidValueError, match="data row 2501"):
        fit_distributed(AutoencoderDetector(**TINY), tmp_path, max_memory=BUDGET)


def test_a_group_over_chunks_sums_gathers_and_picks_as_over_rows():
    rows = np.random.default_rng(1).normal(size=(50, 2))
    hashes = row_hash(np.arange(50), 3)

    def statistics(part, group):
        values, keys = part
        chosen = group.smallest(keys, 7)
        return (
            group.sum(values.sum(axis=0)),
            group.max(values.max(axis=0, initial=-np.inf)),
            group.gather(values[chosen]),
        )

    whole = statistics((rows, hashes), Group())
    cuts = [0, 0, 13, 14, 50]
    results, passes = in_passes(
        statistics, lambda: [(rows[a:b], hashes[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    )
    np.testing.assert_allclose(results[-1][0], whole[0], rtol=1e-14)
    assert np.array_equal(results[-1][1], whole[1]) and np.array_equal(results[-1][2], whole[2])
    assert isinstance(passes, PassGroup)


def test_a_group_over_chunks_picks_the_same_distinct_rows_as_over_rows():
    """Repeats within a chunk and across chunks count once: the sample, its share and the rows gathered
    are those of the whole table."""
    distinct = np.random.default_rng(2).normal(size=(40, 3)).astype(np.float32)
    rows = distinct[
        np.random.default_rng(3).integers(0, 40, size=120)
    ]  # 120 rows, each distinct one 3 times on average
    hashes = content_hash(rows, 5)
    assert len(np.unique(hashes)) == len(np.unique(rows, axis=0))

    def sample(part, group):
        values, keys = part
        chosen, share = group.smallest_distinct(keys, 10)
        return share, group.gather_distinct(keys[chosen], values[chosen])

    whole_share, (whole_hashes, whole_rows) = sample((rows, hashes), Group())
    assert len(whole_rows) == 10 and np.array_equal(whole_hashes, np.sort(np.unique(hashes))[:10])
    assert 0.1 < whole_share < 0.5  # 10 of the about 40 distinct rows
    cuts = [0, 0, 37, 38, 120]
    results, _ = in_passes(sample, lambda: [(rows[a:b], hashes[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)])
    share, (chunk_hashes, chunk_rows) = results[-1]
    assert share == whole_share
    assert np.array_equal(chunk_hashes, whole_hashes) and np.array_equal(chunk_rows, whole_rows)
    # Fewer distinct rows than asked for: every row, and a share of 1.
    mask, share = Group().smallest_distinct(hashes, 1000)
    assert mask.all() and share == 1.0


def test_each_step_takes_every_process_share_and_one_process_the_batches_of_memory():
    assert [s.tolist() for s in step_shares(np.array([10]), 4)] == [[4], [4], [2]]
    shares = np.array(list(step_shares(np.array([3, 40, 0, 17]), 16)))
    assert shares.sum(axis=1).tolist() == [16, 16, 16, 12]
    assert shares.sum(axis=0).tolist() == [3, 40, 0, 17]


def test_the_budget_decides_when_to_stream(folder):
    assert parse_memory("300MB") == 300 * 2**20 and parse_memory("2GiB") == 2 * 2**30 and parse_memory(5) == 5
    with pytest.raises(ValueError, match="not a size"):
        parse_memory("lots")
    assert needs_streaming(folder, 6, BUDGET) and not needs_streaming(folder, 6, 10**9)


def test_streaming_takes_tables_and_checks_the_labels_a_split_gives(tmp_path):
    frame = pd.DataFrame({"a": np.arange(200, dtype=float), "b": 1.0})
    frame.to_parquet(tmp_path / "one.parquet")
    with pytest.raises(ValueError, match="takes a table; architecture='conv1d'"):
        fit_streaming(AutoencoderDetector(**TINY, architecture="conv1d"), tmp_path, max_memory=BUDGET)
    with pytest.raises(ValueError, match=r"0 \(normal\) or 1 \(anomaly\); found \['2'\]"):
        fit_streaming(AutoencoderDetector(**TINY), tmp_path, max_memory=BUDGET, split=lambda f: (f, np.full(len(f), 2)))


def test_the_command_line_asks_about_a_label_like_column_when_streaming(folder, tmp_path):
    from typer.testing import CliRunner

    from aedetect.cli import app

    args = [
        "train",
        str(folder),
        "-o",
        str(tmp_path / "model"),
        "--max-memory",
        "20KB",
        "--epochs",
        "2",
        "--impute",
        "mean",
    ]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and "looks like a label" in refused.output
    assert not (tmp_path / "model").exists()
    trained = CliRunner().invoke(app, [*args, "--label-column", "label"])
    assert trained.exit_code == 0, trained.output
    assert "trained on the normal rows x 6 columns" in trained.output and "processes" not in trained.output


def test_a_row_and_its_copy_with_negative_zeros_are_one_distinct_row():
    rows = np.array([[0.0, 1.5], [-0.0, 1.5], [2.0, -0.0]], dtype=np.float32)
    hashes = content_hash(rows, 0)
    assert hashes[0] == hashes[1] != hashes[2]
    mask, share = Group().smallest_distinct(hashes, 0)
    assert not mask.any() and share == 0.0

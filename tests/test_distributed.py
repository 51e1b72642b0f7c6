"""Training on several processes (PyTorch DDP over gloo, two processes on this machine) gives the model
that one process trains on the same rows: the same steps, the same statistics, the same saved folder."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

import aedetect
from aedetect import AutoencoderDetector
from aedetect.data.shards import assign_fragments
from aedetect.partitions import Group, row_hash

# A few steps of a tiny network: enough to tell one process from two, seconds to run.
TINY = dict(
    hidden_dims=[8], latent_dim=2, epochs=3, batch_size=32, validation_fraction=0.2, random_state=0, device="cpu"
)
ROWS = 1400  # above the 1,024 reference codes a table keeps, so that the hash picks among the rows
CUT = 260  # rank 0 holds rows [0, CUT), rank 1 the rest: uneven shards
SKEWED = (3, 40)
SKEWED_PARAMETERS = {
    **TINY,
    "validation_fraction": 0.1,
    "normalization": "batch",
    "trim_fraction": 0.1,
    "batch_size": 16,
}
#: Largest difference measured between parameters trained by two processes and by one (3 epochs, Adam):
#: 3e-8; allclose with this bound leaves room for another BLAS, not for a wrong step.
PARAMETER_TOLERANCE = 1e-5
#: The skewed run trains with batch normalisation: the biases before it get no gradient, and Adam
#: turns the float noise there into steps of the learning rate's size, so losses agree less closely.
SKEWED_TOLERANCE = 5e-3  # measured: 1.3e-3
DEADLINE = 120  # seconds for the two processes: a hang fails the test instead of blocking the suite


def table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 2))
    values = np.column_stack([base, base @ np.array([[1.0, 0.5], [-0.5, 1.0]]) + 0.1 * rng.normal(size=(n, 2))])
    return pd.DataFrame(values, columns=["a", "b", "c", "d"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, port: int, folder: str) -> None:
    """One of two processes: trains on its shard, then re-fits the statistics of the one-process network."""
    import torch.distributed as dist

    from aedetect.distributed import fit_distributed
    from aedetect.training.split import held_out_split

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    out = Path(folder)
    data = table(ROWS)
    rows = slice(0, CUT) if rank == 0 else slice(CUT, ROWS)
    detector = fit_distributed(
        AutoencoderDetector(**TINY), data.iloc[rows], output=out / "model" if rank == 0 else None
    )
    state = {k: v.numpy() for k, v in detector.model_.state_dict().items()}
    np.savez(out / f"trained{rank}.npz", **state, val_loss=np.asarray(detector.history_.values["val_loss"]))

    # The statistics pass alone, on the network that one process trained, over this process's rows.
    single = aedetect.load(out / "single")
    single.random_state_ = TINY["random_state"]  # not saved: the seed that picked the rows
    keys = np.arange(ROWS)[rows]
    held, trained = held_out_split(len(keys), TINY["validation_fraction"], 0, keys=keys, group=Group.job())
    matrix = single.preprocessor_.transform(data.iloc[rows])
    single._fit_after_network(matrix[trained], matrix[held], keys[trained], keys[held], Group.job())
    np.savez(
        out / f"statistics{rank}.npz",
        reference=single.latent_reference_,
        scales=single.score_scales_,
        calibration=single.calibration_scores_,
        threshold=single.threshold_,
    )

    # A skewed split (3 rows against 40) ends, with every process at the same epoch; batch
    # normalisation and trimming take the whole batch, whose rows are mostly on one process.
    skewed = table(sum(SKEWED), 1)
    part = skewed.iloc[: SKEWED[0]] if rank == 0 else skewed.iloc[SKEWED[0] :]
    small = fit_distributed(AutoencoderDetector(**SKEWED_PARAMETERS), part)
    np.save(out / f"skewed{rank}.npy", np.asarray(small.history_.values["val_loss"]))

    # One batch of 10 rows, 2 on the first process: batch normalisation and trimming see all 10.
    from aedetect.training.distributed import Sharding, synchronised_batch_norm

    batch, first = _batch(), 0 if rank == 0 else 2
    mine = batch[first : 2 if rank == 0 else 10]
    layer = torch.nn.BatchNorm1d(3).train()
    with synchronised_batch_norm(layer):
        normalised = layer(mine)
    sharding = Sharding(Group.job(), 10, first, 0)
    loss = sharding.loss(mine[:, 0], torch.arange(first, first + len(mine)), 10, TRIM)
    total = Group.job().sum([float(loss)])[0] / 2  # what DDP's average of the gradients stands for
    np.savez(out / f"batch{rank}.npz", normalised=normalised.detach().numpy(), mean=layer.running_mean, loss=total)
    # As the CLI's processes end (see end_process): an interpreter shutdown after the collectives can
    # abort (SIGABRT) while a gloo thread still frees their tensors, after the work has succeeded.
    from aedetect.training.distributed import end_process

    end_process(0)


def _batch() -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(4).normal(1.0, 3.0, size=(10, 3)), dtype=torch.float32)


TRIM = 0.3


def _run_two(folder: Path) -> None:
    context = mp.start_processes(_worker, args=(_free_port(), str(folder)), nprocs=2, join=False, start_method="spawn")
    deadline = time.monotonic() + DEADLINE
    while not context.join(timeout=max(1.0, deadline - time.monotonic())):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"two-process training did not end within {DEADLINE} s")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    single = AutoencoderDetector(**TINY).fit(table(ROWS))
    single.save(folder / "single")
    _run_two(folder)
    return folder, single


def test_two_processes_train_the_parameters_of_one(runs):
    folder, single = runs
    first, second = np.load(folder / "trained0.npz"), np.load(folder / "trained1.npz")
    for name, tensor in single.model_.state_dict().items():
        assert np.array_equal(first[name], second[name]), name  # replicas are identical
        np.testing.assert_allclose(first[name], tensor.numpy(), rtol=0, atol=PARAMETER_TOLERANCE, err_msg=name)
    np.testing.assert_allclose(first["val_loss"], single.history_.values["val_loss"], rtol=1e-5)


def test_the_first_process_saves_a_model_folder_that_scores_as_one_process_does(runs):
    folder, single = runs
    model = aedetect.load(folder / "model")
    test = pd.concat([table(40, 2), 6.0 + table(5, 3)], ignore_index=True)
    np.testing.assert_allclose(model.decision_function(test), single.decision_function(test), rtol=1e-4)
    assert model.predict(test)[-5:].tolist() == [1] * 5
    assert len(model.latent_reference_) == 1024


def test_the_statistics_of_two_processes_are_those_of_one_on_the_same_network(runs):
    folder, single = runs
    for rank in (0, 1):
        statistics = np.load(folder / f"statistics{rank}.npz")
        assert np.array_equal(statistics["reference"], single.latent_reference_)
        assert np.array_equal(statistics["calibration"], single.calibration_scores_)
        assert float(statistics["threshold"]) == single.threshold_
        np.testing.assert_allclose(statistics["scales"], single.score_scales_, rtol=1e-12)


def test_a_skewed_split_ends_on_every_process_at_the_same_epoch_as_one_process(runs):
    folder, _ = runs
    first, second = np.load(folder / "skewed0.npy"), np.load(folder / "skewed1.npy")
    assert len(first) == len(second) == TINY["epochs"] and np.array_equal(first, second)
    single = AutoencoderDetector(**SKEWED_PARAMETERS).fit(table(sum(SKEWED), 1))
    # Batch normalisation over each process's rows alone, or trimming per process, would be far off.
    np.testing.assert_allclose(first, single.history_.values["val_loss"], rtol=SKEWED_TOLERANCE)


def test_batch_normalisation_and_trimming_take_the_whole_batch_of_all_processes(runs):
    folder, _ = runs
    parts = [np.load(folder / f"batch{rank}.npz") for rank in (0, 1)]
    layer = torch.nn.BatchNorm1d(3).train()
    expected = layer(_batch()).detach().numpy()
    np.testing.assert_allclose(np.concatenate([p["normalised"] for p in parts]), expected, rtol=1e-5, atol=1e-6)
    for part in parts:
        np.testing.assert_allclose(part["mean"], layer.running_mean.numpy(), rtol=1e-6)
        kept = _batch()[:, 0].topk(int(10 * (1 - TRIM)), largest=False).values.mean()
        np.testing.assert_allclose(part["loss"], float(kept), rtol=1e-6)


def test_the_held_out_rows_do_not_depend_on_how_rows_are_split():
    from aedetect.training.split import held_out_split

    held, _ = held_out_split(1000, 0.1, 7)
    assert len(held) == 100
    chosen = row_hash(np.arange(1000), 7)
    assert set(held) == set(np.argsort(chosen)[:100])  # the 100 smallest hashes of (seed, row key)
    assert not np.array_equal(held, np.sort(held_out_split(1000, 0.1, 8)[0]))


def test_parquet_files_are_shared_out_whole_and_balanced_by_rows():
    assert assign_fragments([10, 10, 10, 10], 2) == [[0, 1], [2, 3]]
    assert assign_fragments([1, 12, 1, 12, 1, 12, 1], 2) == [[0, 1, 2, 3], [4, 5, 6]]
    assert assign_fragments([5], 2) == [[0], []]  # a process may hold no file at all


@pytest.mark.skipif(sys.platform == "win32", reason="torchrun's launcher")
def test_torchrun_trains_through_the_command_line_as_one_process_does(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for index, rows in enumerate(np.array_split(np.arange(300), 3)):
        table(300).iloc[rows].to_parquet(data / f"part-{index}.parquet")
    options = ["--epochs", "2", "--hidden-dims", "8", "--latent-dim", "2", "--device", "cpu"]
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [
        str(torchrun), "--nproc-per-node", "2", "--master-port", str(_free_port()), "-m", "aedetect", "train",
        str(data), "-o", str(tmp_path / "model"), *options,
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=DEADLINE, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert done.returncode == 0, done.stderr[-4000:]
    # Each process read its own files (not every row): 300 rows in all, 30 of them held out.
    assert "trained on 300 normal rows x 4 columns" in done.stdout, done.stdout
    model = aedetect.load(tmp_path / "model")
    assert model.history_.stopped_epoch == 2
    assert model.metadata_["source"] == str(data) and model.metadata_["label_column"] is None
    # The threshold with what it means, over the held-out rows of both processes.
    pattern = r"threshold false_alarm_rate:0.01 = \S+: flags \S+% of held-out normal rows \(\d+ of 30\)"
    assert re.search(pattern, done.stdout)
    # The same folder trained on in one process (reading the Parquet files whole within a memory
    # budget): the same rows, held-out rows and steps.
    from typer.testing import CliRunner

    from aedetect.cli import app

    alone = CliRunner().invoke(
        app, ["train", str(data), "-o", str(tmp_path / "alone"), "--max-memory", "1GB", *options]
    )
    assert alone.exit_code == 0, alone.output
    single = aedetect.load(tmp_path / "alone")
    np.testing.assert_allclose(single.threshold_, model.threshold_, rtol=1e-4)
    np.testing.assert_allclose(single.decision_function(table(10, 5)), model.decision_function(table(10, 5)), rtol=1e-4)


def test_a_process_ends_with_its_exit_code_and_its_output_flushed():
    code = "from aedetect.training.distributed import end_process; print('saved', end=''); end_process(3)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=DEADLINE)
    assert (done.returncode, done.stdout) == (3, "saved")


@pytest.mark.skipif(sys.platform == "win32", reason="torchrun's launcher")
def test_a_torchrun_process_refused_by_the_command_line_exits_2_with_one_line(tmp_path):
    table(100).to_parquet(tmp_path / "part-0.parquet")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("not a model")
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [
        str(torchrun), "--nproc-per-node", "2", "--master-port", str(_free_port()), "-m", "aedetect", "train",
        str(tmp_path / "part-0.parquet"), "-o", str(tmp_path / "taken"), "--epochs", "1", "--device", "cpu",
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=DEADLINE, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert done.returncode != 0
    assert "exitcode  : 2" in done.stderr and "SIGABRT" not in done.stderr, done.stderr[-4000:]
    assert re.search(r"^error: .*taken", done.stderr, re.MULTILINE), done.stderr[-4000:]
    assert (tmp_path / "taken" / "notes.txt").read_text() == "not a model"


def test_one_process_reads_every_parquet_file_in_path_order_with_row_positions_as_keys(tmp_path):
    from aedetect.data.shards import read_shard

    whole = table(30).assign(id=[f"row{i}" for i in range(30)])
    for index, rows in enumerate(np.array_split(np.arange(30), 3)):
        whole.iloc[rows].to_parquet(tmp_path / f"part-{2 - index}.parquet")  # path order is not write order
    shard = read_shard(tmp_path)
    assert shard.n_rows == 30 and shard.paths == sorted(shard.paths)
    expected = pd.concat([whole.iloc[20:], whole.iloc[10:20], whole.iloc[:10]], ignore_index=True)
    pd.testing.assert_frame_equal(shard.frame, expected)
    assert shard.keys.tolist() == list(range(30))
    keyed = read_shard(tmp_path, id_column="id")
    assert keyed.keys.tolist() == expected["id"].tolist() and "id" not in keyed.frame.columns

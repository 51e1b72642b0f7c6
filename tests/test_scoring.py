"""forward_pass: per-feature errors, codes and reconstructions, in batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aedetect.models.dense import DenseAutoencoder, DenseConfig
from aedetect.scoring.forward import forward_pass

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model() -> DenseAutoencoder:
    torch.manual_seed(0)
    return DenseAutoencoder(DenseConfig(n_features=3, hidden_dims=[6], latent_dim=2)).eval()


@pytest.fixture(scope="module")
def matrix() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(25, 3)).astype(np.float32)


def test_forward_pass_returns_what_is_asked(model, matrix):
    out = forward_pass(model, matrix, "mse", CPU, keep=("errors", "codes", "reconstructions"))
    assert out["errors"].shape == (25, 3) and out["codes"].shape == (25, 2) and out["reconstructions"].shape == (25, 3)
    assert set(forward_pass(model, matrix, "mse", CPU)) == {"errors"}
    with torch.no_grad():
        expected = model(torch.as_tensor(matrix)).numpy()
    np.testing.assert_allclose(out["reconstructions"], expected, rtol=1e-6)
    np.testing.assert_allclose(out["errors"], (expected - matrix) ** 2, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("error", ["mse", "mae", "huber"])
def test_batches_give_the_same_result_as_one_pass(model, matrix, error):
    whole = forward_pass(model, matrix, error, CPU, keep=("errors", "codes"))
    batched = forward_pass(model, matrix, error, CPU, batch_size=4, keep=("errors", "codes"))
    for name in whole:
        np.testing.assert_allclose(batched[name], whole[name], rtol=1e-6)


def test_zero_rows_give_empty_arrays_of_the_right_width(model):
    out = forward_pass(model, np.empty((0, 3), np.float32), "mse", CPU, keep=("errors", "codes", "reconstructions"))
    assert out["errors"].shape == (0, 3) and out["reconstructions"].shape == (0, 3) and out["codes"].shape[0] == 0


def test_forward_pass_puts_the_model_in_evaluation_mode(matrix):
    model = DenseAutoencoder(DenseConfig(n_features=3, hidden_dims=[6], latent_dim=2, dropout=0.5))
    model.train()
    first = forward_pass(model, matrix, "mse", CPU)["errors"]
    second = forward_pass(model, matrix, "mse", CPU)["errors"]
    assert not model.training
    np.testing.assert_array_equal(first, second)  # no dropout at scoring time

"""The training loop: every optimizer and loss trains, metrics in the history, early stopping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aedetect import AutoencoderDetector
from aedetect.models.dense import DenseAutoencoder, DenseConfig
from aedetect.training.loop import (
    ELEMENTWISE,
    LOSSES,
    METRICS,
    OPTIMIZERS,
    History,
    TrainingConfig,
    check_name,
    evaluate_batches,
    resolve_device,
    train,
)

CPU = torch.device("cpu")


@pytest.fixture
def matrices(normal_frame):
    values = np.array((normal_frame - normal_frame.mean()) / normal_frame.std(), dtype=np.float32)
    return values[:250], values[250:]


def _model(seed: int = 0) -> DenseAutoencoder:
    torch.manual_seed(seed)
    return DenseAutoencoder(DenseConfig(n_features=4, hidden_dims=[8], latent_dim=2))


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_trains(matrices, optimizer):
    train_data, val_data = matrices
    config = TrainingConfig(optimizer=optimizer, learning_rate=0.01, epochs=20, batch_size=32, patience=50)
    history = train(_model(), train_data, val_data, config, CPU)
    losses = history.values["val_loss"]
    assert min(losses) < 0.7 * losses[0]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_through_the_detector(normal_frame, fresh_normals, outliers, fast, optimizer):
    detector = AutoencoderDetector(optimizer=optimizer, learning_rate=0.01, **fast).fit(normal_frame)
    assert detector.decision_function(outliers).min() > np.percentile(detector.decision_function(fresh_normals), 95)


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains_and_ranks_outliers_first(normal_frame, fresh_normals, outliers, fast, loss):
    extra = dict(scaler="minmax", output_activation="sigmoid") if loss == "bce" else {}
    detector = AutoencoderDetector(loss=loss, learning_rate=0.01, **extra, **fast).fit(normal_frame)
    losses = detector.history_.values["loss"]
    assert losses[-1] < losses[0]
    scores = detector.decision_function(outliers)
    assert np.isfinite(scores).all()
    assert scores.min() > np.percentile(detector.decision_function(fresh_normals), 95)


def test_bce_error_is_zero_for_a_perfect_reconstruction_and_grows_beyond_the_training_range():
    out = torch.full((1, 5), 0.9)
    errors = ELEMENTWISE["bce"](out, torch.tensor([[0.9, 0.5, 1.0, 1.5, 4.0]]))
    assert torch.isfinite(errors).all()
    assert float(errors[0, 0]) == pytest.approx(0.0, abs=1e-6)
    assert 0 < errors[0, 2] < errors[0, 3] < errors[0, 4]
    # Inside [0, 1] it is BCE less the target's entropy: the Bernoulli KL divergence.
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert float(errors[0, 1]) == pytest.approx(expected, rel=1e-5)


def test_bce_has_the_gradient_of_binary_cross_entropy():
    out = torch.tensor([[0.2, 0.7, 0.5]], requires_grad=True)
    x = torch.tensor([[0.0, 0.4, 1.0]])
    ELEMENTWISE["bce"](out, x).sum().backward()
    reference = out.detach().clone().requires_grad_(True)
    torch.nn.functional.binary_cross_entropy(reference, x, reduction="sum").backward()
    torch.testing.assert_close(out.grad, reference.grad)


@pytest.mark.parametrize("name", ["mse", "mae", "huber"])
def test_elementwise_errors_match_torch(name):
    out, x = torch.tensor([[0.0, 2.0, -1.0]]), torch.tensor([[0.5, 0.0, 2.0]])
    expected = {
        "mse": torch.nn.functional.mse_loss(out, x, reduction="none"),
        "mae": torch.nn.functional.l1_loss(out, x, reduction="none"),
        "huber": torch.nn.functional.huber_loss(out, x, reduction="none"),
    }[name]
    torch.testing.assert_close(ELEMENTWISE[name](out, x), expected)


def test_metrics_appear_in_the_history_for_training_and_validation(matrices):
    train_data, val_data = matrices
    config = TrainingConfig(metrics=METRICS, epochs=4, batch_size=32, learning_rate=0.01)
    history = train(_model(), train_data, val_data, config, CPU)
    expected = {"loss"} | set(METRICS)
    assert set(history.values) == expected | {f"val_{name}" for name in expected}
    assert all(len(values) == 4 for values in history.values.values())
    # Validation metrics are computed in one pass with fixed weights: rmse is the root of mse.
    np.testing.assert_allclose(np.sqrt(history.values["val_mse"]), history.values["val_rmse"], rtol=1e-5)
    # The loss is mse here, so the tracked mse metric is the loss itself.
    np.testing.assert_allclose(history.values["val_mse"], history.values["val_loss"], rtol=1e-5)


def test_without_validation_rows_only_training_keys(matrices):
    train_data, _ = matrices
    history = train(_model(), train_data, None, TrainingConfig(metrics=("mae",), epochs=3), CPU)
    assert set(history.values) == {"loss", "mae"}


def test_detector_history_uses_keras_style_keys(normal_frame, fast):
    detector = AutoencoderDetector(metrics=["mae", "rmse"], **fast).fit(normal_frame)
    assert set(detector.history_.values) == {"loss", "mae", "rmse", "val_loss", "val_mae", "val_rmse"}


def test_early_stopping_restores_the_best_weights(matrices):
    train_data, val_data = matrices
    config = TrainingConfig(optimizer="rmsprop", learning_rate=0.01, epochs=300, batch_size=16, patience=3)
    model = _model()
    history = train(model, train_data, val_data, config, CPU)
    val_loss = history.values["val_loss"]
    assert history.stopped_epoch < 300, "early stopping never triggered"
    assert history.best_epoch < history.stopped_epoch == history.best_epoch + 3
    assert val_loss[history.best_epoch - 1] == min(val_loss)
    assert val_loss[-1] > min(val_loss)
    # The model holds the best epoch's weights, not the last epoch's.
    restored = evaluate_batches(model, torch.as_tensor(val_data), "mse", (), 4096)["loss"]
    assert restored == pytest.approx(min(val_loss), rel=1e-5)
    assert not model.training


def test_the_history_says_whether_the_budget_or_early_stopping_ended_training(matrices):
    train_data, val_data = matrices
    config = TrainingConfig(learning_rate=0.01, epochs=3, batch_size=32, patience=10)
    cut_short = train(_model(), train_data, val_data, config, CPU)
    # Three epochs from a random start: the loss is still falling when the budget runs out.
    assert cut_short.stopped_epoch == 3 and cut_short.best_epoch == 3
    assert cut_short.stopped_on_budget
    config = TrainingConfig(optimizer="rmsprop", learning_rate=0.01, epochs=300, batch_size=16, patience=3)
    early = train(_model(), train_data, val_data, config, CPU)
    assert early.stopped_epoch < 300 and not early.stopped_on_budget


def test_history_saved_before_the_budget_flag_loads_as_not_cut_short():
    saved = {"values": {"loss": [1.0]}, "best_epoch": 1, "stopped_epoch": 1, "seconds": 0.1}
    assert History.from_dict(saved).stopped_on_budget is False


def test_without_validation_the_training_loss_picks_the_best_epoch(matrices):
    train_data, _ = matrices
    history = train(_model(), train_data, None, TrainingConfig(epochs=8, patience=2), CPU)
    losses = history.values["loss"]
    assert losses[history.best_epoch - 1] == min(losses)


def test_training_is_reproducible_with_the_same_seed(matrices):
    train_data, val_data = matrices
    config = TrainingConfig(epochs=5, batch_size=32, seed=3)
    first = train(_model(), train_data, val_data, config, CPU)
    second = train(_model(), train_data, val_data, config, CPU)
    assert first.values == second.values


def test_diverging_training_stops_with_a_clear_error(matrices):
    train_data, _ = matrices
    config = TrainingConfig(optimizer="sgd", learning_rate=1e6, epochs=50, batch_size=32)
    with pytest.raises(FloatingPointError, match="training loss became .* lower the learning rate"):
        train(_model(), train_data * 1e3, None, config, CPU)


def test_progress_callback_sees_every_epoch(matrices):
    train_data, val_data = matrices
    seen = []
    train(
        _model(),
        train_data,
        val_data,
        TrainingConfig(epochs=3),
        CPU,
        lambda epoch, logs: seen.append((epoch, logs)),
    )
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert {"loss", "val_loss"} <= set(seen[0][1])


def test_history_round_trip():
    history = History({"loss": [1.0, 0.5]}, best_epoch=2, stopped_epoch=2, seconds=0.1, stopped_on_budget=True)
    history.append({"loss": 0.25, "mae": 0.1})
    restored = History.from_dict(history.to_dict())
    assert restored == history
    assert restored.values == {"loss": [1.0, 0.5, 0.25], "mae": [0.1]}


def test_resolve_device_and_check_name():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is available"):
            resolve_device("cuda:0")
    assert check_name("loss", "mse", LOSSES) == "mse"
    with pytest.raises(ValueError, match="Unknown loss 'hinge'; choose one of: mse, mae, huber, bce."):
        check_name("loss", "hinge", LOSSES)
    assert math.isclose(float(ELEMENTWISE["mse"](torch.tensor([2.0]), torch.tensor([0.0]))), 4.0)


def test_the_rotation_head_is_kept_only_where_held_out_images_show_it_reads_their_pose():
    from aedetect.models.conv import ConvAutoencoder, ConvConfig
    from aedetect.training.sizing import ROTATION, rotation_head_supported, without_rotation_head

    def history(accuracy: list[float], best: int) -> History:
        return History({"val_loss": [1.0] * len(accuracy), "val_rotation_accuracy": accuracy}, best, len(accuracy))

    enough = ROTATION["min_held_out"]
    assert rotation_head_supported(history([0.5, 0.95, 0.6], best=2), enough)
    # A symmetric shape: turns by a half told apart no better than chance at the best epoch.
    assert not rotation_head_supported(history([0.95, 0.5, 0.97], best=2), enough)
    # Too few held-out images to judge, or no head at all.
    assert not rotation_head_supported(history([1.0], best=1), enough - 1)
    assert not rotation_head_supported(History({"val_loss": [1.0]}, 1, 1), enough)

    torch.manual_seed(0)
    config = ConvConfig(input_shape=[1, 8, 8], channels=[4], latent_dim=3, rotation_head=True)
    model = ConvAutoencoder(config)
    x = torch.rand(5, 64)
    before = model(x)
    plain_config, plain = without_rotation_head(config, model)
    assert plain_config.rotation_head is False and plain.rotation is None
    assert not any(key.startswith("rotation.") for key in plain.state_dict())
    # The weights load into a model built from the new config, and reconstruct as before.
    rebuilt = ConvAutoencoder(plain_config)
    rebuilt.load_state_dict(plain.state_dict(), strict=True)
    torch.testing.assert_close(rebuilt(x), before)

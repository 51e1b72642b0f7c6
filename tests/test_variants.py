"""Autoencoder variants (denoising, sparse, variational) and the ensemble under the detector contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import FAST, normal_rows, outlier_rows
from test_images_series import FAST_ARRAY, sine_windows, square_images
from typer.testing import CliRunner

from aedetect import AutoencoderDetector, EnsembleDetector, load
from aedetect.cli import app
from aedetect.training.variants import VARIANTS, Variant

# The variational variant is checked with its own score here (the default latent_knn score runs
# for it too, see below; on the tiny LSTM it ranks poorly, because in 20 epochs the LSTM's posterior
# stays close to the prior and the latent distance is mostly noise).
KNOBS = {
    "plain": {},
    "denoising": dict(noise_level=0.2),
    "sparse": dict(sparsity_weight=1e-3),
    "variational": dict(beta=1.0, score="negative_elbo"),
}
# Long enough for the penalties to take effect (15 epochs at the default rate is not).
CONVERGED = dict(FAST, epochs=40, learning_rate=0.01)
ARCHITECTURES = {
    "dense": (FAST, lambda n, s, a=False: outlier_rows(n, s) if a else normal_rows(n, s)),
    "conv2d": (dict(FAST_ARRAY, architecture="conv2d"), lambda n, s, a=False: square_images(n, s, a)),
    "conv1d": (dict(FAST_ARRAY, architecture="conv1d"), lambda n, s, a=False: sine_windows(n, s, spike=a)),
    "lstm": (
        dict(FAST_ARRAY, architecture="lstm", hidden_dims=[16], epochs=20),
        lambda n, s, a=False: sine_windows(n, s, spike=a),
    ),
}


def _concat(a, b):
    return pd.concat([a, b], ignore_index=True) if isinstance(a, pd.DataFrame) else np.concatenate([a, b])


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("variant", VARIANTS)
def test_contract_over_variants_and_architectures(variant, architecture, tmp_path):
    params, make = ARCHITECTURES[architecture]
    detector = AutoencoderDetector(**params, variant=variant, **KNOBS[variant]).fit(make(200, 0))
    normals, anomalies = make(40, 7), make(10, 2, True)
    normal_scores, anomaly_scores = detector.decision_function(normals), detector.decision_function(anomalies)
    assert np.isfinite(normal_scores).all()
    assert np.median(anomaly_scores) > np.percentile(normal_scores, 95)  # higher = more anomalous
    assert detector.predict(anomalies).mean() >= 0.9  # 1 = anomaly
    assert detector.predict(normals).mean() <= 0.2

    detector.save(tmp_path / "model")
    loaded = load(tmp_path / "model")
    assert (loaded.variant, loaded.model_kind_) == (variant, detector.model_kind_)
    probe = _concat(normals, anomalies)
    np.testing.assert_array_equal(loaded.decision_function(probe), detector.decision_function(probe))
    np.testing.assert_array_equal(loaded.predict(probe), detector.predict(probe))
    np.testing.assert_array_equal(loaded.encode(probe), detector.encode(probe))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            dict(variant="contractive"),
            "The 'variant' parameter of AutoencoderDetector must be a str among "
            "{'plain', 'denoising', 'sparse', 'variational'}; got 'contractive'.",
        ),
        (
            dict(noise="salt"),
            "The 'noise' parameter of AutoencoderDetector must be a str among {'gaussian', 'masking'}; got 'salt'.",
        ),
        (dict(noise_level=-0.1), "The 'noise_level' parameter of AutoencoderDetector must be a float >= 0; got -0.1."),
        (
            dict(noise="masking", noise_level=1.0),
            "The 'noise_level' parameter of AutoencoderDetector must be a "
            "float in the range [0, 1) with noise='masking'; got 1.0.",
        ),
        (
            dict(sparsity_weight=-1e-3),
            "The 'sparsity_weight' parameter of AutoencoderDetector must be a float >= 0; got -0.001.",
        ),
        (dict(beta=-1.0), "The 'beta' parameter of AutoencoderDetector must be a float >= 0; got -1.0."),
        (
            dict(score="negative_elbo"),
            "The 'score' parameter of AutoencoderDetector may be 'negative_elbo' only "
            "with variant='variational'; got variant='plain'.",
        ),
    ],
)
def test_bad_knobs_get_clear_errors(params, message, normal_frame):
    with pytest.raises(ValueError) as raised:
        AutoencoderDetector(**params).fit(normal_frame)
    assert str(raised.value) == message


def test_variational_training_has_a_real_kl_term_and_beta_weights_it(normal_frame):
    kl = {}
    for beta in (0.01, 1.0, 20.0):
        detector = AutoencoderDetector(**CONVERGED, variant="variational", beta=beta).fit(normal_frame)
        kl[beta] = detector.history_.values["val_kl"][detector.history_.best_epoch - 1]
        assert min(detector.history_.values["kl"]) > 0  # logged in every epoch, never clamped to 0
    assert kl[1.0] > 0.05  # the true ELBO keeps an informative, non-collapsed posterior
    assert kl[20.0] < 0.1 * kl[1.0] < kl[0.01]  # a heavier KL weight pulls the posterior to the prior


@pytest.mark.parametrize("score", ["negative_elbo", "latent_knn", "reconstruction"])
def test_variational_scores_are_deterministic(score, normal_frame, fresh_normals, outliers):
    detector = AutoencoderDetector(**FAST, variant="variational", score=score).fit(normal_frame)
    probe = pd.concat([fresh_normals, outliers], ignore_index=True)
    first = detector.decision_function(probe)
    np.testing.assert_array_equal(detector.decision_function(probe), first)
    np.testing.assert_array_equal(detector.decision_function(probe), first)
    assert np.median(first[-len(outliers) :]) > np.percentile(first[: len(fresh_normals)], 99)


def test_corruption_is_what_the_knobs_say():
    x = torch.ones(2000, 50)
    generator = torch.Generator().manual_seed(0)
    gaussian = Variant("denoising", "gaussian", 0.3).corrupt(x, generator)
    assert float((gaussian - x).std()) == pytest.approx(0.3, rel=0.02)
    masked = Variant("denoising", "masking", 0.25).corrupt(x, generator)
    assert float((masked == 0).float().mean()) == pytest.approx(0.25, abs=0.01)
    for kind in ("plain", "sparse", "variational"):
        assert Variant(kind, noise_level=0.5).corrupt(x, generator) is x  # only denoising corrupts


def test_the_sparsity_penalty_shrinks_latent_activity(normal_frame):
    activity = {}
    for weight in (0.0, 0.1):
        detector = AutoencoderDetector(**CONVERGED, variant="sparse", sparsity_weight=weight).fit(normal_frame)
        activity[weight] = np.abs(detector.encode(normal_frame)).sum(axis=1).mean()
        assert "sparsity" in detector.history_.values
    assert activity[0.1] < 0.2 * activity[0.0]


def test_ensemble_contract(normal_frame, fresh_normals, outliers, tmp_path):
    ensemble = EnsembleDetector(AutoencoderDetector(**FAST), n_members=3).fit(normal_frame)
    assert [m.random_state for m in ensemble.members_] == [0, 1, 2]
    normal_scores, outlier_scores = ensemble.decision_function(fresh_normals), ensemble.decision_function(outliers)
    assert np.median(outlier_scores) > np.percentile(normal_scores, 99)
    assert ensemble.predict(outliers).mean() >= 0.9 and ensemble.predict(fresh_normals).mean() <= 0.2
    ensemble.save(tmp_path / "ensemble")
    loaded = load(tmp_path / "ensemble")
    assert isinstance(loaded, EnsembleDetector) and loaded.threshold_ == ensemble.threshold_
    probe = pd.concat([fresh_normals, outliers], ignore_index=True)
    np.testing.assert_array_equal(loaded.decision_function(probe), ensemble.decision_function(probe))
    np.testing.assert_array_equal(loaded.predict(probe), ensemble.predict(probe))
    with pytest.raises(ValueError, match="The 'n_members' parameter of EnsembleDetector must be an int >= 1; got 0."):
        EnsembleDetector(n_members=0).fit(normal_frame)


def test_cli_trains_a_variant_and_rejects_bad_knobs(labelled_csv, tmp_path):
    runner = CliRunner()
    common = [
        "--label-column",
        "label",
        "--drop",
        "id",
        "--hidden-dims",
        "8",
        "--latent-dim",
        "2",
        "--epochs",
        "3",
        "--device",
        "cpu",
        "-q",
    ]
    result = runner.invoke(
        app,
        [
            "train",
            str(labelled_csv),
            "-o",
            str(tmp_path / "m"),
            *common,
            "--variant",
            "denoising",
            "--noise",
            "masking",
            "--noise-level",
            "0.2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (load(tmp_path / "m").variant, load(tmp_path / "m").noise_level) == ("denoising", 0.2)
    result = runner.invoke(
        app,
        ["train", str(labelled_csv), "-o", str(tmp_path / "bad"), *common, "--variant", "variational", "--beta", "-1"],
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: The 'beta' parameter of AutoencoderDetector must be a float >= 0; got -1.0."
    )

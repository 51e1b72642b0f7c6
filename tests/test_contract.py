"""One contract over every network, variant and score, driven by the registries: fit -> score ->
predict -> save -> load -> the same scores and flags bit for bit, and each row's score the same
whether it is scored alone or with the others; then the same over the table options a user mixes in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aedetect import AutoencoderDetector, EnsembleDetector, load
from aedetect.kinds import KIND_OF_ARCHITECTURE, TABLE
from aedetect.parameters import ALL_SCORES, ARCHITECTURES, SCORES
from aedetect.training.variants import VARIANTS as MODEL_VARIANTS

#: Tiny inputs of each kind: 4-column rows, 8x8 images, windows of 12 steps by 2 channels.
TINY = dict(hidden_dims=[4], latent_dim=2, epochs=2, batch_size=16, random_state=0, device="cpu")


def _tiny_data(kind: str, n: int, seed: int):
    rng = np.random.default_rng(seed)
    if kind == TABLE:
        base = rng.normal(size=(n, 2))
        return pd.DataFrame(np.column_stack([base, base @ [[1.0, 0.5], [-0.5, 1.0]]]), columns=["a", "b", "c", "d"])
    if kind == "image":
        images = 0.1 * rng.random((n, 8, 8))
        images[:, 1:4, 1:3] += 0.8
        return images.astype(np.float32)
    steps = np.arange(12) / 12
    phase = rng.random((n, 1, 1))
    return np.concatenate([np.sin(2 * np.pi * (steps[None, :, None] + phase))] * 2, axis=2) + 0.05 * rng.normal(
        size=(n, 12, 2)
    )


def _scores_of(variant: str) -> tuple[str, ...]:
    return ALL_SCORES if variant == "variational" else SCORES


#: Every network x every variant x every score that variant offers (architecture "auto" picks one of them).
CASES = [
    (architecture, variant, score)
    for architecture in ARCHITECTURES
    if architecture != "auto"
    for variant in MODEL_VARIANTS
    for score in _scores_of(variant)
]


def _one_at_a_time(detector, probe) -> np.ndarray:
    rows = [probe.iloc[[i]] if isinstance(probe, pd.DataFrame) else probe[i : i + 1] for i in range(len(probe))]
    return np.concatenate([detector.decision_function(row) for row in rows])


def _same_after_loading(detector, probe, folder) -> None:
    detector.save(folder)
    loaded = load(folder)
    assert type(loaded) is type(detector)
    assert np.array_equal(loaded.decision_function(probe), detector.decision_function(probe))
    assert np.array_equal(loaded.predict(probe), detector.predict(probe))
    assert loaded.threshold_ == detector.threshold_


@pytest.mark.parametrize(("architecture", "variant", "score"), CASES, ids=["-".join(case) for case in CASES])
def test_every_network_variant_and_score_keeps_its_contract(architecture, variant, score, tmp_path):
    kind = KIND_OF_ARCHITECTURE[architecture]
    train, probe = _tiny_data(kind, 40, 0), _tiny_data(kind, 9, 1)
    detector = AutoencoderDetector(**TINY, architecture=architecture, variant=variant, score=score).fit(train)
    assert detector.data_kind_ == kind

    scores = detector.decision_function(probe)
    assert scores.shape == (len(probe),) and scores.dtype == np.float64 and np.isfinite(scores).all()
    flags = detector.predict(probe)
    assert set(np.unique(flags)) <= {0, 1}
    assert np.array_equal(flags, (scores > detector.threshold_).astype(flags.dtype))  # 1 = score above threshold
    assert np.array_equal(_one_at_a_time(detector, probe), scores)  # batch-independent, bit for bit
    _same_after_loading(detector, probe, tmp_path / "model")


@pytest.mark.parametrize("architecture", ["dense", "conv2d"])
def test_an_ensemble_keeps_the_contract(architecture, tmp_path):
    kind = KIND_OF_ARCHITECTURE[architecture]
    train, probe = _tiny_data(kind, 40, 0), _tiny_data(kind, 9, 1)
    ensemble = EnsembleDetector(AutoencoderDetector(**TINY, architecture=architecture), n_members=2).fit(train)
    scores = ensemble.decision_function(probe)
    assert scores.shape == (len(probe),) and np.isfinite(scores).all()
    assert np.array_equal(ensemble.predict(probe), (scores > ensemble.threshold_).astype(int))
    assert np.array_equal(_one_at_a_time(ensemble, probe), scores)
    _same_after_loading(ensemble, probe, tmp_path / "ensemble")


def test_negative_elbo_of_one_row_batches_equals_the_full_batch():
    """The variational score goes through the same padded forward batches as every other score."""
    train = _tiny_data(TABLE, 200, 0)
    detector = AutoencoderDetector(**TINY, variant="variational", score="negative_elbo").fit(train)
    probe = _tiny_data(TABLE, 37, 2)
    assert np.array_equal(_one_at_a_time(detector, probe), detector.decision_function(probe))
    halves = np.concatenate([detector.decision_function(probe.iloc[:20]), detector.decision_function(probe.iloc[20:])])
    assert np.array_equal(halves, detector.decision_function(probe))


VARIANTS = {
    **{f"score={score}": dict(score=score) for score in SCORES},
    "batch norm + dropout": dict(normalization="batch", dropout=0.1),
    "layer norm, tanh": dict(normalization="layer", activation="tanh"),
    "two hidden layers": dict(hidden_dims=[12, 6]),
    "robust scaler, mae": dict(scaler="robust", loss="mae"),
    "bce": dict(scaler="minmax", output_activation="sigmoid", loss="bce"),
    "no validation rows": dict(validation_fraction=0.0),
    "categorical + impute": dict(categorical_features=["colour"], impute="mean"),
}


def _data(frame: pd.DataFrame, variant: dict) -> pd.DataFrame:
    if variant.get("categorical_features"):
        frame = frame.assign(colour=np.where(frame["a"] > 0, "red", "blue"))
    return frame


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_table_options_keep_the_contract(name, normal_frame, fresh_normals, outliers, fast, tmp_path):
    variant = VARIANTS[name]
    train, normals, anomalies = (_data(f, variant) for f in (normal_frame, fresh_normals, outliers))
    detector = AutoencoderDetector(**{**fast, **variant}).fit(train)

    normal_scores, outlier_scores = detector.decision_function(normals), detector.decision_function(anomalies)
    assert normal_scores.shape == (len(normals),) and np.isfinite(normal_scores).all()
    assert np.median(outlier_scores) > np.percentile(normal_scores, 99)  # higher = more anomalous
    assert detector.predict(anomalies).mean() >= 0.9  # 1 = anomaly
    # Without held-out rows the threshold is fitted on the training rows' own (lower) scores, so fresh
    # normal rows pass it more often.
    assert detector.predict(normals).mean() <= (0.3 if variant.get("validation_fraction") == 0 else 0.2)

    detector.save(tmp_path / "model")
    loaded = load(tmp_path / "model")
    probe = pd.concat([normals, anomalies], ignore_index=True)
    np.testing.assert_array_equal(loaded.decision_function(probe), detector.decision_function(probe))
    np.testing.assert_array_equal(loaded.predict(probe), detector.predict(probe))
    np.testing.assert_array_equal(loaded.feature_errors(probe), detector.feature_errors(probe))
    assert loaded.threshold_ == detector.threshold_

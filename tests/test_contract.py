"""One contract over every model variant: fit -> score -> predict -> save -> load -> identical scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aedetect import AutoencoderDetector, load
from aedetect.parameters import SCORES

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
def test_contract(name, normal_frame, fresh_normals, outliers, fast, tmp_path):
    variant = VARIANTS[name]
    train, normals, anomalies = (_data(f, variant) for f in (normal_frame, fresh_normals, outliers))
    detector = AutoencoderDetector(**{**fast, **variant}).fit(train)

    normal_scores, outlier_scores = detector.decision_function(normals), detector.decision_function(anomalies)
    assert normal_scores.shape == (len(normals),) and np.isfinite(normal_scores).all()
    assert np.median(outlier_scores) > np.percentile(normal_scores, 99)  # higher = more anomalous
    assert detector.predict(anomalies).mean() >= 0.9  # 1 = anomaly
    assert detector.predict(normals).mean() <= 0.2

    detector.save(tmp_path / "model")
    loaded = load(tmp_path / "model")
    probe = pd.concat([normals, anomalies], ignore_index=True)
    np.testing.assert_array_equal(loaded.decision_function(probe), detector.decision_function(probe))
    np.testing.assert_array_equal(loaded.predict(probe), detector.predict(probe))
    np.testing.assert_array_equal(loaded.feature_errors(probe), detector.feature_errors(probe))
    assert loaded.threshold_ == detector.threshold_

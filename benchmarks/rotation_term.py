"""Does the rotation head's score term help? The same fitted image models scored with and without it.

For each class of a small-image set (``small_images.py``'s one-class splits), fit the default
``AutoencoderDetector(random_state=seed)`` (rotation head on), score the test images with the
composite score, then again with the head's term switched off in the fitted scorer; report both
ROC-AUCs and the head's share of quarter turns told right on the held-out normal images at the best
epoch (``history_.values["val_rotation_accuracy"]``), which is what
``aedetect.training.sizing.rotation_head_supported`` decides from.

Usage::

    python benchmarks/rotation_term.py digits --seeds 3
    python benchmarks/rotation_term.py fashion500 --seeds 1

Writes ``rotation_term_<set>.csv`` under ``benchmarks/results/`` and prints the means.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from adbench import write_atomically  # noqa: E402
from fashion_mnist import DEFAULT_DATA  # noqa: E402
from small_images import one_class_splits  # noqa: E402

from aedetect import AutoencoderDetector  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set", choices=["digits", "fashion500"])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Fashion-MNIST IDX folder")
    parser.add_argument("--output-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    rows = []
    for seed in range(args.seeds):
        for number, train, test, anomaly in one_class_splits(args.set, seed, args.data):
            detector = AutoencoderDetector(random_state=seed, device="cpu").fit(train)
            with_term = roc_auc_score(anomaly, detector.decision_function(test))
            detector._scorer().rotation = False  # the same model, its head's term left out
            without_term = roc_auc_score(anomaly, detector.decision_function(test))
            history = detector.history_
            accuracy = history.values["val_rotation_accuracy"][history.best_epoch - 1]
            rows.append(
                dict(seed=seed, cls=number, held_out_accuracy=accuracy, roc_with=with_term, roc_without=without_term)
            )
            print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    print(frame[["held_out_accuracy", "roc_with", "roc_without"]].mean().round(4).to_string())
    write_atomically(args.output_dir / f"rotation_term_{args.set}.csv", frame.to_csv(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

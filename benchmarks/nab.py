"""NAB series: the Keras example's set-up, then four realKnownCause series.

Part 1 (the Keras example "Timeseries anomaly detection using an Autoencoder"): train on
``art_daily_small_noise`` cut into 288-point windows (stride 1), score ``art_daily_jumpsup`` the same
way; a point's score is the lowest score of the windows covering it (the example's rule: a point is
anomalous when every window covering it is). Goal: the flagged points lie inside the labelled anomaly
window, none outside it.

Part 2: the four ``realKnownCause`` series. Each trains on its start, the points before its first
labelled window, with windows of one day (288 points at 5 min, 48 at 30 min, 24 at 1 h). Per series:
labelled windows hit (at least one flagged point inside), and points flagged outside every labelled
window after the training part, at a threshold chosen by a target false-alarm rate on held-out
training windows.

Usage::

    python benchmarks/nab.py [--data ../shared/datasets/nab] [--false-alarm-rate 0.001]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from aedetect import AutoencoderDetector
from aedetect.data.windows import make_windows, point_scores

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "datasets" / "nab"
REAL = [
    "realKnownCause/ambient_temperature_system_failure.csv",
    "realKnownCause/cpu_utilization_asg_misconfiguration.csv",
    "realKnownCause/machine_temperature_system_failure.csv",
    "realKnownCause/nyc_taxi.csv",
]


def read(folder: Path, key: str) -> pd.DataFrame:
    frame = pd.read_csv(folder / "data" / key)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


def in_windows(stamps: pd.Series, windows: list[list[str]]) -> np.ndarray:
    inside = np.zeros(len(stamps), dtype=bool)
    for start, end in windows:
        inside |= ((stamps >= pd.Timestamp(start)) & (stamps <= pd.Timestamp(end))).to_numpy()
    return inside


def detect(train_values: np.ndarray, values: np.ndarray, length: int, rule: str, seed: int):
    """Fit on windows of ``train_values``; return point scores of ``values`` and the threshold."""
    started = time.perf_counter()
    detector = AutoencoderDetector(architecture="conv1d", threshold=rule, random_state=seed)
    detector.fit(make_windows(train_values, length))
    fit_s = time.perf_counter() - started
    window_scores = detector.decision_function(make_windows(values, length))
    return point_scores(window_scores, len(values), length), detector.threshold_, fit_s


def spans(flags: np.ndarray, stamps: pd.Series) -> list[str]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(int), [0]])))
    return [
        f"{stamps.iloc[a]:%Y-%m-%d %H:%M} – {stamps.iloc[b - 1]:%Y-%m-%d %H:%M}"
        for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--false-alarm-rate", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if not (args.data / "labels" / "combined_windows.json").is_file():
        print(f"error: no NAB data at {args.data}; pass --data path/to/nab", file=sys.stderr)
        return 2
    labels = json.loads((args.data / "labels" / "combined_windows.json").read_text())
    rule = f"false_alarm_rate:{args.false_alarm_rate}"
    lines = [
        "# NAB series",
        "",
        f"Command: `python benchmarks/nab.py --false-alarm-rate {args.false_alarm_rate} --seed {args.seed}`  ",
        f"Date: {date.today().isoformat()}; machine: {platform.machine()}, "
        f'Python {platform.python_version()}; aedetect `architecture="conv1d"`, threshold `{rule}`',
        "",
    ]

    print("part 1: art_daily_small_noise -> art_daily_jumpsup, 288-point windows")
    train = read(args.data, "artificialNoAnomaly/art_daily_small_noise.csv")
    test = read(args.data, "artificialWithAnomaly/art_daily_jumpsup.csv")
    scores, threshold, fit_s = detect(train["value"].to_numpy(), test["value"].to_numpy(), 288, rule, args.seed)
    flags = scores > threshold
    inside = in_windows(test["timestamp"], labels["artificialWithAnomaly/art_daily_jumpsup.csv"])
    outside = int((flags & ~inside).sum())
    verdict = "PASS" if flags.any() and outside == 0 else "FAIL"
    lines += [
        "## Keras example set-up",
        "",
        "| series | flagged points | inside the labelled window | outside | flagged spans | fit s |",
        "|---|---|---|---|---|---|",
        f"| art_daily_jumpsup | {int(flags.sum())} | {int((flags & inside).sum())} | {outside} | "
        f"{'; '.join(spans(flags, test['timestamp'])) or 'none'} | {fit_s:.1f} |",
        "",
        f"Goal (flagged span inside the labelled window, nothing outside): {verdict}",
        "",
    ]
    print(lines[-4], lines[-2], sep="\n")

    lines += [
        "## realKnownCause",
        "",
        "| series | window | training points | labelled windows hit | points flagged outside windows "
        "(after training) | of points outside windows | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in REAL:
        frame = read(args.data, key)
        windows = labels[key]
        step = frame["timestamp"].diff().median()
        length = int(np.clip(round(pd.Timedelta("1D") / step), 24, 288))
        first = pd.Timestamp(windows[0][0])
        n_train = int((frame["timestamp"] < first).sum())
        values = frame["value"].to_numpy()
        scores, threshold, fit_s = detect(values[:n_train], values, length, rule, args.seed)
        flags = scores > threshold
        inside = in_windows(frame["timestamp"], windows)
        after = np.arange(len(values)) >= n_train
        hit = sum(bool(flags[in_windows(frame["timestamp"], [w])].any()) for w in windows)
        false = int((flags & ~inside & after).sum())
        lines.append(
            f"| {key.split('/')[1]} | {length} | {n_train} | {hit} / {len(windows)} | {false} | "
            f"{false / max(int((~inside & after).sum()), 1):.4f} | {fit_s:.1f} |"
        )
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "nab.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Size of the HTML report (figures, threshold explorer, flagged-rows table) against the number of rows.

A small dense model of a 20-column table is trained once on 5,000 normal rows; reports are written
for labelled tables of 1,000 to 100,000 rows (1 % anomalies). The table shows the page's bytes, the
part taken by the embedded figures and by the explorer's data, and the seconds it took to write.

    python benchmarks/report_size.py [--rows 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from aedetect import AutoencoderDetector
from aedetect.report.page import write_report

RESULTS = Path(__file__).parent / "results"


def table(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 5))
    values = base @ np.random.default_rng(99).normal(size=(5, 20))  # one mixing for every table
    values += 0.1 * rng.normal(size=values.shape) + shift
    return pd.DataFrame(values, columns=[f"feature_{i}" for i in range(20)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000,10000,100000")
    args = parser.parse_args()
    torch.set_num_threads(2)
    detector = AutoencoderDetector(epochs=10, random_state=0, device="cpu").fit(table(5000, 0))
    lines = [
        "| rows | page (MB) | figures (MB) | explorer data (MB) | seconds to write |",
        "|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for n in (int(v) for v in args.rows.split(",")):
            anomalies = n // 100
            frame = pd.concat([table(n - anomalies, 1), table(anomalies, 2, shift=1.5)], ignore_index=True)
            labels = np.r_[np.zeros(n - anomalies), np.ones(anomalies)].astype(int)
            started = time.perf_counter()
            path = write_report(detector, frame, labels, path=Path(folder) / f"report-{n}.html", source=f"{n} rows")
            seconds = time.perf_counter() - started
            page = path.read_text(encoding="utf-8")
            figures = sum(len(m) for m in re.findall(r"data:image/png;base64,[^\"]+", page))
            data = len(re.search(r'id="explorer-data">(.*?)</script>', page, flags=re.S).group(1))
            size = path.stat().st_size
            lines.append(f"| {n:,} | {size / 1e6:.2f} | {figures / 1e6:.2f} | {data / 1e6:.3f} | {seconds:.1f} |")
            print(lines[-1], flush=True)
    text = "# Report size against rows\n\nCommand: `python benchmarks/report_size.py`\n\n" + "\n".join(lines) + "\n"
    print(text)
    (RESULTS / "report_size.md").write_text(text)


if __name__ == "__main__":
    main()

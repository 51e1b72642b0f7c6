"""Load test of ``aedetect serve`` on the loopback interface: requests per second and latency.

Set-up: a model trained on 20,000 rows x 32 features (a few epochs; serving speed does not depend on
training quality) is saved under ``--tmp-dir`` and served by ``aedetect serve`` in its own process on
127.0.0.1 (a free port). Nothing leaves the machine.

Load: for each payload (1 row and 1,000 rows per ``POST /score``, records format), ``--clients``
threads, each with one keep-alive connection, send requests back to back for ``--seconds`` seconds
after a short warm-up; every response must be 200 with one score per row, otherwise it counts as an
error. Repeated ``--repeats`` times; the table gives medians over repeats of requests/s, rows/s and
p50 / p99 latency, and the total number of errors. Client and server share the machine's cores, so
this is a floor for what a separate client would see.

Usage::

    python benchmarks/serve_load.py [--seconds 10] [--clients 4] [--repeats 3]

Writes ``serve_load.md`` and ``serve_load.csv`` under ``--output-dir`` (default benchmarks/results).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

FEATURES = 32
RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_model(folder: Path) -> Path:
    from aedetect import AutoencoderDetector

    path = folder / "model"
    if not path.is_dir():
        rows = np.random.default_rng(0).normal(size=(20_000, FEATURES))
        names = [f"x{i}" for i in range(FEATURES)]
        AutoencoderDetector(epochs=3, random_state=0).fit(pd.DataFrame(rows, columns=names)).save(path)
    return path


def start_server(model: Path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "aedetect.cli", "serve", str(model), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {process.stderr.read()[-2000:]}")
    process.kill()
    raise RuntimeError("the server did not start within 120 s")


def payload(n_rows: int) -> bytes:
    rows = np.random.default_rng(n_rows).normal(size=(n_rows, FEATURES))
    records = [{f"x{j}": float(v) for j, v in enumerate(row)} for row in rows]
    return json.dumps({"records": records}).encode()


def load(url: str, body: bytes, n_rows: int, clients: int, seconds: float, warmup: float) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start_at = time.monotonic() + warmup
    stop_at = start_at + seconds

    def client() -> None:
        mine, failed = [], 0
        with httpx.Client(base_url=url, timeout=60, headers={"content-type": "application/json"}) as http:
            while (now := time.monotonic()) < stop_at:
                try:
                    response = http.post("/score", content=body)
                    ok = response.status_code == 200 and len(response.json()["scores"]) == n_rows
                except httpx.HTTPError:
                    ok = False
                finished = time.monotonic()
                if now >= start_at:
                    mine.append(finished - now)
                    failed += not ok
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ms = np.asarray(latencies) * 1000
    return {
        "requests_per_second": len(ms) / seconds,
        "rows_per_second": len(ms) * n_rows / seconds,
        "p50_ms": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
        "p99_ms": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
        "requests": len(ms),
        "errors": errors[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tmp-dir", type=Path, default=Path("/tmp/aedetect-serve-load"))
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.tmp_dir.mkdir(parents=True, exist_ok=True)
    model = prepare_model(args.tmp_dir)
    port = free_port()
    server = start_server(model, port)
    url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        for n_rows in (1, 1000):
            body = payload(n_rows)
            runs = [load(url, body, n_rows, args.clients, args.seconds, args.warmup) for _ in range(args.repeats)]
            row = {"rows_per_request": n_rows, "clients": args.clients}
            for key in ("requests_per_second", "rows_per_second", "p50_ms", "p99_ms"):
                row[key] = round(statistics.median(r[key] for r in runs), 2)
            row["requests"] = sum(r["requests"] for r in runs)
            row["errors"] = sum(r["errors"] for r in runs)
            rows.append(row)
            print(row, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    write_tables(args, rows)


def write_tables(args: argparse.Namespace, rows: list[dict]) -> None:
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with open(args.output_dir / "serve_load.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "| rows per request | clients | requests/s | rows/s | p50 ms | p99 ms | requests | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['rows_per_request']} | {r['clients']} | {r['requests_per_second']:,.1f} | {r['rows_per_second']:,.0f} "
        f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['requests']} | {r['errors']} |"
        for r in rows
    ]
    command = "python benchmarks/serve_load.py " + " ".join(sys.argv[1:])
    text = (
        "# Scoring service under load (loopback)\n\n" + "\n".join(lines) + "\n\n"
        f"Medians over {args.repeats} runs of {args.seconds:g} s each; errors summed. Command: `{command.strip()}`; "
        f"{datetime.now(UTC):%Y-%m-%d}; {platform.machine()}, {os.cpu_count()} cores (client and server share "
        f"them), Python {platform.python_version()}.\n"
    )
    (args.output_dir / "serve_load.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()

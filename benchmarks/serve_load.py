"""Load test of ``aedetect serve`` on the loopback interface, side by side with a trivial FastAPI app.

Set-up: a model trained on 20,000 rows x 32 features (a few epochs; serving speed does not depend on
training quality) is saved under ``--tmp-dir`` and served by ``aedetect serve`` in its own process on
127.0.0.1 (a free port). Beside it, in its own process, runs the ceiling: ``serve_trivial_app.py``, a
FastAPI app that takes pydantic records and answers the sum of each row (what FastAPI itself costs).
Nothing leaves the machine.

Load: for each payload (1 row and 1,000 rows per ``POST /score``, records format), ``--clients``
threads, each with one keep-alive connection, send requests back to back for ``--seconds`` seconds
after a short warm-up; every response must be 200 with one score per row, otherwise it counts as an
error. The two apps take turns, ``--repeats`` times each; the table gives medians over repeats of
requests/s, rows/s and p50 / p99 latency, and the total number of errors. Then:

- bulk: the same clients send ``--bulk-rows`` rows per request as an Apache Arrow IPC stream
  (``Content-Type: application/vnd.apache.arrow.stream``) to ``POST /score/bulk`` and read the Arrow
  answer; rows/s end to end (aedetect only: the trivial app has no such path);
- head-of-line: four clients each send one 10,000-row JSON request at once and, 50 ms later, a fifth
  sends one 1-row request; its latency (median over ``--stall-trials``) says whether a slow request
  stalls a fast one.

Client and server share the machine's cores, so this is a floor for what a separate client would see.

``--profile-handler N`` instead times the JSON request handler (``score_json``) in this process, no
HTTP: N one-row and N/10 1,000-row requests of the same model, the time per call (median of 5 rounds),
then one cProfile of the one-row calls, its top functions by own time. It writes nothing.

``--profile-apps N`` instead drives each app through its ASGI interface in this process, no HTTP: N
1-row requests, 4 at a time, for the trivial app, ``aedetect serve`` and ``aedetect serve`` with
every request handed to a worker thread, taking turns for 9 rounds; the CPU time per request
(median). It writes nothing.

Usage::

    python benchmarks/serve_load.py [--seconds 10] [--clients 4] [--repeats 3] [--label NAME]
    python benchmarks/serve_load.py --profile-handler 5000
    python benchmarks/serve_load.py --profile-apps 2000

Writes ``serve_load.md`` and ``serve_load.csv`` under ``--output-dir`` (default benchmarks/results).
"""

from __future__ import annotations

import argparse
import csv
import io
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
import pyarrow as pa

FEATURES = 32
HERE = Path(__file__).parent
RESULTS = HERE / "results"
ARROW = "application/vnd.apache.arrow.stream"


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


def start_server(command: list[str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=HERE.parent)
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


def rows(n_rows: int) -> np.ndarray:
    return np.random.default_rng(n_rows).normal(size=(n_rows, FEATURES))


def json_body(n_rows: int) -> bytes:
    records = [{f"x{j}": float(v) for j, v in enumerate(row)} for row in rows(n_rows)]
    return json.dumps({"records": records}).encode()


def arrow_body(n_rows: int) -> bytes:
    table = pa.table({f"x{j}": column for j, column in enumerate(rows(n_rows).T)})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def answered(response: httpx.Response, n_rows: int) -> bool:
    if response.status_code != 200:
        return False
    if response.headers.get("content-type", "").startswith(ARROW):
        return pa.ipc.open_stream(response.content).read_all().num_rows == n_rows
    return len(response.json()["scores"]) == n_rows


def load(url: str, path: str, body: bytes, media: str, n_rows: int, clients: int, seconds: float, warmup: float):
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    load_average = os.getloadavg()[0]  # the machine is shared: how busy it was when this run started
    start_at = time.monotonic() + warmup
    stop_at = start_at + seconds

    def client() -> None:
        mine, failed = [], 0
        with httpx.Client(base_url=url, timeout=120, headers={"content-type": media}) as http:
            while (now := time.monotonic()) < stop_at:
                try:
                    ok = answered(http.post(path, content=body), n_rows)
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
        "load_average": load_average,
    }


def head_of_line(url: str, trials: int) -> dict:
    """Latency of one 1-row request sent 50 ms after four 10,000-row ones (medians over trials)."""
    big, small = json_body(10_000), json_body(1)
    waits, bigs, errors = [], [], 0
    headers = {"content-type": "application/json"}

    def send(results: dict, key: str, body: bytes, n_rows: int) -> None:
        nonlocal errors
        started = time.monotonic()
        with httpx.Client(base_url=url, timeout=300, headers=headers) as http:
            ok = answered(http.post("/score", content=body), n_rows)
        results[key] = time.monotonic() - started
        errors += not ok

    for _ in range(trials):
        results: dict[str, float] = {}
        threads = [threading.Thread(target=send, args=(results, f"big{i}", big, 10_000)) for i in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.05)
        send(results, "small", small, 1)
        for thread in threads:
            thread.join()
        waits.append(results["small"] * 1000)
        bigs.append(max(results[f"big{i}"] for i in range(4)) * 1000)
    return {"one_row_ms": statistics.median(waits), "four_big_ms": statistics.median(bigs), "errors": errors}


def profile_handler(model: Path, calls: int) -> None:
    """Per-call time of the JSON handler in process, and the one-row calls' cProfile top lines."""
    import cProfile
    import pstats

    import torch

    from aedetect.serve.batching import SmallRequestBatcher
    from aedetect.serve.metrics import ServiceMetrics
    from aedetect.serve.scoring import load_models, score_json

    torch.set_num_threads(1)  # as the service runs each request
    served = next(iter(load_models([str(model)]).values()))
    metrics, batcher = ServiceMetrics(), SmallRequestBatcher()
    for n_rows, n_calls in ((1, calls), (1000, max(1, calls // 10))):
        body = json_body(n_rows)
        for _ in range(min(n_calls, 200)):  # warm-up
            score_json(served, body, 10_000, metrics, batcher)
        rounds = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(n_calls):
                score_json(served, body, 10_000, metrics, batcher)
            rounds.append((time.perf_counter() - started) / n_calls * 1e6)
        shown = ", ".join(f"{r:.0f}" for r in rounds)
        print(f"{n_rows:,}-row request: {statistics.median(rounds):.0f} us per call (rounds: {shown})")
    body = json_body(1)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(calls):
        score_json(served, body, 10_000, metrics, batcher)
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(15)


def profile_apps(model: Path, requests: int, rounds: int = 9) -> None:
    """CPU time per 1-row request through each app's ASGI interface in this process (no HTTP), 4 at a
    time on uvloop: the trivial app, ``aedetect serve``, and ``aedetect serve`` with every request
    handed to a worker thread; the three take turns, median over ``rounds``."""
    import asyncio

    import torch
    import uvloop

    sys.path.insert(0, str(HERE))
    from serve_trivial_app import app as trivial

    from aedetect.serve.app import create_app
    from aedetect.serve.scoring import load_models

    torch.set_num_threads(1)  # as the service runs each request
    threaded = load_models([str(model)])
    for served in threaded.values():
        served.loop_seconds = float("inf")
    apps = {"trivial FastAPI app": trivial, "aedetect serve": create_app(load_models([str(model)]))}
    apps["aedetect serve, every request in a thread"] = create_app(threaded)
    body = json_body(1)
    headers = [(b"host", b"local"), (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http"}
    scope |= {"path": "/score", "raw_path": b"/score", "query_string": b"", "root_path": "", "headers": headers}

    async def request(app) -> None:
        messages, sent = [], False

        async def receive() -> dict:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)  # no disconnect while answering
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            messages.append(message)

        await app(dict(scope), receive, send)
        if messages[0]["status"] != 200:
            raise SystemExit(f"the app answered {messages[0]['status']}")

    async def clients(app) -> None:
        async def client() -> None:
            for _ in range(requests // 4):
                await request(app)

        await asyncio.gather(*(client() for _ in range(4)))

    loop = uvloop.new_event_loop()
    cpu = {name: [] for name in apps}
    for app in apps.values():  # warm-up
        loop.run_until_complete(clients(app))
    for _ in range(rounds):
        for name, app in apps.items():
            started = time.process_time()
            loop.run_until_complete(clients(app))
            cpu[name].append((time.process_time() - started) / requests * 1e6)
    for name, values in cpu.items():
        print(f"{name}: {statistics.median(values):.0f} us CPU per 1-row request (median of {rounds} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--json-rows", default="1,1000", help="Rows per JSON request, comma-separated (default: 1,1000)."
    )
    parser.add_argument("--bulk-rows", type=int, default=50_000, help="Rows per Arrow request; 0 skips the bulk path.")
    parser.add_argument("--stall-trials", type=int, default=5, help="0 skips the head-of-line measurement.")
    parser.add_argument("--label", default="", help="A name for this run in the table (e.g. a commit).")
    parser.add_argument("--only-stall", action="store_true", help="Run only the head-of-line measurement.")
    parser.add_argument("--tmp-dir", type=Path, default=Path("/tmp/aedetect-serve-load"))
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--profile-handler", type=int, default=0, metavar="N", help="Profile the JSON handler in process instead."
    )
    parser.add_argument(
        "--profile-apps", type=int, default=0, metavar="N", help="CPU per request of each app in process instead."
    )
    args = parser.parse_args()
    args.tmp_dir.mkdir(parents=True, exist_ok=True)
    model = prepare_model(args.tmp_dir)
    if args.profile_handler:
        profile_handler(model, args.profile_handler)
        return
    if args.profile_apps:
        profile_apps(model, args.profile_apps)
        return
    ports = {"trivial FastAPI app": free_port(), "aedetect serve": free_port()}
    commands = {
        "trivial FastAPI app": [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "serve_trivial_app:app"],
        "aedetect serve": [sys.executable, "-m", "aedetect", "serve", str(model)],
    }
    servers = {}
    table = []
    try:
        for name, command in commands.items():
            servers[name] = start_server(
                [*command, "--port", str(ports[name]), "--log-level", "warning"]
                if name.startswith("trivial")
                else [*command, "--port", str(ports[name])],
                ports[name],
            )
        json_rows = [int(text) for text in args.json_rows.split(",") if text.strip()]
        for n_rows in () if args.only_stall else json_rows:
            body = json_body(n_rows)
            runs: dict[str, list] = {name: [] for name in commands}
            for _ in range(args.repeats):  # the apps take turns, so both see the same machine
                for name in commands:
                    url = f"http://127.0.0.1:{ports[name]}"
                    runs[name].append(
                        load(url, "/score", body, "application/json", n_rows, args.clients, args.seconds, args.warmup)
                    )
            for name in commands:
                table.append(summary(name, f"{n_rows:,} row(s), JSON records", args.clients, runs[name]))
            paired = [
                a["requests_per_second"] / t["requests_per_second"]
                for a, t in zip(runs["aedetect serve"], runs["trivial FastAPI app"], strict=True)
            ]
            shown = ", ".join(f"{r:.2f}x" for r in paired)
            table[-1]["note"] = f"paired ratios {shown} (median {statistics.median(paired):.2f}x)"
        url = f"http://127.0.0.1:{ports['aedetect serve']}"
        if args.bulk_rows and not args.only_stall:
            body = arrow_body(args.bulk_rows)
            probe = httpx.post(f"{url}/score/bulk", content=body, headers={"content-type": ARROW}, timeout=300)
            if probe.status_code == 200:
                runs = [
                    load(url, "/score/bulk", body, ARROW, args.bulk_rows, args.clients, args.seconds, args.warmup)
                    for _ in range(args.repeats)
                ]
                table.append(summary("aedetect serve", f"{args.bulk_rows:,} rows, Arrow IPC", args.clients, runs))
            else:
                print(f"no bulk path ({probe.status_code}); skipped", flush=True)
        if args.stall_trials:
            stall = head_of_line(url, args.stall_trials)
            table.append(
                {
                    "system": "aedetect serve",
                    "request": "1 row behind four 10,000-row requests",
                    "clients": 5,
                    "requests_per_second": float("nan"),
                    "rows_per_second": float("nan"),
                    "p50_ms": round(stall["one_row_ms"], 1),
                    "p99_ms": float("nan"),
                    "requests": args.stall_trials,
                    "errors": stall["errors"],
                    "load_average": f"{os.getloadavg()[0]:.1f}",
                    "note": f"the four 10,000-row requests took {stall['four_big_ms']:.0f} ms (median)",
                }
            )
            print(table[-1], flush=True)
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=30)
    write_tables(args, table)


def summary(system: str, request: str, clients: int, runs: list[dict]) -> dict:
    row = {"system": system, "request": request, "clients": clients}
    for key in ("requests_per_second", "rows_per_second", "p50_ms", "p99_ms"):
        row[key] = round(statistics.median(r[key] for r in runs), 2)
    row["requests"] = sum(r["requests"] for r in runs)
    row["errors"] = sum(r["errors"] for r in runs)
    loads = [r["load_average"] for r in runs]
    row["load_average"] = f"{min(loads):.1f}-{max(loads):.1f}" if len(loads) > 1 else f"{loads[0]:.1f}"
    row["note"] = ""
    print(row, flush=True)
    return row


def fmt(value: float, spec: str) -> str:
    return "" if value != value else format(value, spec)


def write_tables(args: argparse.Namespace, table: list[dict]) -> None:
    args.output_dir.mkdir(parents=True, exist_ok=True)
    suffix = f"_{args.label}" if args.label else ""
    with open(args.output_dir / f"serve_load{suffix}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    lines = [
        "| request | system | clients | requests/s | rows/s | p50 ms | p99 ms | requests | errors | load average | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['request']} | {r['system']} | {r['clients']} | {fmt(r['requests_per_second'], ',.1f')} "
        f"| {fmt(r['rows_per_second'], ',.0f')} | {fmt(r['p50_ms'], '.1f')} | {fmt(r['p99_ms'], '.1f')} "
        f"| {r['requests']} | {r['errors']} | {r['load_average']} | {r['note']} |"
        for r in table
    ]
    ratios = []
    for request in dict.fromkeys(r["request"] for r in table):
        pair = {r["system"]: r["requests_per_second"] for r in table if r["request"] == request}
        if len(pair) == 2:
            ratios.append(
                f"{request}: aedetect at {pair['aedetect serve'] / pair['trivial FastAPI app']:.2f}x the trivial app"
            )
    command = "python benchmarks/serve_load.py " + " ".join(sys.argv[1:])
    text = (
        f"# Scoring service under load (loopback){' — ' + args.label if args.label else ''}\n\n"
        + "\n".join(lines)
        + "\n\n"
        + "".join(f"- {ratio}\n" for ratio in ratios)
        + f"\nMedians over {args.repeats} runs of {args.seconds:g} s each (the two apps take turns; a paired ratio "
        "compares the two runs taken one after the other); errors summed; load average: the machine's 1-minute "
        "load average at the start of the runs (lowest-highest). "
        f"Command: `{command.strip()}`; {datetime.now(UTC):%Y-%m-%d}; {platform.machine()}, {os.cpu_count()} cores "
        f"(clients and servers share them), Python {platform.python_version()}.\n"
    )
    (args.output_dir / f"serve_load{suffix}.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()

"""Seed-imbalanced benchmark: aedetect's default against PyOD's AutoEncoder and the tutorials' Keras pipeline.

Task (identical for every system)
---------------------------------
``make_classification(n_samples=100000, n_features=32, n_informative=32, n_redundant=0, n_repeated=0,
n_classes=2, n_clusters_per_class=1, weights=[0.995, 0.005], class_sep=0.5, random_state=0)``, split by
``train_test_split(X, y, test_size=0.2, random_state=42)``. Each system trains on the normal rows
(``y == 0``) of the 80 % and scores the 20 % (higher = more anomalous).

Systems
-------
aedetect
    ``AutoencoderDetector(random_state=s)`` (defaults otherwise; seeds ``0 .. repeats-1``), fitted with
    ``fit(X_train, y_train)``, which trains on the rows labelled 0; scores = ``decision_function(X_test)``.
pyod-autoencoder
    ``shared/reference/pyod_reference.py`` run as written: PyOD's ``AutoEncoder(contamination=0.02,
    random_state=0)`` with its defaults, fitted on the normal training rows.
seed-keras
    ``shared/reference/seed_keras_reference.py`` run as written (the tutorials' Dense 16-8-4 autoencoder,
    Adam + MAE, 20 epochs, batch 64) in its own virtual environment with tensorflow-cpu, created by
    ``benchmarks/setup_keras_env.sh``. When that environment is missing the table says so.

Protocol
--------
Every run is a fresh Python process (aedetect through this script's worker mode, the two references as
their own scripts), so that no system profits from another's warm caches or thread pools. Each process
builds the task itself and times only the fit call and the scoring call. Repeats interleave the
systems (the order rotates from one repeat to the next) so that noise from other work on the machine
hits all of them alike; the tables give the median with min and max over repeats.

Metrics: ROC-AUC, PR-AUC (average precision), and precision / recall / F1 at the tutorials' threshold,
the 98th percentile of the *test* scores (a row is flagged when its score is >= that threshold);
fit seconds and score seconds. Targets for aedetect (medians of the same run): ROC-AUC >= 0.75,
PR-AUC >= 0.45, recall at the 98th percentile >= 0.45, fit time <= 1/10 of PyOD's.

Usage::

    python benchmarks/seed_imbalanced.py [--repeats 3] [--skip-keras] [--skip-pyod] [--output-dir DIR]

Writes ``seed_imbalanced.md`` (tables, targets, command, date, machine) and ``seed_imbalanced.csv`` (one
row per run) under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import inspect
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = ROOT.parent / "shared" / "reference"
KERAS_VENV = ROOT / ".bench-venv-tf"
RUN_TIMEOUT_S = 3600

SYSTEMS = ("aedetect", "pyod-autoencoder", "seed-keras")
LABELS = {
    "aedetect": "aedetect `AutoencoderDetector()` (default)",
    "pyod-autoencoder": "PyOD `AutoEncoder()` (reference script)",
    "seed-keras": "tutorials' Keras pipeline (reference script)",
}
# Wall seconds per run (process start, data, fit, scoring) seen on a 2-core machine; only for the first
# estimate of the total time, which is replaced by measured times after the first repeat.
TYPICAL_RUN_S = {"aedetect": 15.0, "pyod-autoencoder": 180.0, "seed-keras": 100.0}
METRICS = ("roc_auc", "pr_auc", "precision", "recall", "f1", "fit_s", "score_s")
TARGETS = (("roc_auc", 0.75, "ROC-AUC"), ("pr_auc", 0.45, "PR-AUC"), ("recall", 0.45, "recall@98th-pct"))
FIT_SPEEDUP_TARGET = 10.0
CSV_FIELDS = ("repeat", "order", "system", "seed", "status", *METRICS, "wall_s", "note")


# -- the task and aedetect's worker --------------------------------------------------------------------
def make_task() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X_train, X_test, y_train, y_test, exactly as the reference scripts build them."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(
        n_samples=100000,
        n_features=32,
        n_informative=32,
        n_redundant=0,
        n_repeated=0,
        n_classes=2,
        n_clusters_per_class=1,
        weights=[0.995, 0.005],
        class_sep=0.5,
        random_state=0,
    )
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    return X_train, X_test, y_train, y_test


def threshold_metrics(y_test: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC and precision / recall / F1 when the top 2 % of test scores are flagged."""
    from sklearn import metrics

    flagged = (scores >= np.percentile(scores, 98)).astype(int)
    return {
        "roc_auc": float(metrics.roc_auc_score(y_test, scores)),
        "pr_auc": float(metrics.average_precision_score(y_test, scores)),
        "precision": float(metrics.precision_score(y_test, flagged)),
        "recall": float(metrics.recall_score(y_test, flagged)),
        "f1": float(metrics.f1_score(y_test, flagged)),
    }


def seed_keyword() -> str:
    """The detector's seed parameter: ``random_state`` (sklearn's) or, in older versions, ``seed``."""
    from aedetect import AutoencoderDetector

    names = inspect.signature(AutoencoderDetector.__init__).parameters
    return "random_state" if "random_state" in names else "seed"


def source_hash() -> str:
    """Short hash of the aedetect sources this process imported: shows if the code changed between runs."""
    import aedetect

    digest = hashlib.sha256()
    for path in sorted(Path(aedetect.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def aedetect_worker(seed: int) -> dict[str, object]:
    """Fit aedetect's default on the task and score the test rows (runs in its own process)."""
    from aedetect import AutoencoderDetector

    X_train, X_test, y_train, y_test = make_task()
    detector = AutoencoderDetector(**{seed_keyword(): seed})
    started = time.perf_counter()
    detector.fit(X_train, y_train)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    scores = np.asarray(detector.decision_function(X_test), dtype=np.float64)
    score_s = time.perf_counter() - started
    history = getattr(detector, "history_", None)
    epochs = getattr(history, "stopped_epoch", None)
    return {
        "system": "aedetect",
        "seed": seed,
        "fit_s": fit_s,
        "predict_s": score_s,
        **threshold_metrics(y_test, scores),
        "note": f"{epochs} epochs, source {source_hash()}",
        "module": str(Path(inspect.getfile(AutoencoderDetector)).resolve()),
    }


# -- running the systems -------------------------------------------------------------------------------
@dataclass
class Run:
    repeat: int
    order: int
    system: str
    seed: int | None
    status: str = "ok"
    values: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    note: str = ""

    def row(self) -> dict[str, object]:
        row: dict[str, object] = {
            "repeat": self.repeat,
            "order": self.order,
            "system": self.system,
            "seed": "" if self.seed is None else self.seed,
            "status": self.status,
            "wall_s": round(self.wall_s, 2),
            "note": self.note,
        }
        for metric in METRICS:
            value = self.values.get(metric)
            row[metric] = "" if value is None else round(value, 6)
        return row


def command_for(system: str, seed: int, keras_python: Path) -> list[str]:
    if system == "aedetect":
        return [sys.executable, str(Path(__file__).resolve()), "--worker-aedetect", str(seed)]
    if system == "pyod-autoencoder":
        return [sys.executable, str(REFERENCE / "pyod_reference.py")]
    return [str(keras_python), str(REFERENCE / "seed_keras_reference.py")]


def last_json_line(text: str) -> dict[str, object] | None:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def run_system(system: str, repeat: int, order: int, keras_python: Path, snapshot: Path) -> Run:
    seed = repeat if system == "aedetect" else 0  # the reference scripts fix their seed to 0
    run = Run(repeat, order, system, seed)
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    if system == "aedetect":  # the copy of src/ taken at the start comes first on the path
        paths = [str(snapshot), os.environ.get("PYTHONPATH", "")]
        environment["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command_for(system, seed, keras_python),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            env=environment,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        run.status, run.note = "error", f"timed out after {RUN_TIMEOUT_S} s"
        return run
    run.wall_s = time.perf_counter() - started
    result = last_json_line(done.stdout)
    if done.returncode != 0 or result is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        run.status, run.note = "error", f"exit {done.returncode}: {tail[0][:200]}"
        return run
    run.values = {metric: float(result[metric]) for metric in METRICS[:5]}
    run.values["fit_s"] = float(result["fit_s"])
    run.values["score_s"] = float(result["predict_s"])
    run.note = str(result.get("note", ""))
    module = result.get("module")
    if module is not None and not Path(str(module)).is_relative_to(snapshot.resolve()):
        run.status, run.note = "error", f"imported aedetect from {module}, not from the copy of src/"
    return run


def keras_unavailable(keras_python: Path) -> str | None:
    """Why the Keras pipeline cannot run, or None when its environment imports tensorflow."""
    if not keras_python.exists():
        return f"tensorflow-cpu environment missing ({keras_python}): run benchmarks/setup_keras_env.sh"
    check = subprocess.run(
        [str(keras_python), "-c", "import tensorflow, sklearn"],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    if check.returncode != 0:
        last = (check.stderr.strip().splitlines() or ["import failed"])[-1]
        return f"tensorflow-cpu not importable in {keras_python}: {last[:160]}"
    return None


def package_version(name: str, python: Path | None = None) -> str:
    if python is None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"
    code = f"from importlib.metadata import version; print(version({name!r}))"
    probe = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return probe.stdout.strip() if probe.returncode == 0 else "not installed"


def source_state() -> str:
    """The commit measured, and whether src/ had uncommitted changes when the benchmark started."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "not a git checkout"
    return commit + (" + uncommitted changes in src/" if git("status", "--porcelain", "--", "src") else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# -- summaries -----------------------------------------------------------------------------------------
@dataclass
class Summary:
    system: str
    n_ok: int
    status: str  # "ok", or why there are no numbers
    median: dict[str, float] = field(default_factory=dict)
    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)


def summarise(runs: list[Run], systems: list[str], unavailable: dict[str, str]) -> list[Summary]:
    summaries = []
    for system in SYSTEMS:
        if system in unavailable:
            summaries.append(Summary(system, 0, unavailable[system]))
            continue
        if system not in systems:
            continue
        ok = [r for r in runs if r.system == system and r.status == "ok"]
        failed = [r for r in runs if r.system == system and r.status != "ok"]
        if not ok:
            why = failed[0].note if failed else "no run"
            summaries.append(Summary(system, 0, f"every run failed: {why}"))
            continue
        status = "ok" if not failed else f"{len(failed)} run(s) failed: {failed[0].note}"
        summary = Summary(system, len(ok), status)
        for metric in METRICS:
            values = [r.values[metric] for r in ok]
            summary.median[metric] = statistics.median(values)
            summary.low[metric], summary.high[metric] = min(values), max(values)
        summaries.append(summary)
    return summaries


def source_warning(runs: list[Run]) -> str | None:
    """A warning when aedetect's runs imported different sources (src/ edited during the benchmark)."""
    hashes = {r.note.rsplit("source ", 1)[-1] for r in runs if r.system == "aedetect" and "source " in r.note}
    if len(hashes) > 1:
        return f"WARNING: aedetect's sources changed during the benchmark ({len(hashes)} versions; see Runs)"
    return None


def fit_ratio(summaries: list[Summary]) -> float | None:
    """PyOD fit time / aedetect fit time, from the medians of this run."""
    by = {s.system: s for s in summaries if s.n_ok}
    if "aedetect" in by and "pyod-autoencoder" in by and by["aedetect"].median["fit_s"] > 0:
        return by["pyod-autoencoder"].median["fit_s"] / by["aedetect"].median["fit_s"]
    return None


def target_lines(summaries: list[Summary]) -> list[str]:
    by = {s.system: s for s in summaries if s.n_ok}
    if "aedetect" not in by:
        return ["NOT CHECKED  every target: aedetect has no successful run"]
    ours = by["aedetect"]
    lines = []
    for metric, goal, name in TARGETS:
        value = ours.median[metric]
        verdict = "PASS" if value >= goal else "FAIL"
        lines.append(
            f"{verdict}  aedetect {name} >= {goal:.2f}: median {value:.4f} "
            f"(min {ours.low[metric]:.4f}, max {ours.high[metric]:.4f}; margin {value - goal:+.4f})"
        )
    ratio = fit_ratio(summaries)
    goal = f"aedetect fit time <= 1/{FIT_SPEEDUP_TARGET:.0f} of PyOD's"
    if ratio is None:
        lines.append(f"NOT CHECKED  {goal}: PyOD did not run")
    else:
        verdict = "PASS" if ratio >= FIT_SPEEDUP_TARGET else "FAIL"
        lines.append(
            f"{verdict}  {goal}: PyOD / aedetect = {ratio:.1f}x (median fit "
            f"{by['pyod-autoencoder'].median['fit_s']:.1f} s vs {ours.median['fit_s']:.2f} s)"
        )
    return lines


def cell(summary: Summary, metric: str) -> str:
    digits = {"fit_s": 2, "score_s": 3}.get(metric, 4)
    median, low, high = summary.median[metric], summary.low[metric], summary.high[metric]
    if summary.n_ok == 1:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def table(summaries: list[Summary]) -> list[str]:
    lines = [
        "| system | runs | ROC-AUC | PR-AUC | precision@98 | recall@98 | F1@98 | fit s | score s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        if not s.n_ok:
            lines.append(f"| {LABELS[s.system]} | 0 | not run: {s.status} |  |  |  |  |  |  |")
            continue
        cells = " | ".join(cell(s, m) for m in METRICS)
        lines.append(f"| {LABELS[s.system]} | {s.n_ok} | {cells} |")
    return lines


def markdown(summaries: list[Summary], runs: list[Run], command: str, machine: dict[str, str], total_s: float) -> str:
    ratio = fit_ratio(summaries)
    lines = [
        "# Seed-imbalanced task: aedetect vs PyOD's AutoEncoder and the tutorials' Keras pipeline",
        "",
        f"Command: `{command}`  ",
        f"Date: {machine['date']}; total time {total_s / 60:.1f} min  ",
        f"Machine: {machine['cores']} cores ({machine['cpu']}), Python {machine['python']}, "
        f"torch {machine['torch']}, pyod {machine['pyod']}, scikit-learn {machine['sklearn']}, "
        f"tensorflow-cpu {machine['tensorflow']} (own environment); load at start {machine['load']}  ",
        f"aedetect source: {machine['source']}, copied at the start so that every run measures the same code",
        "",
        "Task: `make_classification(100000 x 32, weights=[0.995, 0.005], class_sep=0.5, random_state=0)`, "
        "`train_test_split(test_size=0.2, random_state=42)`; each system trains on the normal rows of "
        "the 80 % (79,200 rows) and scores the 20 % (197 anomalies among 20,000 rows: the default "
        "`flip_y=0.01` adds flipped labels to the 0.5 % minority class). Threshold metrics flag "
        "test scores >= their 98th percentile. Each run is a fresh process; systems interleaved per "
        "repeat. Cells: median [min, max] over runs; aedetect uses seeds 0 .. repeats-1, the reference "
        "scripts their fixed seed 0.",
        "",
        *table(summaries),
        "",
        "PyOD fit time / aedetect fit time (medians): " + (f"{ratio:.1f}x" if ratio is not None else "n/a"),
        "",
        *([f"**{warning}**", ""] if (warning := source_warning(runs)) else []),
        "## Targets for aedetect (medians)",
        "",
        *[f"- {line}" for line in target_lines(summaries)],
        "",
        "## Runs",
        "",
        "| repeat | order | system | seed | status | ROC-AUC | PR-AUC | recall@98 | fit s | score s | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        if r.status == "ok":
            v = r.values
        head = f"| {r.repeat} | {r.order} | {r.system} | {r.seed} | {r.status} |"
        if r.status == "ok":
            v = r.values
            lines.append(
                f"{head} {v['roc_auc']:.4f} | {v['pr_auc']:.4f} | {v['recall']:.4f} | "
                f"{v['fit_s']:.2f} | {v['score_s']:.3f} | {r.note} |"
            )
        else:
            lines.append(f"{head}  |  |  |  |  | {r.note} |")
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)  # mkstemp creates files readable by their owner only
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def csv_text(runs: list[Run]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(r.row() for r in runs)
    return buffer.getvalue()


def estimate_left(runs: list[Run], pending: list[str]) -> float:
    """Seconds left: measured median wall time per system where known, typical times otherwise."""
    left = 0.0
    for system in pending:
        measured = [r.wall_s for r in runs if r.system == system and r.status == "ok"]
        left += statistics.median(measured) if measured else TYPICAL_RUN_S[system]
    return left


# -- main ----------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each system (default 3)")
    parser.add_argument("--skip-keras", action="store_true", help="leave out the tutorials' Keras pipeline")
    parser.add_argument("--skip-pyod", action="store_true", help="leave out PyOD's AutoEncoder")
    parser.add_argument("--output-dir", type=Path, default=RESULTS, help="where the .md and .csv go")
    parser.add_argument(
        "--keras-python",
        type=Path,
        default=KERAS_VENV / "bin" / "python",
        help="Python of the tensorflow-cpu environment (default: .bench-venv-tf)",
    )
    parser.add_argument("--worker-aedetect", type=int, default=None, metavar="SEED", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker_aedetect is not None:
        print(json.dumps(aedetect_worker(args.worker_aedetect)), flush=True)
        return 0

    began = time.perf_counter()
    command = "python benchmarks/seed_imbalanced.py " + " ".join(sys.argv[1:] if argv is None else argv)
    systems = ["aedetect"]
    unavailable: dict[str, str] = {}
    if args.skip_pyod:
        unavailable["pyod-autoencoder"] = "skipped (--skip-pyod)"
    else:
        systems.append("pyod-autoencoder")
    if args.skip_keras:
        unavailable["seed-keras"] = "skipped (--skip-keras)"
    else:
        why = keras_unavailable(args.keras_python)
        if why is None:
            systems.append("seed-keras")
        else:
            unavailable["seed-keras"] = why
            print(f"Keras pipeline not available: {why}", flush=True)

    machine = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "torch": package_version("torch"),
        "pyod": package_version("pyod"),
        "sklearn": package_version("scikit-learn"),
        "tensorflow": "n/a",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "source": source_state(),
    }
    if "seed-keras" in systems:
        machine["tensorflow"] = package_version("tensorflow-cpu", args.keras_python)
    plan = [
        (repeat, [systems[(i + repeat) % len(systems)] for i in range(len(systems))]) for repeat in range(args.repeats)
    ]
    total = args.repeats * len(systems)
    estimate = estimate_left([], [s for _, order in plan for s in order])
    print(
        f"Seed-imbalanced benchmark: {args.repeats} repeat(s) x {', '.join(systems)} ({total} runs); "
        f"{machine['cores']} cores, torch {machine['torch']}, load {machine['load']}; "
        f"about {estimate / 60:.0f} min",
        flush=True,
    )

    # Every aedetect run imports the same copy of src/aedetect, taken now: edits made to src/ while the
    # benchmark runs do not reach it.
    snapshot_dir = tempfile.TemporaryDirectory(prefix="aedetect-src-")
    snapshot = Path(snapshot_dir.name)
    shutil.copytree(ROOT / "src" / "aedetect", snapshot / "aedetect", ignore=shutil.ignore_patterns("__pycache__"))
    runs: list[Run] = []
    for repeat, order in plan:
        for position, system in enumerate(order):
            run = run_system(system, repeat, position, args.keras_python, snapshot)
            runs.append(run)
            elapsed = time.perf_counter() - began
            pending = [s for r, o in plan for s in o][len(runs) :]
            left = estimate_left(runs, pending)
            head = f"[{len(runs)}/{total} {elapsed:5.0f}s, ~{left / 60:.1f} min left] repeat {repeat} {system:16s}"
            if run.status == "ok":
                v = run.values
                print(
                    f"{head} roc {v['roc_auc']:.4f} pr {v['pr_auc']:.4f} recall {v['recall']:.4f} "
                    f"fit {v['fit_s']:7.2f}s score {v['score_s']:.3f}s {run.note}",
                    flush=True,
                )
            else:
                print(f"{head} FAILED: {run.note}", flush=True)

    total_s = time.perf_counter() - began
    snapshot_dir.cleanup()
    summaries = summarise(runs, systems, unavailable)
    text = markdown(summaries, runs, command, machine, total_s)
    write_atomically(args.output_dir / "seed_imbalanced.csv", csv_text(runs))
    write_atomically(args.output_dir / "seed_imbalanced.md", text)
    print()
    print("\n".join(table(summaries)))
    ratio = fit_ratio(summaries)
    print("\nPyOD fit time / aedetect fit time (medians): " + ("n/a" if ratio is None else f"{ratio:.1f}x"))
    print("\n".join(target_lines(summaries)))
    if warning := source_warning(runs):
        print(warning)
    print(f"\nTotal {total_s / 60:.1f} min; wrote {args.output_dir / 'seed_imbalanced.md'} and .csv")
    return 1 if any(r.status != "ok" for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())

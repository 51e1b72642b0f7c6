"""The HTML report: every figure, the same numbers as aedetect.evaluation, clear errors, atomic writes."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import aedetect.data.outputs
from aedetect import AutoencoderDetector
from aedetect.cli import app
from aedetect.evaluation import evaluate
from aedetect.report import figure_specs
from aedetect.report import page as report
from aedetect.report.data import ReportData

torch.set_num_threads(1)
SMALL = dict(hidden_dims=[8], latent_dim=2, epochs=12, batch_size=32, random_state=0, device="cpu")
LABEL_FIGURES = {spec.name for spec in figure_specs.FIGURES if "labels" in spec.requires}


def table_figures() -> list:
    """The figures of a table's report (image and series models have their own), read at call time
    because some tests replace the registry."""
    return [spec for spec in figure_specs.FIGURES if not spec.requires & {"image", "series"}]


TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63f8cfc0f01f0005000201a5d8e1ee0000000049454e44ae426082"
)


def _rows(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 2))
    mixed = base @ np.array([[1.0, 0.5], [-0.5, 1.0]]) + 0.1 * rng.normal(size=(n, 2))
    values = np.column_stack([base, mixed])
    return pd.DataFrame(values + shift, columns=["a", "b", "c", "d"])


@pytest.fixture(scope="module")
def detector():
    model = AutoencoderDetector(**SMALL).fit(_rows(300, 0))
    model.metadata_ = {"source": "test", "label_column": "label", "drop": []}
    return model


@pytest.fixture(scope="module")
def test_data():
    frame = pd.concat([_rows(150, 7), _rows(10, 8, shift=6.0)], ignore_index=True)
    return frame, np.r_[np.zeros(150), np.ones(10)].astype(np.int64)


@pytest.fixture(scope="module")
def written(detector, test_data, tmp_path_factory):
    """One labelled report with its figures folder, written once for the tests that read it."""
    folder = tmp_path_factory.mktemp("report")
    frame, labels = test_data
    path = report.write_report(
        detector, frame, labels, path=folder / "report.html", source="test.csv", figures_dir=folder / "figures"
    )
    return path, path.read_text(encoding="utf-8"), folder / "figures"


@pytest.fixture
def quick_png(monkeypatch):
    """Tests about the page's text skip drawing the figures (the slow part); the figures are still built."""
    monkeypatch.setattr(report, "figure_png", lambda figure: TINY_PNG)


@pytest.fixture
def quick_cli(monkeypatch, quick_png):
    """Command-line tests check the plumbing: two figures are enough."""
    two = [spec for spec in figure_specs.FIGURES if spec.name in ("score-distribution", "roc-pr-curves")]
    monkeypatch.setattr(figure_specs, "FIGURES", two)


def _values(page: str, attribute: str) -> dict[str, str]:
    return dict(re.findall(rf'{attribute}="([^"]+)" data-value="([^"]+)"', page))


def test_every_figure_is_embedded_and_written_as_png_and_svg(written):
    path, page, figures = written
    for spec in table_figures():
        assert f'data-figure="{spec.name}"' in page, spec.name
        assert (figures / f"{spec.name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in (figures / f"{spec.name}.svg").read_text()[:2000]
    assert page.count('<img src="data:image/png;base64,') == len(table_figures())
    assert not list(path.parent.glob(".*.tmp")) and not list(figures.glob(".*.tmp"))


def _scripts(page: str) -> list[tuple[str, str]]:
    return re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)


def _only_our_scripts(page: str) -> None:
    """The page runs one script, its own, allowed by its hash and nothing else; the data it reads is JSON."""
    (data_attributes, data), (code_attributes, code) = _scripts(page)
    assert page.count("<script") == 2
    assert data_attributes == ' type="application/json" id="explorer-data"' and code_attributes == ""
    json.loads(data)  # data, not code
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page).group(1)
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "unsafe" not in csp.split("script-src")[1].split(";")[0]
    assert "default-src 'none'" in csp
    assert not re.search(r"fetch|XMLHttpRequest|innerHTML|eval\(|import\(", code)


def test_page_is_self_contained(written):
    _, page, _ = written
    assert not re.findall(r'(?:src|href)="(?!data:|#)', page)
    assert "<link" not in page and "url(" not in page
    _only_our_scripts(page)


def test_metrics_in_the_page_equal_those_of_evaluate(written, detector, test_data):
    _, page, _ = written
    frame, labels = test_data
    expected = evaluate(labels, detector.decision_function(frame), detector.threshold_)
    metrics = _values(page, "data-metric")
    assert set(metrics) == set(expected.summary())
    for name, value in expected.summary().items():
        assert metrics[name] == ("null" if value is None else repr(float(value))), name
        if value is not None:
            assert f">{value:.4f}</td>" in page
    reported = _values(page, "data-report")
    for name, row in expected.report_dict.items():
        if isinstance(row, dict):
            for key in ("precision", "recall", "f1-score"):
                assert float(reported[f"{name}:{key}"]) == row[key], (name, key)
            assert int(reported[f"{name}:support"]) == row["support"]
        else:
            assert float(reported[name]) == row
    (tn, fp), (fn, tp) = expected.confusion_matrix
    cells = dict(re.findall(r'data-cell="(\w+)">([\d,]+)<', page))
    assert cells == {"tn": f"{tn:,}", "fp": f"{fp:,}", "fn": f"{fn:,}", "tp": f"{tp:,}"}


def test_header_describes_data_model_training_and_threshold(written, detector, test_data):
    _, page, _ = written
    frame, labels = test_data
    text = html.unescape(page)
    assert "<title>aedetect report: test.csv</title>" in page
    assert re.search(r'id="data-rows" data-value="160"', page)
    assert re.search(r'id="data-features" data-value="4"', page)
    parameters = sum(p.numel() for p in detector.model_.parameters())
    assert f'id="model-parameters" data-value="{parameters}"' in page
    assert "Linear(in_features=4, out_features=8, bias=True)" in text  # the module structure
    assert f"{detector.history_.seconds:.1f} s, {detector.history_.stopped_epoch} epochs" in text
    assert f'id="threshold-rule">{detector.threshold_rule_.to_spec()}<' in page
    assert _values(page, "id")["threshold-value"] == repr(float(detector.threshold_))
    flagged = int((detector.decision_function(frame) > detector.threshold_).sum())
    assert f'id="flagged" data-value="{flagged}"' in page
    assert f"{int(labels.sum())} anomalies" in text


def test_unlabelled_data_leave_out_the_label_figures_and_say_so(detector, test_data, quick_png):
    frame, _ = test_data
    page = report.render_report(detector, frame.to_numpy(), source="unlabelled.csv")
    for spec in table_figures():
        assert (f'data-figure="{spec.name}"' in page) == (spec.name not in LABEL_FIGURES), spec.name
        if spec.name in LABEL_FIGURES:
            assert f"<strong>{html.escape(spec.title)}</strong>: the data have no labels" in page
    assert 'id="no-labels"' in page and "This data has no labels" in page
    assert "data-metric" not in page


def test_labels_of_one_class_give_figures_without_metrics(detector, test_data, quick_png):
    frame, _ = test_data
    page = report.render_report(detector, frame, np.zeros(len(frame)), source="normal only")
    assert "hold only one class" in page and "data-metric" not in page
    assert 'data-figure="score-distribution"' in page and 'data-figure="roc-pr-curves"' not in page


def test_bad_labels_are_rejected(detector, test_data):
    frame, labels = test_data
    with pytest.raises(ValueError, match="y has 3 labels but X has 160 rows"):
        report.render_report(detector, frame, labels[:3])
    with pytest.raises(ValueError, match=r"0 \(normal\) or 1 \(anomaly\); found \['2'\]"):
        report.render_report(detector, frame, labels * 2)


def test_a_new_figure_is_one_registry_entry(detector, test_data, monkeypatch):
    frame, labels = test_data
    extra = figure_specs.FigureSpec(
        "image-grid", "Image grid", "Needs images.", lambda data: None, frozenset({"images"})
    )
    monkeypatch.setattr(figure_specs, "FIGURES", [*figure_specs.FIGURES, extra])
    figures, skipped = figure_specs.build_figures(ReportData(detector, frame, labels))
    assert "image-grid" not in figures and [spec.name for spec, _ in skipped] == ["image-grid"]
    assert skipped[0][1] == "it needs images"


# -- writing errors ---------------------------------------------------------------------------------
def test_missing_folder_is_a_clear_error_and_writes_nothing(detector, test_data, tmp_path):
    frame, labels = test_data
    with pytest.raises(ValueError, match="folder .* does not exist; create it first"):
        report.write_report(detector, frame, labels, path=tmp_path / "missing" / "report.html")
    with pytest.raises(ValueError, match="it is a directory"):
        report.write_report(detector, frame, labels, path=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_a_clear_error(detector, test_data, tmp_path, monkeypatch):
    frame, labels = test_data
    _deny_writes(monkeypatch)
    with pytest.raises(PermissionError, match="no write permission in"):
        report.write_report(detector, frame, labels, path=tmp_path / "report.html")
    assert list(tmp_path.iterdir()) == []


def _deny_writes(monkeypatch):
    """What a folder without write permission looks like to the output check (root may write anywhere)."""
    public = {name: getattr(os, name) for name in dir(os) if not name.startswith("_")}
    fake_os = types.SimpleNamespace(**public)
    fake_os.access = lambda path, mode: False
    monkeypatch.setattr(aedetect.data.outputs, "os", fake_os)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_folder_is_a_clear_error(detector, test_data, tmp_path):
    frame, labels = test_data
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="no write permission"):
            report.write_report(detector, frame, labels, path=tmp_path / "report.html")
    finally:
        tmp_path.chmod(0o755)


def test_a_failure_while_writing_keeps_the_old_report(detector, test_data, tmp_path, monkeypatch):
    frame, labels = test_data
    target = tmp_path / "report.html"
    target.write_text("old report")
    write_text = Path.write_text

    def fails_half_way(self, text, *args, **kwargs):
        write_text(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError("No space left on device")

    monkeypatch.setattr(report, "build_figures", lambda data: ({}, []))
    monkeypatch.setattr(Path, "write_text", fails_half_way)
    with pytest.raises(OSError, match="No space left"):
        report.write_report(detector, frame, labels, path=target)
    monkeypatch.undo()
    assert target.read_text() == "old report" and [p.name for p in tmp_path.iterdir()] == ["report.html"]


# -- command line -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(detector, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model"
    detector.save(path)
    return path


@pytest.fixture(scope="module")
def csv_files(test_data, tmp_path_factory) -> dict[str, Path]:
    frame, labels = test_data
    folder = tmp_path_factory.mktemp("csv")
    names = ("labelled", "unlabelled", "text_labels", "missing_column")
    paths = {name: folder / f"{name}.csv" for name in names}
    frame.assign(label=labels).to_csv(paths["labelled"], index=False)
    frame.to_csv(paths["unlabelled"], index=False)
    frame.assign(kind=np.where(labels == 1, "fraud", "ok")).to_csv(paths["text_labels"], index=False)
    frame.drop(columns=["c"]).to_csv(paths["missing_column"], index=False)
    return paths


def _run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_report_uses_the_training_label_column(model_dir, csv_files, tmp_path, detector, test_data, quick_cli):
    out, figures = tmp_path / "report.html", tmp_path / "figures"
    result = _run("report", model_dir, csv_files["labelled"], "-o", out, "--figures-dir", figures)
    assert result.exit_code == 0, result.output
    page = out.read_text()
    frame, labels = test_data
    expected = evaluate(labels, detector.decision_function(frame), detector.threshold_)
    assert _values(page, "data-metric")["roc_auc"] == repr(expected.roc_auc)
    assert f"<title>aedetect report: {csv_files['labelled']}</title>" in page
    assert sorted(p.name for p in figures.iterdir()) == sorted(
        f"{spec.name}.{suffix}" for spec in table_figures() for suffix in ("png", "svg")
    )


def test_cli_report_with_declared_text_labels(model_dir, csv_files, tmp_path, quick_cli):
    out = tmp_path / "report.html"
    result = _run(
        "report",
        model_dir,
        csv_files["text_labels"],
        "-o",
        out,
        "--label-column",
        "kind",
        "--normal-label",
        "ok",
        "--anomaly-label",
        "fraud",
    )
    assert result.exit_code == 0, result.output
    assert "data-metric" in out.read_text() and "10 anomalies" in out.read_text()


def test_cli_report_without_labels(model_dir, csv_files, tmp_path, quick_cli):
    out = tmp_path / "report.html"
    result = _run("report", model_dir, csv_files["unlabelled"], "-o", out)
    assert result.exit_code == 0, result.output
    assert "(no labels)" in result.output
    assert 'id="no-labels"' in out.read_text()


def test_cli_report_errors_match_score(model_dir, csv_files, tmp_path):
    report_run = _run("report", model_dir, csv_files["missing_column"], "-o", tmp_path / "r.html")
    score_run = _run("score", model_dir, csv_files["missing_column"], "-o", tmp_path / "s.csv")
    assert report_run.exit_code == score_run.exit_code == 2
    assert "lacks training column(s) ['c']" in report_run.output
    assert report_run.output == score_run.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["missing folder", "no permission", "no model", "unknown label column"])
def test_cli_report_errors_are_one_line_with_exit_code_2(case, model_dir, csv_files, tmp_path, monkeypatch):
    out, model, extra = tmp_path / "report.html", model_dir, []
    if case == "missing folder":
        out = tmp_path / "nowhere" / "report.html"
    elif case == "no permission":
        _deny_writes(monkeypatch)
    elif case == "no model":
        model = tmp_path / "no-model"
    else:
        extra = ["--label-column", "nope"]
    result = _run("report", model, csv_files["labelled"], "-o", out, *extra)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output
    expected = {
        "missing folder": "does not exist; create it first",
        "no permission": "no write permission",
        "no model": "No model at",
        "unknown label column": "Label column 'nope' is not in the data",
    }
    assert expected[case] in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_demo_writes_a_report_next_to_its_model(tmp_path, monkeypatch, test_data, quick_cli):
    import aedetect.data.datasets as datasets
    import aedetect.detector as detector_module
    import aedetect.training.sizing as sizing

    frame, labels = test_data
    big = pd.concat([_rows(300, 3), frame], ignore_index=True)
    monkeypatch.setattr(datasets, "load_dataset", lambda name: (big, np.r_[np.zeros(300, int), labels]))
    monkeypatch.setattr(detector_module, "default_schedule", lambda n_rows, data_kind=None: (64, 5, 1e-3))
    monkeypatch.setattr(sizing, "default_architecture", lambda n_features: ([8], 2))
    result = _run("demo", "-o", tmp_path / "demo-model")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "demo-report.html").read_text()
    assert "dataset:seed-imbalanced" in page and 'data-figure="roc-pr-curves"' in page


# -- hostile text and odd data ----------------------------------------------------------------------
IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"


def hostile_detector(names: list[str]) -> AutoencoderDetector:
    """A tiny detector whose feature names and metadata carry HTML (and TeX) payloads."""
    frame = _rows(120, 0).set_axis(names, axis=1)
    model = AutoencoderDetector(**{**SMALL, "epochs": 2}).fit(frame)
    model.metadata_ = {"source": IMG, "label_column": SCRIPT, "normal_label": IMG, "drop": [SCRIPT]}
    return model


HOSTILE_NAMES = [f"a{IMG}", f"b{SCRIPT}", 'c" onmouseover="alert(3)', r"d $\frac$"]


def test_text_from_the_data_is_escaped_and_nothing_can_run(tmp_path, quick_png, monkeypatch):
    named = ("score-distribution", "top-anomaly-features", "feature-error-summary")  # the figures with names
    monkeypatch.setattr(figure_specs, "FIGURES", [spec for spec in figure_specs.FIGURES if spec.name in named])
    model = hostile_detector(HOSTILE_NAMES)
    frame = _rows(40, 1).set_axis(HOSTILE_NAMES, axis=1)
    labels = np.r_[np.zeros(36), np.ones(4)].astype(np.int64)
    source = f"x{IMG}{SCRIPT}.csv"
    path = report.write_report(
        model, frame, labels, path=tmp_path / "report.html", source=source, figures_dir=tmp_path / "figures"
    )
    page = path.read_text(encoding="utf-8")
    assert "<img src=x" not in page and "<script>alert" not in page and 'onmouseover="' not in page
    _only_our_scripts(page)
    assert f'id="data-source">{html.escape(source)}</dd>' in page
    assert f"<title>aedetect report: {html.escape(source)}</title>" in page
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page).group(1)
    assert "default-src 'none'" in csp and "img-src data:" in csp
    # Feature names reach the figures as text: in the SVG files they are XML-escaped, not markup
    # (and "$...$" is shown as written, not typeset as TeX, which failed on "\frac").
    for svg in (tmp_path / "figures").glob("*.svg"):
        text = svg.read_text()
        assert "<img" not in text and "<script" not in text, svg.name
    assert "a&lt;img src=x" in (tmp_path / "figures" / "feature-error-summary.svg").read_text()


def test_latent_space_of_more_than_max_points_rows_with_fewer_normal_rows(detector, quick_png):
    # 4,100 rows, 3,000 of them normal: the old sample asked for 4,000 normal rows and failed.
    frame = pd.concat([_rows(3000, 11), _rows(1100, 12, shift=4.0)], ignore_index=True)
    labels = np.r_[np.zeros(3000), np.ones(1100)].astype(np.int64)
    figures, skipped = figure_specs.build_figures(ReportData(detector, frame, labels))
    assert "latent-space" in figures and skipped == []
    normal, anomaly = figures["latent-space"].axes[0].collections[:2]
    assert len(normal.get_offsets()) == 3000 and len(anomaly.get_offsets()) == 1100


def test_a_one_row_report_leaves_out_the_latent_space_and_says_why(detector, quick_png):
    page = report.render_report(detector, _rows(1, 3), np.array([1]), source="one row")
    assert 'data-figure="latent-space"' not in page
    assert "<strong>Latent space</strong>: the data have only 1 row; a projection needs at least 2." in page
    assert 'data-figure="score-distribution"' in page and 'id="data-rows" data-value="1"' in page


def _odd_data() -> dict:
    same = pd.concat([_rows(1, 4)] * 12, ignore_index=True)
    far = _rows(12, 5, shift=50.0)
    constant = _rows(30, 6).assign(b=1.0)
    return {
        "two rows": (_rows(2, 3), np.array([0, 1])),
        "identical rows (all-same scores)": (same, None),
        "identical rows, labelled": (same, np.r_[np.zeros(11), np.ones(1)]),
        "no row flagged": (_rows(30, 7) * 0.01, np.r_[np.zeros(27), np.ones(3)]),
        "every row flagged": (far, None),
        "every row flagged, labelled": (far, np.r_[np.zeros(2), np.ones(10)]),
        "a constant feature": (constant, np.r_[np.zeros(27), np.ones(3)]),
    }


@pytest.mark.parametrize("case", list(_odd_data()))
def test_small_and_odd_data_give_a_full_report(case, detector, quick_png):
    frame, labels = _odd_data()[case]
    page = report.render_report(detector, frame, labels, source=case)
    assert 'data-figure="latent-space"' in page and 'data-figure="feature-error-summary"' in page


def test_identical_codes_do_not_claim_a_variance_share(detector):
    import warnings

    from aedetect.report import explanation_figures

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's 0 / 0 variance share used to warn here
        figure = explanation_figures.latent_space(np.ones((6, 2)), np.arange(6.0), 2.5)
    assert "the codes do not vary" in figure.axes[0].get_xlabel()


def test_non_finite_scores_are_a_clear_error(detector, test_data, monkeypatch):
    frame, labels = test_data
    monkeypatch.setattr(detector, "decision_function", lambda X: np.r_[np.full(len(X) - 1, 0.5), np.nan])
    with pytest.raises(ValueError, match=r"1 of 160 rows have no finite anomaly score \(first: row 159"):
        report.render_report(detector, frame, labels)


def test_an_ensemble_gets_a_report_with_its_feature_errors_but_no_latent_figure(test_data, quick_png):
    from aedetect import EnsembleDetector

    frame, labels = test_data
    ensemble = EnsembleDetector(AutoencoderDetector(**{**SMALL, "epochs": 2}), n_members=2).fit(_rows(120, 0))
    page = report.render_report(ensemble, frame, labels, source="ensemble")
    assert "ensemble of 2 × " in page and 'data-figure="roc-pr-curves"' in page
    for name in ("top-anomaly-features", "feature-error-summary"):  # the mean of the members' errors
        assert f'data-figure="{name}"' in page
    assert 'data-figure="latent-space"' not in page and "an ensemble has one per member" in page


def test_cli_report_of_a_file_named_with_markup_escapes_the_name(model_dir, test_data, tmp_path, quick_cli):
    frame, labels = test_data
    data = tmp_path / f"x{IMG}.csv"
    frame.assign(label=labels).to_csv(data, index=False)
    out = tmp_path / "report.html"
    result = _run("report", model_dir, data, "-o", out)
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "<img src=x" not in page and html.escape(str(data)) in page

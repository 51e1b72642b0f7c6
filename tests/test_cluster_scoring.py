"""Scoring on a cluster: Dask and Spark score every row, bit for bit, as ``decision_function`` does,
whatever the partitioning; files go in and out through fsspec URLs (an S3 server on 127.0.0.1 included)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import FAST, normal_rows, outlier_rows
from typer.testing import CliRunner

import aedetect
from aedetect import AutoencoderDetector
from aedetect.batch.cluster import ModelSource, require
from aedetect.batch.cluster_files import score_files

# Starting a JVM and worker processes takes most of the time; on a busy machine far longer than usual.
pytestmark = pytest.mark.timeout(900)

#: Rows per input file: ragged, with 1-row and 12-row files among them.
SIZES = (12, 1, 30, 7, 1, 25, 12)
BUCKET = "aedetect-test"


# -- data, model and engines (one of each per module) -----------------------------------------------
@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model"
    AutoencoderDetector(**FAST).fit(normal_rows()).save(path)
    return path


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """All rows in key order: normal and outlying feature rows, a text key and a categorical column."""
    frame = pd.concat([normal_rows(sum(SIZES) - 8, seed=11), outlier_rows(8, seed=3)], ignore_index=True)
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    frame["key"] = [f"r{i:03d}" for i in range(len(frame))]
    frame["colour"] = pd.Categorical(np.resize(["red", "green", "blue"], len(frame)))
    return frame


@pytest.fixture(scope="module")
def expected(model_path, rows) -> np.ndarray:
    """The in-memory scores of all rows at once, in key order."""
    return aedetect.load(model_path).decision_function(rows[list("abcd")])


@pytest.fixture(scope="module")
def files(tmp_path_factory, rows) -> list[str]:
    folder = tmp_path_factory.mktemp("data")
    paths, start = [], 0
    for number, size in enumerate(SIZES):
        path = folder / f"rows-{number}.parquet"
        rows.iloc[start : start + size].to_parquet(path, index=False)
        paths.append(str(path))
        start += size
    return paths


@pytest.fixture(scope="module")
def s3(model_path, files):
    """An S3 server on 127.0.0.1 (moto's server mode) holding the model and the files; the address is in
    the environment before any Dask worker or Spark executor starts, so that they reach it too.
    None where moto or s3fs is not installed."""
    try:
        import s3fs
        from moto.server import ThreadedMotoServer
    except ImportError:
        yield None
        return
    import fsspec

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    settings = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "FSSPEC_S3": f'{{"endpoint_url": "{endpoint}"}}',
    }
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    fsspec.config.conf.setdefault("s3", {})["endpoint_url"] = endpoint
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        fs = s3fs.S3FileSystem(endpoint_url=endpoint)
        fs.mkdir(BUCKET)
        fs.put(str(model_path), f"{BUCKET}/models/model", recursive=True)
        for path in files:
            fs.put_file(path, f"{BUCKET}/in/{os.path.basename(path)}")
        yield fs
    finally:
        server.stop()
        fsspec.config.conf.get("s3", {}).pop("endpoint_url", None)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def dask_client(s3):
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def spark(s3):
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java 17 or 21 (apt-get install openjdk-17-jre-headless)")
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("aedetect tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "5")  # ragged batches: 5, 5, 2, 1, ...
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def by_key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("key", kind="stable").reset_index(drop=True)


def read_parts(folder, fs=None) -> pd.DataFrame:
    if fs is None:
        names = sorted(str(path) for path in folder.iterdir())
        return pd.concat([pd.read_parquet(name) for name in names], ignore_index=True)
    fs.invalidate_cache()
    names = sorted(fs.ls(folder, detail=False))
    return pd.concat([pd.read_parquet(f"s3://{name}") for name in names], ignore_index=True)


# -- the DataFrame functions --------------------------------------------------------------------
def test_dask_partitions_score_bit_for_bit_like_decision_function(dask_client, model_path, files, rows, expected):
    import dask.dataframe as dd

    ddf = dd.from_map(pd.read_parquet, files)  # one partition per file: 12, 1, 30, 7, 1, 25, 12 rows
    assert ddf.npartitions == len(SIZES)
    scored = aedetect.score_dask(ddf, str(model_path), drop=["key", "colour"])
    out = by_key(scored.compute())
    assert np.array_equal(out["score"].to_numpy(), expected)
    assert np.array_equal(out["is_anomaly"].to_numpy(), aedetect.load(model_path).predict(rows[list("abcd")]))
    assert list(out.columns) == [*rows.columns, "score", "is_anomaly"] and out["colour"].dtype == "category"
    assert out["is_anomaly"].sum() >= 6  # the outlying rows are flagged

    # A fitted detector travels with the tasks; only the id column is kept; only anomalies; explanations.
    detector = aedetect.load(model_path)
    flagged = by_key(
        aedetect.score_dask(ddf, detector, id_column="key", drop=["colour"], only_anomalies=True, explain=2).compute()
    )
    keep = detector.predict(rows[list("abcd")]) == 1
    assert list(flagged.columns) == ["key", "score", "is_anomaly", "top_features"]
    assert flagged["key"].tolist() == rows["key"][keep].tolist()
    assert np.array_equal(flagged["score"].to_numpy(), expected[keep])
    assert all(len(pd.read_json(__import__("io").StringIO(text))) == 2 for text in flagged["top_features"])


def test_spark_batches_score_bit_for_bit_and_keep_pass_through_columns(spark, model_path, files, rows, expected):
    sdf = spark.read.parquet(*files)
    scored = aedetect.score_spark(sdf, str(model_path), drop=["key", "colour"])
    assert [field.name for field in scored.schema.fields] == [*sdf.columns, "score", "is_anomaly"]
    out = by_key(scored.toPandas())
    assert np.array_equal(out["score"].to_numpy(), expected)
    assert out["colour"].tolist() == rows["colour"].astype(str).tolist()
    keyed = by_key(aedetect.score_spark(sdf, aedetect.load(model_path), id_column="key", drop=["colour"]).toPandas())
    assert list(keyed.columns) == ["key", "score", "is_anomaly"]
    assert np.array_equal(keyed["score"].to_numpy(), expected)


def test_missing_columns_fail_on_the_driver_before_any_task(dask_client, model_path, files):
    import dask.dataframe as dd

    ddf = dd.from_map(pd.read_parquet, files).drop(columns=["d"])
    with pytest.raises(ValueError, match=r"lacks training column\(s\) \['d'\]"):
        aedetect.score_dask(ddf, str(model_path), drop=["key", "colour"])


# -- files: one part per input file, rows keyed by (file, row) or the id column --------------------------
@pytest.mark.parametrize("engine", ["local", "dask", "spark"])
def test_files_score_the_same_through_every_engine(request, engine, model_path, files, rows, expected, tmp_path):
    options = {}
    if engine == "dask":
        options["scheduler"] = request.getfixturevalue("dask_client").scheduler.address
    elif engine == "spark":
        request.getfixturevalue("spark")
    summary = score_files(
        str(model_path), [files[0], f"{os.path.dirname(files[0])}/rows-*.parquet"], str(tmp_path / "out"),
        engine=engine, drop=["key", "colour"], **options,
    )  # fmt: skip
    assert (summary.files, summary.parts, summary.rows, summary.written) == (7, 7, len(rows), len(rows))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"part-{n:05d}.parquet" for n in range(7)]
    out = read_parts(tmp_path / "out")
    sizes = out.groupby("source_file", sort=True).size().tolist()
    assert sizes == list(SIZES) and out["row_index"].max() == max(SIZES) - 1
    out = by_key(out)
    assert np.array_equal(out["score"].to_numpy(), expected)
    assert out["source_file"].tolist() == np.repeat(files, SIZES).tolist()
    assert out["row_index"].tolist() == [i for size in SIZES for i in range(size)]


def test_object_store_in_and_out(s3, dask_client, expected):
    if s3 is None:
        pytest.skip("moto[server] and s3fs are not installed")
    summary = score_files(
        f"s3://{BUCKET}/models/model", f"s3://{BUCKET}/in/*.parquet", f"s3://{BUCKET}/out/",
        engine="dask", scheduler=dask_client.scheduler.address, id_column="key", drop=["colour"],
    )  # fmt: skip
    assert summary.parts == 7 and summary.rows == sum(SIZES)
    out = by_key(read_parts(f"{BUCKET}/out", s3))
    assert list(out.columns) == ["key", "score", "is_anomaly"]
    assert np.array_equal(out["score"].to_numpy(), expected)
    with pytest.raises(ValueError, match="is not empty; give a new or empty folder"):
        score_files(f"s3://{BUCKET}/models/model", f"s3://{BUCKET}/in/*.parquet", f"s3://{BUCKET}/out")


# -- the command line ------------------------------------------------------------------------------------
def invoke(*args):
    from aedetect.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("engine", ["dask", "spark"])
def test_command_line_engines(request, engine, s3, model_path, files, expected, tmp_path):
    if engine == "dask":
        where = ["--scheduler", request.getfixturevalue("dask_client").scheduler.address]
    else:
        request.getfixturevalue("spark")
        where = ["--master", "local[2]"]
    data = f"{os.path.dirname(files[0])}/*.parquet"
    result = invoke(
        "score", model_path, data, "-o", tmp_path / "out", "--engine", engine, "--id-column", "key", "--drop", "colour",
        *where,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "scored 88 rows in 7 files" in result.output
    assert "of held-out normal rows lie above it" in result.output  # the threshold comes with its meaning
    out = by_key(read_parts(tmp_path / "out"))
    assert np.array_equal(out["score"].to_numpy(), expected)
    if engine == "spark" and s3 is not None:  # Spark's workers read and write the object store too
        target = f"s3://{BUCKET}/spark-out"
        result = invoke(
            "score", f"s3://{BUCKET}/models/model", f"s3://{BUCKET}/in/*.parquet", "-o", target,
            "--engine", "spark", "--id-column", "key", "--drop", "colour",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert np.array_equal(by_key(read_parts(f"{BUCKET}/spark-out", s3))["score"].to_numpy(), expected)


def test_command_line_errors_are_one_line_with_exit_2(model_path, files, tmp_path):
    data = f"{os.path.dirname(files[0])}/*.parquet"
    cases = [
        (["score", tmp_path / "nothing", data, "-o", tmp_path / "o1", "--engine", "dask"], "does not exist"),
        (["score", model_path, "nosuchprotocol://x/*.parquet", "-o", tmp_path / "o2", "--engine", "dask"], "Cannot read"),
        (["score", model_path, data, "-o", tmp_path / "o3", "--engine", "ray"], "Unknown engine 'ray'"),
        (["score", model_path, tmp_path / "none-*.parquet", "-o", tmp_path / "o4", "--engine", "spark"], "No file matches"),
    ]  # fmt: skip
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


# -- rules every engine relies on --------------------------------------------------------------------
def test_output_folder_is_never_overwritten_and_a_bad_file_leaves_no_parts(model_path, files, rows, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep")
    with pytest.raises(ValueError, match="is not empty"):
        score_files(str(model_path), files, str(taken), drop=["key", "colour"])
    assert [p.name for p in taken.iterdir()] == ["mine.txt"]

    bad = tmp_path / "zz-bad.parquet"  # sorted last: the good files are scored first
    rows.drop(columns=["c"]).head(3).to_parquet(bad)
    with pytest.raises(ValueError, match=r"zz-bad\.parquet: .*lacks training column\(s\) \['c'\]"):
        score_files(str(model_path), [*files, str(bad)], str(tmp_path / "out"), drop=["key", "colour"])
    assert list((tmp_path / "out").iterdir()) == []

    clash = tmp_path / "clash.parquet"
    rows.head(3).assign(row_index=7).to_parquet(clash)
    with pytest.raises(ValueError, match="'row_index', which the output uses to key the rows; rename it"):
        score_files(str(model_path), str(clash), str(tmp_path / "keyed"), drop=["key", "colour", "row_index"])


def test_model_is_loaded_once_per_process_and_a_replaced_model_is_refused(model_path):
    source = ModelSource.of(str(model_path))
    assert source.load() is source.load()
    changed = ModelSource(source.location, "0" * 64)
    with pytest.raises(ValueError, match="changed after scoring started"):
        changed.load()
    with pytest.raises(FileNotFoundError, match="does not exist; check the path or URL"):
        ModelSource.of(str(model_path) + "-missing")
    with pytest.raises(TypeError, match="fitted detector or the path or URL"):
        ModelSource.of(42)


def test_missing_extras_name_the_extra_and_import_stays_light():
    with pytest.raises(ImportError, match=r"needs the 'spark' extra: pip install 'aedetect\[spark\]'"):
        require("aedetect_no_such_module", "spark")
    code = "import sys, aedetect; print(sorted({'dask', 'pyspark', 'distributed'} & set(sys.modules)))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )
    assert callable(aedetect.score_dask) and callable(aedetect.score_spark)

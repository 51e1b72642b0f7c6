"""Input data the tool cannot learn from or score: values beyond float32, duplicated columns, one row,
text and NaN cells, decompression bombs, the wrong kind of input for a model, bad threshold rules.

Rows are named as "data row N": counted from 1, the header not counted (the N-th row below it).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from hostile import CliCase, Context

TRAIN = ["--epochs", "2", "--hidden-dims", "8", "--latent-dim", "2", "-q"]


def _with_cell(ctx: Context, value, row: int = 3, column: str = "b", n: int = 40, name: str = "in.csv"):
    """The normal table with ``value`` in data row ``row`` (counted from 1) of ``column``, as text."""
    frame = ctx.normal(n).astype(object)
    frame.loc[row - 1, column] = value
    return ctx.csv(name, frame)


def _train(ctx: Context, data, *extra) -> list:
    return ["train", data, "-o", ctx.folder / "model", *TRAIN, *extra]


def train_beyond_float32(ctx: Context) -> list:
    return _train(ctx, _with_cell(ctx, "1e39"))


def train_1e308(ctx: Context) -> list:
    return _train(ctx, _with_cell(ctx, "1e308"))


def train_duplicated_columns(ctx: Context) -> list:
    frame = ctx.normal(40)
    frame.columns = ["a", "b", "a", "d"]
    return _train(ctx, ctx.csv("in.csv", frame))


def train_one_row(ctx: Context) -> list:
    return _train(ctx, ctx.csv("in.csv", ctx.normal(1)))


def train_text_cell(ctx: Context) -> list:
    return _train(ctx, _with_cell(ctx, "oops"))


def train_nan_cell(ctx: Context) -> list:
    return _train(ctx, _with_cell(ctx, "nan"))


def train_inf_cell(ctx: Context) -> list:
    return _train(ctx, _with_cell(ctx, "inf"))


def train_empty_file(ctx: Context) -> list:
    return _train(ctx, ctx.csv("in.csv", ""))


def train_header_only(ctx: Context) -> list:
    return _train(ctx, ctx.csv("in.csv", "a,b,c,d\n"))


def train_no_normal_rows(ctx: Context) -> list:
    frame = ctx.normal(20).assign(label=1)
    return _train(ctx, ctx.csv("in.csv", frame), "--label-column", "label")


def train_undeclared_labels(ctx: Context) -> list:
    frame = ctx.normal(20).assign(label=[0, 1, 2, 0] * 5)
    return _train(ctx, ctx.csv("in.csv", frame), "--label-column", "label")


def train_unknown_feature(ctx: Context) -> list:
    return _train(ctx, ctx.csv("in.csv", ctx.normal(20)), "--features", "a,zz")


def _png(width: int, height: int) -> bytes:
    """A valid 1-bit grayscale PNG of ``width`` x ``height`` black pixels: a few KB for any size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then the packed bits
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def train_decompression_bomb(ctx: Context) -> list:
    folder = ctx.folder / "images"
    folder.mkdir()
    # 14,000 x 14,000 = 196M pixels, over twice PIL's limit: 24 MB once decoded, 24 KB on disk.
    (folder / "bomb.png").write_bytes(_png(14_000, 14_000))
    return _train(ctx, folder)


def score_image_model_csv(ctx: Context) -> list:
    return ["score", ctx.model("image"), ctx.csv("in.csv", ctx.normal(10)), "-o", ctx.folder / "out.csv"]


def train_percentile_150(ctx: Context) -> list:
    return _train(ctx, ctx.csv("in.csv", ctx.normal(20)), "--threshold", "percentile:150")


def train_mean_std_1e308(ctx: Context) -> list:
    return _train(ctx, ctx.csv("in.csv", ctx.normal(40)), "--threshold", "mean_std:1e308")


def score_mean_std_1e308(ctx: Context) -> list:
    return [
        "score",
        ctx.model(),
        ctx.csv("in.csv", ctx.normal(10)),
        "-o",
        ctx.folder / "out.csv",
        "--threshold",
        "mean_std:1e308",
    ]


def score_threshold_nan(ctx: Context) -> list:
    return [
        "score",
        ctx.model(),
        ctx.csv("in.csv", ctx.normal(10)),
        "-o",
        ctx.folder / "out.csv",
        "--threshold",
        "mean_std:nan",
    ]


def score_beyond_float32(ctx: Context) -> list:
    return ["score", ctx.model(), _with_cell(ctx, "1e39", n=10), "-o", ctx.folder / "out.csv"]


def score_1e20(ctx: Context) -> list:
    return ["score", ctx.model(), _with_cell(ctx, "1e20", n=10), "-o", ctx.folder / "out.csv"]


def score_parquet_beyond_float32(ctx: Context) -> list:
    frame = ctx.normal(10)
    frame.loc[2, "b"] = 1e39
    frame.to_parquet(ctx.folder / "in.parquet", index=False)
    return ["score", ctx.model(), ctx.folder / "in.parquet", "-o", ctx.folder / "out.csv"]


def score_nan_cell(ctx: Context) -> list:
    return ["score", ctx.model(), _with_cell(ctx, "nan", n=10), "-o", ctx.folder / "out.csv"]


def score_unknown_column(ctx: Context) -> list:
    frame = ctx.normal(10).assign(zz=1.0)
    return ["score", ctx.model(), ctx.csv("in.csv", frame), "-o", ctx.folder / "out.csv"]


def score_duplicated_columns(ctx: Context) -> list:
    frame = ctx.normal(10)
    frame.insert(4, "a2", frame["a"])
    text = frame.to_csv(index=False).replace("a2", "a", 1)
    return ["score", ctx.model(), ctx.csv("in.csv", text), "-o", ctx.folder / "out.csv"]


def _stdin_records() -> bytes:
    rows = [
        {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4},
        {"a": 0.1, "b": 1e39, "c": 0.3, "d": 0.4},
        {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0},
    ]
    import json

    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def score_stdin_beyond_float32(ctx: Context) -> list:
    return ["score", ctx.model(), "-"]


def score_missing_seven_columns(ctx: Context) -> list:
    from aedetect import AutoencoderDetector

    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(10)]
    import pandas as pd

    train = pd.DataFrame(rng.normal(size=(40, 10)), columns=names)
    AutoencoderDetector(hidden_dims=[8], latent_dim=2, epochs=1, device="cpu").fit(train).save(ctx.folder / "wide")
    return ["score", ctx.folder / "wide", ctx.csv("in.csv", train[names[:3]]), "-o", ctx.folder / "out.csv"]


CASES = [
    CliCase(
        "data-train-cell-beyond-float32",
        train_beyond_float32,
        ("'b'", "1e+39", "data row 3", "float32"),
        before="exit 0: trained (the column's scale absorbed the value)",
    ),
    CliCase(
        "data-train-cell-1e308",
        train_1e308,
        ("'b'", "1e+308", "data row 3", "float32"),
        before="ten RuntimeWarnings, then 'lower the learning rate'",
    ),
    CliCase(
        "data-train-duplicated-columns",
        train_duplicated_columns,
        ("duplicated", "'a'"),
        before="exit 0: trained with the second 'a' silently renamed 'a.1'",
    ),
    CliCase(
        "data-train-one-row",
        train_one_row,
        ("at least 2 normal rows", "got 1"),
        before="exit 0: trained on one row, threshold 1, no warning",
    ),
    CliCase(
        "data-train-text-cell-row-3",
        train_text_cell,
        ("'b'", "'oops'", "data row 3"),
        before="named the column's first value, not the bad one, and no row",
    ),
    CliCase(
        "data-train-nan-row-3",
        train_nan_cell,
        ("'b'", "NaN", "data row 3"),
        before="named the row after shuffling (row 1)",
    ),
    CliCase(
        "data-train-inf-cell",
        train_inf_cell,
        ("'b'", "infinite", "data row 3"),
        before="already refused (with the row after shuffling)",
    ),
    CliCase("data-train-empty-file", train_empty_file, ("in.csv", "empty"), before="already refused"),
    CliCase("data-train-header-only", train_header_only, ("in.csv", "no rows"), before="already refused"),
    CliCase("data-train-no-normal-rows", train_no_normal_rows, ("zero normal rows",), before="already refused"),
    CliCase("data-train-undeclared-labels", train_undeclared_labels, ("label", "'2'"), before="already refused"),
    CliCase("data-train-unknown-feature", train_unknown_feature, ("zz", "not in the data"), before="already refused"),
    CliCase(
        "data-train-decompression-bomb",
        train_decompression_bomb,
        ("bomb.png", "decompression bomb"),
        before="exit 1, traceback DecompressionBombError",
    ),
    CliCase(
        "data-score-image-model-csv",
        score_image_model_csv,
        ("scores images", "image folder", "in.csv"),
        before="'Cannot load file containing pickled data when allow_pickle=False'",
    ),
    CliCase(
        "data-train-threshold-percentile-150",
        train_percentile_150,
        ("percentile", "(0, 100)", "150"),
        before="the generic 'must be a threshold rule or a str like ...' message",
    ),
    CliCase(
        "data-train-threshold-mean-std-1e308",
        train_mean_std_1e308,
        ("mean_std:1e+308", "not finite"),
        before="exit 0: saved a model with threshold inf",
    ),
    CliCase(
        "data-score-threshold-mean-std-1e308",
        score_mean_std_1e308,
        ("mean_std:1e+308", "not finite"),
        before="exit 0: threshold inf, nothing flagged",
    ),
    CliCase("data-score-threshold-nan", score_threshold_nan, ("finite",), before="already refused"),
    CliCase(
        "data-score-cell-beyond-float32",
        score_beyond_float32,
        ("'b'", "1e+39", "data row 3"),
        before="exit 0: wrote score NaN, not flagged",
    ),
    CliCase(
        "data-score-cell-1e20", score_1e20, ("'b'", "1e+20", "data row 3", "clip"), before="exit 0: wrote score inf"
    ),
    CliCase(
        "data-score-parquet-beyond-float32",
        score_parquet_beyond_float32,
        ("'b'", "1e+39", "data row 3"),
        before="exit 0: wrote score NaN, not flagged",
    ),
    CliCase(
        "data-score-nan-cell",
        score_nan_cell,
        ("'b'", "NaN", "data row 3"),
        before="already refused ('In rows 0-9: ... row 2')",
    ),
    CliCase("data-score-unknown-column", score_unknown_column, ("zz", "--drop"), before="already refused"),
    CliCase(
        "data-score-duplicated-columns",
        score_duplicated_columns,
        ("duplicated", "'a'"),
        before="pyarrow's raw message: 'Column a does not exist in schema'",
    ),
    CliCase(
        "data-score-stdin-beyond-float32",
        score_stdin_beyond_float32,
        ("line 2", "'b'", "1e+39"),
        stdin=_stdin_records(),
        before="exit 0: wrote a bare NaN (not JSON), not flagged",
    ),
    CliCase(
        "data-score-missing-seven-columns",
        score_missing_seven_columns,
        ("lacks", "and 2 more"),
        before="listed five of the seven with no word of the other two",
    ),
]

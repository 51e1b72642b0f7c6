"""``aedetect datasets``: list the built-in datasets or write one to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aedetect.cli.common import console, use_data_dir, user_errors


@user_errors
def datasets(
    name: Annotated[str | None, typer.Argument(help="Dataset to write out (omit to list them).")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write the dataset to (.csv or .parquet).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder holding downloadable datasets (kddcup99).")] = None,
) -> None:
    """List the built-in datasets, or write one to a file.

    The file holds the features and a 'label' column (1 = anomaly).
    """
    from rich.table import Table

    from aedetect.data.datasets import DATASETS, load_dataset
    from aedetect.data.io import WRITABLE, check_output, write_table

    if name is None:
        table = Table("name", "description", header_style="bold")
        for dataset in DATASETS.values():
            table.add_row(dataset.name, dataset.description)
        console.print(table)
        console.print("Use one as DATA with 'dataset:NAME', or write it out with 'aedetect datasets NAME -o FILE'.")
        return
    if output is None:
        raise ValueError("Give --output FILE (.csv or .parquet) to write the dataset to.")
    check_output(output, suffixes=WRITABLE)  # before the slow part (kddcup99)
    use_data_dir(data_dir)
    frame, labels = load_dataset(name)
    write_table(frame.assign(label=labels), output)
    console.print(f"wrote {len(frame)} rows ({int(labels.sum())} anomalies) to {output}", highlight=False)

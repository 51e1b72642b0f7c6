"""Reading tables and the built-in datasets."""

from aedetect.data.datasets import DATASETS, load_dataset
from aedetect.data.io import read_table, split_labels, write_table

__all__ = ["DATASETS", "load_dataset", "read_table", "split_labels", "write_table"]

"""Data stage: read labelled text files and texts to classify; hold out validation rows."""

from textrnn.data.dataset import Dataset, check_trainable, file_sha256, stratified_split
from textrnn.data.readers import FORMATS, iter_lines, load_dataset, read_texts

__all__ = ["FORMATS", "Dataset", "check_trainable", "file_sha256", "iter_lines", "load_dataset", "read_texts",
           "stratified_split"]

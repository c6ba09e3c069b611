"""Errors that textrnn raises for bad input; the CLI prints them as one line and exits 1."""


class TextrnnError(Exception):
    """Base class: a problem the user can fix (bad data, bad option, missing model)."""


class DataError(TextrnnError):
    """A data file is missing, unreadable or not in the expected shape."""


class ConfigError(TextrnnError, ValueError):
    """An option value is out of range or inconsistent with another."""


class ModelFolderError(TextrnnError):
    """A model folder is missing, incomplete or corrupt, or no default model is set."""


class ExportMismatchError(TextrnnError):
    """The exported ONNX model does not reproduce the PyTorch model's outputs."""


class TrainingError(TextrnnError):
    """Training could not produce a model (for example, the loss diverged to NaN or infinity)."""


class DeviceError(TextrnnError):
    """The requested device (e.g. CUDA) cannot be used on this machine."""


class MissingDependencyError(TextrnnError):
    """An optional package (an extra such as textrnn[plots]) is needed but not installed."""

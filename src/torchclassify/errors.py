"""The exceptions torchclassify raises for bad input: one type per kind of mistake.

Every message is one line that says what is wrong and how to fix it; the CLI prints it and exits with 2.
"""


class TorchClassifyError(Exception):
    """Base class: a problem with the user's input, not a bug in torchclassify."""


class DataError(TorchClassifyError, ValueError):
    """The data cannot be used: missing file or column, empty or one-class target, NaN labels, ..."""


class ConfigError(TorchClassifyError, ValueError):
    """The settings are impossible or contradict each other (e.g. --task binary with 3 classes)."""


class ModelFileError(TorchClassifyError):
    """A saved run folder is missing, corrupted, tampered with, or from an incompatible version."""


class TrainingError(TorchClassifyError):
    """Training cannot go on (e.g. the loss became NaN); the message names the likely cause."""

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


def printable(text: str) -> str:
    """text with control and format characters (escape sequences, bells, bidi overrides) shown escaped.

    Class names, column names and file names come from the user's data: printed raw, "\\x1b[2J" would clear
    the terminal. Newlines and tabs are kept, so multi-line tables stay tables.
    """
    import unicodedata

    if text.isprintable():
        return text
    return "".join(ch if ch in "\n\t" or ch.isprintable() or unicodedata.category(ch) not in ("Cc", "Cf")
                   else ch.encode("unicode_escape").decode("ascii") for ch in text)

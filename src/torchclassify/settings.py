"""What a setting may hold: the choice lists and the `Setting` description every config field carries.

config.py builds the run's sections from these; they live apart so that config.py stays one screenful of
sections and checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

TASKS = ("auto", "binary", "multiclass", "multilabel")
ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "leaky_relu", "elu", "sigmoid")
RECIPES = ("auto", "mlp", "tabular")
NORMS = ("none", "batch", "layer")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
NUMERIC_SCALINGS = ("standard", "robust_clip")  # data/preprocess.py
SCHEDULES = ("none", "step", "cosine", "onecycle", "plateau")
AUGMENTATIONS = ("none", "noise", "mixup")
IMAGE_AUGMENTATIONS = ("flip", "crop", "rotate", "jitter")  # combined with commas: flip,crop
CLASS_WEIGHTS = ("none", "balanced")
DEVICES = ("auto", "cpu", "cuda", "mps")
AMP_MODES = ("none", "bf16", "fp16")
BACKWARDS = ("auto", "autograd")
MAX_EPOCHS = 1_000_000
# DataConfig.source of rows handed over in Python, which config.json cannot name or read again: a DataFrame
# passed to workflow.lifecycle.train(data=...), and the rows of workflow.training.fit_in_memory (the estimator).
DATAFRAME_SOURCE = "<dataframe>"
IN_MEMORY_SOURCE = "<in-memory>"
IN_MEMORY_SOURCES = (DATAFRAME_SOURCE, IN_MEMORY_SOURCE)


def normal_augment(text: str) -> str | None:
    """--augment as stored: one table augmentation, or image augmentations joined by commas without repeats
    ("flip,crop"); None for anything else."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if len(parts) == 1 and parts[0] in AUGMENTATIONS:
        return parts[0]
    if parts and all(part in IMAGE_AUGMENTATIONS for part in parts):
        return ",".join(dict.fromkeys(parts))
    return None


@dataclass(frozen=True)
class Setting:
    """What one setting may hold and how it is spelt on the command line.

    kind: "choice" (one of `choices`), "int", "float", "bool", "text", "names" (column names like a,b),
    "widths" (layer widths like 64,64), "augment" (one of `choices`, or image augmentations joined by
    commas), "batch" (a whole number, or "full" for 0), "threshold" (a
    probability, or "auto") or "class_weight" (one of `choices`, or a mapping of labels to weights). low/high bound numbers (open ends excluded);
    optional: None is allowed (None means "chosen from the data" or "not given").
    """

    help: str
    kind: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    flag: str | None = None  # the CLI flag, when it is not --<name with dashes>
    metavar: str | None = None

    def describe_range(self) -> str:
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{left}{self.low:g}, {self.high:g}{right}"


def setting(default, help: str, kind: str, **options) -> Any:
    """A dataclass field whose metadata describes the setting (see Setting)."""
    spec = Setting(help, kind, **options)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"setting": spec})
    return field(default=default, metadata={"setting": spec})


def check_streamable(source: Any) -> None:
    """--stream reads Parquet row groups; anything else gets a one-line ConfigError saying what to do instead."""
    text = str(source)
    suffix = text.rsplit(".", 1)[-1].lower() if "." in text else ""
    if suffix in ("parquet", "pq"):
        return
    if suffix in ("csv", "tsv", "txt"):
        parquet = text.rsplit(".", 1)[0] + ".parquet"
        raise ConfigError(f"--stream reads Parquet files only, and {text} is a {suffix.upper()} file: convert it "
                          f"once with `torchclassify convert {text} {parquet}` (one chunk in memory at a "
                          f"time), then train with --data {parquet}")
    raise ConfigError(f"--stream reads a Parquet file (.parquet or .pq), and {text!r} is not one: built-in "
                      "datasets and in-memory tables fit in memory, so drop --stream")

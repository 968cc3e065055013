"""Settings for one run: what config.json stores and what reruns a run, each described once.

Every field carries a `Setting` (kind, choices or range, help, CLI flag). Validation, the command line's
flags (commands/common.py), `compare`'s value parsing and `tune`'s search space are all derived from these
descriptions, so a choice or a range is written in one place only. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .settings import (
    ACTIVATIONS,
    AMP_MODES,
    AUGMENTATIONS,
    BACKWARDS,
    CLASS_WEIGHTS,
    DEVICES,
    IMAGE_AUGMENTATIONS,
    MAX_EPOCHS,
    NORMS,
    NUMERIC_SCALINGS,
    OPTIMIZERS,
    RECIPES,
    SCHEDULES,
    TASKS,
    Setting,
    check_streamable,
    normal_augment,
    setting,
)


@dataclass
class DataConfig:
    """Where the data comes from and how it is split."""

    source: str = setting("circles", "built-in dataset name (see `torchclassify datasets`) or a CSV/Parquet path",
                          "text", flag="--data", metavar="NAME|PATH")
    target: str | None = setting(None, "label column; several 0/1 columns for multilabel: 'a,b,c' or 'mood_*'",
                                 "text", optional=True, metavar="COLUMN")
    positive: str | None = setting(None, "binary: the class precision, recall and F1 describe (default: 1, True or "
                                         "yes of a yes/no pair, else the minority)", "text", optional=True, metavar="LABEL")
    drop: list[str] = setting([], "feature columns to leave out, e.g. customer_id,notes", "names", metavar="COLUMNS")
    keep: list[str] = setting([], "columns exempt from the automatic rules (identifiers, row numbers and constant "
                                  "columns left out, dates turned into numbers)", "names", metavar="COLUMNS")
    detect_columns: bool = setting(True, "apply those rules at all (--no-detect-columns: every column as it is)",
                                   "bool")
    text: list[str] = setting([], "columns read as free text (TF-IDF over words and word pairs), whatever the "
                                  "rules say", "names", metavar="COLUMNS")
    no_text: list[str] = setting([], "columns never read as free text (one-hot over their frequent values)",
                                 "names", metavar="COLUMNS")
    task: str = setting("auto", "binary, multiclass or multilabel (default: detected from the target)", "choice",
                        choices=TASKS)
    n_samples: int | None = setting(None, "rows drawn by a toy generator", "int", low=10, high=10**8, optional=True,
                                    metavar="N")
    noise: float | None = setting(None, "noise of a toy generator", "float", low=0, high=100, optional=True)
    valid_size: float = setting(0.2, "validation fraction of all rows", "float", low=0, high=1, high_open=True)
    test_size: float = setting(0.2, "test fraction of all rows", "float", low=0, high=1, high_open=True)
    numeric_scaling: str = setting("standard", "numbers: standard (minus the mean, over the standard deviation) or "
                                               "robust_clip (minus the median, over a robust scale, then smoothly "
                                               "clipped to +-3)", "choice", choices=NUMERIC_SCALINGS)
    log_skewed: bool = setting(True, "numbers >= 0 with skewness past 2 (counts, amounts): log(1 + x / median)", "bool")
    augment: str = setting("none", "training-batch augmentation: noise or mixup; for images any of flip, crop, "
                                   "rotate, jitter joined by commas (flip,crop)", "augment",
                           choices=AUGMENTATIONS + IMAGE_AUGMENTATIONS, metavar="KIND[,KIND]")
    augment_strength: float | None = setting(None, "noise std (in scaled units), mixup alpha, or the scale of the "
                                                   "image augmentations (1: 15 degrees, 1/8 shifts)", "float", low=0,
                                             high=100, low_open=True, optional=True)
    image_size: int | None = setting(None, "images: the side in pixels every image is resized to (default: the "
                                           "training images' median side, within 8 and 64)", "int", low=4,
                                     high=512, optional=True, metavar="PIXELS")
    stream: bool = setting(False, "read a Parquet file larger than memory in chunks of row groups", "bool")
    chunk_rows: int | None = setting(None, "with --stream: rows per chunk, made of whole row groups (default "
                                           "131072)", "int", low=1, high=2**31, optional=True, metavar="N")


@dataclass
class ModelConfig:
    """The network: an MLP (hidden=[] is a linear model) or the user's own class "pkg.module:Class"."""

    hidden: list[int] = setting([512], "hidden layer widths, e.g. 64,64 ('none': a linear model)", "widths",
                                low=1, high=65536, metavar="WIDTHS")
    activation: str = setting("relu", "activation after each hidden layer", "choice", choices=ACTIVATIONS)
    dropout: float = setting(0.2, "dropout probability after each hidden layer", "float", low=0, high=1,
                             high_open=True)
    norm: str = setting("none", "normalisation after each hidden Linear layer", "choice", choices=NORMS)
    conv: list[int] = setting([32, 64], "images: channels of the small CNN's blocks (3x3 conv, batch norm, ReLU, "
                                        "2x2 max pool; 'none': the MLP on the pixels)", "widths", low=1,
                              high=4096, metavar="WIDTHS")
    recipe: str = setting("auto", "tabular: periodic embeddings of every input and a learned per-feature scale "
                                  "in front of the MLP, probabilities "
                                  "temperature-scaled on the validation split; mlp: the plain MLP; auto: tabular for "
                                  "1,000+ training rows with a validation split, unless the table is at most 2 "
                                  "numeric columns (docs/defaults.md)", "choice", choices=RECIPES)
    members: int | None = setting(None, "networks in the ensemble: each row of a training batch teaches one of them "
                                        "and their logits are averaged (default: 4, 2 from 20,000 training rows; 1 for "
                                        "a linear model, your own network and the plain MLP; docs/defaults.md)", "int", low=1, high=64, optional=True, metavar="K")
    piecewise: int | None = setting(None, "tabular recipe: members of the ensemble that also read each number column "
                                          "in 16 quantile bins, where it lies inside its bin (the view a tree has "
                                          "of a number; default: half of them, none past ~120 number columns; "
                                          "docs/defaults.md)", "int", low=0,
                                    high=64, optional=True, metavar="K")
    custom: str | None = setting(None, "your own nn.Module class, built as Class(n_features=, n_outputs=)", "text",
                                 optional=True, flag="--model", metavar="MODULE:CLASS")


@dataclass
class TrainConfig:
    """How the network is trained. None means "chosen from the data" (resolved and stored at fit time)."""

    optimizer: str = setting("adamw", "the optimizer", "choice", choices=OPTIMIZERS)
    lr: float = setting(1e-3, "learning rate (an ensemble on 20,000+ training rows without a set batch size: "
                        "times 4, for its 256 rows a member a step)", "float", low=0, high=10, low_open=True)
    weight_decay: float = setting(1e-4, "weight decay (L2 penalty; decoupled for adamw)", "float", low=0, high=10)
    momentum: float = setting(0.9, "momentum, for sgd and rmsprop", "float", low=0, high=1, high_open=True)
    beta2: float = setting(0.999, "adam/adamw: decay of the squared-gradient average (RealMLP's 0.95 measured "
                                  "no better here: docs/quality.md)", "float", low=0, high=1, high_open=True)
    label_smoothing: float = setting(0.0, "train on targets blended with the uniform distribution by this much "
                                          "(the probabilities are then temperature-scaled on the validation split, "
                                          "which may sharpen them)", "float", low=0, high=1, high_open=True)
    schedule: str = setting("none", "learning-rate schedule", "choice", choices=SCHEDULES)
    clip_grad_norm: float | None = setting(None, "clip the gradient norm to this value", "float", low=0, high=1e9,
                                           low_open=True, optional=True)
    class_weight: str | dict = setting("none", "weight the loss per class: balanced (inverse class frequency) or "
                                               "a mapping like churned=5,stayed=1 (multilabel: label=positive "
                                               "weight)", "class_weight", choices=CLASS_WEIGHTS,
                                       metavar="none|balanced|LABEL=W,...")
    epochs: int | None = setting(None, "maximum epochs (default: from the data size)", "int", low=1,
                                 high=MAX_EPOCHS, optional=True, metavar="N")
    batch_size: int | None = setting(None, "rows per step, or 'full' (default: from the data size)", "batch",
                                     low=0, high=2**31, optional=True, metavar="N|full")
    early_stopping: bool | None = setting(None, "stop when the validation loss stalls, keeping the best weights "
                                                "(default: on with a validation split)", "bool", optional=True)
    patience: int | None = setting(None, "epochs without improvement before early stopping (default: a tenth "
                                         "of the epochs, at least 20)", "int", low=1, high=MAX_EPOCHS,
                                   optional=True, metavar="N")
    seed: int = setting(0, "seed of the split, the weights and the batch order", "int", low=0, high=2**32 - 1)
    device: str = setting("auto", "where to train (auto: CUDA when present)", "choice", choices=DEVICES)
    threshold: float | str = setting(0.5, "decision threshold for binary and multilabel, or 'auto': chosen on "
                                          "the validation split for the best F1 of the positive class (each label's "
                                          "own threshold for multilabel)", "threshold", low=0, high=1,
                                     low_open=True, high_open=True, metavar="P|auto")
    amp: str = setting("none", "mixed precision: bf16 (CPU or CUDA) or fp16 (CUDA, with loss scaling)", "choice",
                       choices=AMP_MODES)
    compile: bool = setting(False, "torch.compile the model (pays off only for wide models trained long)", "bool")
    threads: int | None = setting(None, "CPU threads (default: 1 for tiny models, else the CPUs this process may "
                                        "use that are idle)", "int",
                                  low=1, high=1024, optional=True, metavar="N")
    backward: str = setting("auto", "auto: the built-in MLP trains with a hand-derived backward pass (same "
                                    "gradients, less per-step cost); autograd: loss.backward() always", "choice",
                            choices=BACKWARDS)


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def _settings() -> dict[str, tuple[str, dataclasses.Field]]:
    table = {}
    for section, klass in SECTIONS.items():
        for f in dataclasses.fields(klass):
            table[f.name] = (section, f)
    return table


SETTINGS: dict[str, tuple[str, dataclasses.Field]] = _settings()  # setting name -> (section, dataclass field)


def spec(name: str) -> Setting:
    """The Setting of a setting name; ConfigError for an unknown one."""
    if name not in SETTINGS:
        raise ConfigError(f"unknown setting {name!r} (see `torchclassify train --help`)")
    return SETTINGS[name][1].metadata["setting"]


def flag_of(name: str) -> str:
    """The CLI flag of a setting: --data for source, --model for custom, else --<name with dashes>."""
    return spec(name).flag or "--" + name.replace("_", "-")


def setting_name(text: str) -> str:
    """A setting named as a flag or a key ("weight-decay", "--data", "model") -> its key (weight_decay, source)."""
    text = text.strip().lstrip("-")
    for name in SETTINGS:
        if flag_of(name) == "--" + text:
            return name
    return text.replace("-", "_")


# ------------------------------------------------------------------------------------------ text -> value


def parse_setting(name: str, text: str) -> Any:
    """A setting's value from command-line text (also compare's --vary, grid files and tune's --space)."""
    s = spec(name)
    text = str(text).strip()
    if s.kind == "augment":
        return _check_augment(name, text)
    try:
        if s.kind == "widths":
            if text.lower() in ("", "none", "linear", "[]"):
                return []
            return [int(part) for part in text.replace(" ", "").split(",") if part]
        if s.kind == "names":
            return [part.strip() for part in text.split(",") if part.strip()]
        if s.kind == "batch":
            return 0 if text.lower() in ("full", "all", "0") else int(text)
        if s.kind == "threshold":
            return "auto" if text.lower() == "auto" else float(text)
        if s.kind == "class_weight" and "=" in text:
            pairs = [part.rsplit("=", 1) for part in text.split(",") if part.strip()]
            return {label.strip(): float(weight) for label, weight in pairs}
        if s.kind == "int":
            return int(text)
        if s.kind == "float":
            return float(text)
        if s.kind == "bool":
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
    except ValueError:
        raise ConfigError(f"{flag_of(name)} {text!r}: {_expected(s)}") from None
    if s.kind in ("choice", "class_weight") and text not in s.choices:
        raise ConfigError(f"{flag_of(name)} {text!r} is not one of: {', '.join(s.choices)}")
    return text


def format_setting(value: Any) -> str:
    """A setting's value as command-line text (parse_setting reads it back): [64, 64] -> "64,64", [] -> "none"."""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) if value else "none"  # (an empty list of names is "none" too)
    if isinstance(value, dict):
        return ",".join(f"{k}={w:g}" for k, w in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _expected(s: Setting) -> str:
    return {"widths": "expected widths like 64,64 (or 'none' for a linear model)",
            "batch": "expected a whole number or 'full'", "int": "expected a whole number",
            "float": "expected a number", "bool": "expected true or false",
            "threshold": "expected a probability like 0.3, or auto",
            "class_weight": "expected none, balanced or LABEL=WEIGHT,..."}.get(s.kind, "invalid value")


# ------------------------------------------------------------------------------------------ validation


def check_value(name: str, value: Any, shown: str | None = None) -> Any:
    """The value if the setting accepts it (lists of widths come back as lists), else one ConfigError.

    shown: how the message names the setting; its CLI flag by default (the estimator passes "threshold=").
    """
    s, flag = spec(name), shown or flag_of(name)
    python = shown is not None and shown.endswith("=")  # examples in Python's syntax for a library caller
    if value is None:
        if s.optional:
            return None
        raise ConfigError(f"{flag} needs a value")
    if s.kind == "choice":
        if value not in s.choices:
            raise ConfigError(f"{flag} {value!r} is not one of: {', '.join(s.choices)}")
    elif s.kind == "augment":
        if not isinstance(value, str):
            raise ConfigError(f"{flag} must be text like flip,crop, got {value!r}")
        return _check_augment(name, value, flag)
    elif s.kind == "bool":
        numpy = sys.modules.get("numpy")  # NumPy's bool (a parameter grid given as an array), without importing
        if not isinstance(value, bool) and not (numpy and isinstance(value, numpy.bool_)):  # NumPy for --help
            raise ConfigError(f"{flag} must be true or false, got {value!r}")
        return bool(value)
    elif s.kind == "text":
        if not isinstance(value, str):
            raise ConfigError(f"{flag} must be text, got {type(value).__name__}")
    elif s.kind == "names":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{flag} must be column names like {['a', 'b'] if python else 'a,b'}, got {value!r}")
        return list(value)
    elif s.kind == "widths":
        if not isinstance(value, (list, tuple)) or not all(_whole(h) and s.low <= h <= s.high for h in value):
            raise ConfigError(f"{flag} must be widths in [1, 65536] like {[64, 64] if python else '64,64'}, got {value!r}")
        if len(value) > 64:
            raise ConfigError(f"{flag} has {len(value)} layers; at most 64 are supported")
        return list(value)
    elif s.kind in ("int", "batch"):
        if not _whole(value) or not s.low <= value <= s.high:
            raise ConfigError(f"{flag} must be a whole number in [{s.low:g}, {s.high:g}], got {value!r}")
    elif s.kind == "threshold" and value == "auto":
        return value
    elif s.kind == "class_weight":
        if isinstance(value, dict):
            ok = value and all(isinstance(k, str) and isinstance(w, (int, float)) and not isinstance(w, bool)
                               and 0 <= w <= 1e6 and w == w for k, w in value.items())
            if not ok:
                example = {"churned": 5, "stayed": 1} if python else "churned=5,stayed=1"
                raise ConfigError(f"{flag} must map labels to weights in [0, 1e6] like {example}, "
                                  f"got {value!r}")
            return {k: float(w) for k, w in value.items()}
        if value not in s.choices:
            raise ConfigError(f"{flag} {value!r} is not one of: {', '.join(s.choices)}, or LABEL=WEIGHT,...")
    elif s.kind in ("float", "threshold"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
        if ok:
            ok = (value > s.low if s.low_open else value >= s.low) and (value < s.high if s.high_open else value <= s.high)
        if not ok:
            raise ConfigError(f"{flag} must be a number in {s.describe_range()}, got {value!r}")
    return value


def _check_augment(name: str, text: str, shown: str | None = None) -> str:
    if (augment := normal_augment(text)) is not None:
        return augment
    raise ConfigError(f"{shown or flag_of(name)} {text!r}: use one of {', '.join(AUGMENTATIONS)}, or for images any of "
                      f"{', '.join(IMAGE_AUGMENTATIONS)} joined by commas (flip,crop)")


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_section(section) -> None:
    """Check every field of one section (DataConfig, ModelConfig or TrainConfig) in place."""
    for f in dataclasses.fields(section):
        setattr(section, f.name, check_value(f.name, getattr(section, f.name)))


@dataclass
class RunConfig:
    """Everything needed to rerun a run: written as config.json in the run folder."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> "RunConfig":
        """Build from parsed JSON, refusing unknown sections or keys with a ConfigError."""
        if not isinstance(raw, dict):
            raise ConfigError("config must be a JSON object with sections data, model, train")
        unknown = set(raw) - set(SECTIONS)
        if unknown:
            raise ConfigError(f"unknown config section(s) {sorted(map(str, unknown))}: expected data, model, train")
        parts = {}
        for name, klass in SECTIONS.items():
            section = raw.get(name, {})
            if not isinstance(section, dict):
                raise ConfigError(f"config section {name!r} must be an object")
            known = {f.name for f in dataclasses.fields(klass)}
            bad = set(section) - known
            if bad:
                raise ConfigError(f"unknown key(s) {sorted(map(str, bad))} in config section {name!r}")
            parts[name] = klass(**section)
        return cls(**parts).validate()

    def validate(self) -> "RunConfig":
        """Check every value's kind and range, then the settings that depend on each other; one ConfigError."""
        for section in (self.data, self.model, self.train):
            check_section(section)
        d = self.data
        if d.stream:
            check_streamable(d.source)
        if d.chunk_rows is not None and not d.stream:
            raise ConfigError("--chunk-rows applies to --stream only: add --stream, or drop --chunk-rows")
        if self.train.threshold == "auto" and d.valid_size == 0:
            raise ConfigError("--threshold auto chooses the threshold on the validation split: --valid-size must "
                              "be above 0")
        m = self.model
        if m.piecewise and (m.recipe == "mlp" or m.custom or m.hidden == [] or m.piecewise > (m.members or m.piecewise)):
            raise ConfigError(f"--piecewise {m.piecewise}: piecewise members are part of the tabular recipe's "
                              "ensemble, at most --members of them: use --recipe tabular, hidden layers, no --model")
        if d.valid_size + d.test_size >= 0.9:
            raise ConfigError("--valid-size plus --test-size leave less than 10% of rows to train on: lower them")
        return self


def make_config(config: RunConfig | None = None, **settings) -> RunConfig:
    """A validated copy of `config` (or the defaults) with flat keyword settings applied.

    e.g. make_config(source="moons", hidden=[32], lr=0.01); data="moons" is a synonym of source.
    Unknown names raise ConfigError; the caller's config is never edited.
    """
    config = RunConfig.from_dict(config.to_dict()) if config else RunConfig()
    if isinstance(settings.get("data"), (str, os.PathLike)):
        settings["source"] = str(settings.pop("data"))
    for key, value in settings.items():
        if key not in SETTINGS:
            raise ConfigError(f"unknown setting {key!r}")
        setattr(getattr(config, SETTINGS[key][0]), key, value)
    return config.validate()

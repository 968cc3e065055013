"""Settings for one run, as plain dataclasses: what config.json stores and what reruns a run.

The lowest layer of the package: everything else reads these, nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "leaky_relu", "elu", "sigmoid")
NORMS = ("none", "batch", "layer")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("none", "step", "cosine", "onecycle", "plateau")
AUGMENTATIONS = ("none", "noise", "mixup")
CLASS_WEIGHTS = ("none", "balanced")
DEVICES = ("auto", "cpu", "cuda", "mps")
AMP_MODES = ("none", "bf16", "fp16")
BACKWARDS = ("auto", "autograd")


@dataclass
class DataConfig:
    """Where the data comes from and how it is split.

    source: a built-in dataset name (see `torchclassify datasets`) or a CSV/Parquet path.
    target: the label column, or several 0/1 columns for multilabel ("a,b,c" or a glob "mood_*").
    """

    source: str = "circles"
    target: str | None = None
    task: str = "auto"
    n_samples: int | None = None  # toy generators only
    noise: float | None = None  # toy generators only
    valid_size: float = 0.2  # fractions of all rows
    test_size: float = 0.2
    augment: str = "none"
    augment_strength: float | None = None  # noise std (scaled units) or mixup alpha
    # Read a Parquet file larger than memory a chunk of row groups at a time (data/stream.py); None: 131072.
    stream: bool = False
    chunk_rows: int | None = None


@dataclass
class ModelConfig:
    """The network: an MLP (hidden=[] is a linear model) or the user's own class "pkg.module:Class"."""

    hidden: list[int] = field(default_factory=lambda: [512])
    activation: str = "relu"
    dropout: float = 0.2
    norm: str = "none"
    custom: str | None = None  # "package.module:ClassName", built as Class(n_features=..., n_outputs=...)


@dataclass
class TrainConfig:
    """How the network is trained. None means "chosen from the data" (resolved and stored at fit time)."""

    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9  # SGD and RMSprop only
    schedule: str = "none"
    clip_grad_norm: float | None = None
    class_weight: str = "none"
    epochs: int | None = None
    batch_size: int | None = None  # 0 means full batch
    early_stopping: bool | None = None  # None: on when there is a validation split
    patience: int | None = None
    seed: int = 0
    device: str = "auto"
    threshold: float = 0.5  # decision threshold for binary and multilabel
    amp: str = "none"  # mixed precision autocast: "bf16" (CPU or CUDA) or "fp16" (CUDA, with loss scaling)
    compile: bool = False  # torch.compile the model: pays only for wide models and long runs (8-10 s cold)
    threads: int | None = None  # CPU threads; None: 1 for tiny models (a second thread only adds overhead)
    # "auto": the built-in MLP trains with a hand-derived backward pass (engine/manual_backward.py, the
    # same gradients without autograd's per-step overhead); "autograd": loss.backward() everywhere.
    backward: str = "auto"


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
        unknown = set(raw) - {"data", "model", "train"}
        if unknown:
            raise ConfigError(f"unknown config section(s) {sorted(unknown)}: expected data, model, train")
        parts = {}
        for name, klass in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
            section = raw.get(name, {})
            if not isinstance(section, dict):
                raise ConfigError(f"config section {name!r} must be an object")
            known = {f.name for f in dataclasses.fields(klass)}
            bad = set(section) - known
            if bad:
                raise ConfigError(f"unknown key(s) {sorted(bad)} in config section {name!r}")
            parts[name] = klass(**section)
        config = cls(**parts)
        config.validate()
        return config

    def validate(self) -> "RunConfig":
        """Check every value's range and choice; raise one ConfigError naming the first bad one."""
        d, m, t = self.data, self.model, self.train
        _choice("--task", d.task, ("auto", "binary", "multiclass", "multilabel"))
        _choice("--augment", d.augment, AUGMENTATIONS)
        _choice("--activation", m.activation, ACTIVATIONS)
        _choice("--norm", m.norm, NORMS)
        _choice("--optimizer", t.optimizer, OPTIMIZERS)
        _choice("--schedule", t.schedule, SCHEDULES)
        _choice("--class-weight", t.class_weight, CLASS_WEIGHTS)
        _choice("--device", t.device, DEVICES)
        _choice("--amp", t.amp, AMP_MODES)
        _choice("--backward", t.backward, BACKWARDS)
        if not isinstance(d.stream, bool):
            raise ConfigError(f"--stream must be true or false, got {d.stream!r}")
        if d.stream:
            _check_streamable(d.source)
        if d.chunk_rows is not None:
            if not d.stream:
                raise ConfigError("--chunk-rows applies to --stream only: add --stream, or drop --chunk-rows")
            if not isinstance(d.chunk_rows, int) or isinstance(d.chunk_rows, bool) or d.chunk_rows < 1:
                raise ConfigError(f"--chunk-rows must be a whole number >= 1, got {d.chunk_rows!r}")
        if not isinstance(t.compile, bool):
            raise ConfigError(f"--compile must be true or false, got {t.compile!r}")
        if t.threads is not None and (not isinstance(t.threads, int) or isinstance(t.threads, bool)
                                      or not 1 <= t.threads <= 1024):
            raise ConfigError(f"--threads must be a whole number between 1 and 1024, got {t.threads!r}")
        for name, value in (("--valid-size", d.valid_size), ("--test-size", d.test_size)):
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ConfigError(f"{name} must be a fraction in [0, 1), got {value!r}")
        if d.valid_size + d.test_size >= 0.9:
            raise ConfigError("--valid-size plus --test-size leave less than 10% of rows to train on: lower them")
        if not isinstance(m.hidden, (list, tuple)) or not all(
            isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= 65536 for h in m.hidden
        ):
            raise ConfigError(f"--hidden must be layer widths between 1 and 65536 like 64,64, got {m.hidden!r}")
        if len(m.hidden) > 64:
            raise ConfigError(f"--hidden has {len(m.hidden)} layers; at most 64 are supported")
        m.hidden = list(m.hidden)
        _number("--dropout", m.dropout, 0, 1, upper_open=True)
        _number("--lr", t.lr, 0, 10, lower_open=True)
        _number("--weight-decay", t.weight_decay, 0, 10)
        _number("--momentum", t.momentum, 0, 1, upper_open=True)
        _number("--threshold", t.threshold, 0, 1, lower_open=True, upper_open=True)
        if t.clip_grad_norm is not None:
            _number("--clip-grad-norm", t.clip_grad_norm, 0, 1e9, lower_open=True)
        if d.augment_strength is not None:
            _number("--augment-strength", d.augment_strength, 0, 100, lower_open=True)
        if d.noise is not None:
            _number("--noise", d.noise, 0, 100)
        for name, value, low in (("--epochs", t.epochs, 1), ("--batch-size", t.batch_size, 0),
                                 ("--patience", t.patience, 1), ("--n-samples", d.n_samples, 10)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
                raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}")
        if not isinstance(t.seed, int) or isinstance(t.seed, bool) or not 0 <= t.seed < 2**32:
            raise ConfigError(f"--seed must be a whole number in [0, 2**32), got {t.seed!r}")
        return self


def _check_streamable(source: Any) -> None:
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


def _choice(flag: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{flag} {value!r} is not one of: {', '.join(allowed)}")


def _number(flag: str, value: Any, low: float, high: float, lower_open=False, upper_open=False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if ok:
        ok = (value > low if lower_open else value >= low) and (value < high if upper_open else value <= high)
    if not ok:
        left, right = "(" if lower_open else "[", ")" if upper_open else "]"
        raise ConfigError(f"{flag} must be a number in {left}{low}, {high}{right}, got {value!r}")

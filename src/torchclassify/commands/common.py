"""Argument types and flag groups shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path


def _int_list(text: str) -> list[int]:
    text = text.strip()
    if text.lower() in ("", "none", "linear", "[]"):
        return []
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths like 64,64 (or 'none' for a linear model), got {text!r}")


def _batch_size(text: str) -> int:
    if text.lower() in ("full", "all", "0"):
        return 0
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'full', got {text!r}")


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    # Every default is None: only flags the user gave override --config or the library defaults.
    data = parser.add_argument_group("data")
    data.add_argument("--data", dest="source", help="built-in dataset name (see `datasets`) or a CSV/Parquet path")
    data.add_argument("--target", help="label column; several 0/1 columns for multilabel: 'a,b,c' or 'mood_*'")
    data.add_argument("--task", choices=["auto", "binary", "multiclass", "multilabel"], help="default: detected")
    data.add_argument("--n-samples", type=int, help="rows for toy generators")
    data.add_argument("--noise", type=float, help="noise for toy generators")
    data.add_argument("--valid-size", type=float, help="validation fraction of all rows (default 0.2)")
    data.add_argument("--test-size", type=float, help="test fraction of all rows (default 0.2)")
    data.add_argument("--augment", choices=["none", "noise", "mixup"], help="training-batch augmentation")
    data.add_argument("--augment-strength", type=float, help="noise std (scaled units) or mixup alpha")
    data.add_argument("--stream", action=argparse.BooleanOptionalAction, default=None,
                      help="read a Parquet file larger than memory in chunks of row groups instead of loading it")
    data.add_argument("--chunk-rows", type=int, metavar="N",
                      help="with --stream: rows per chunk, made of whole row groups (default 131072)")
    model = parser.add_argument_group("model")
    model.add_argument("--hidden", type=_int_list, help="hidden layer widths, e.g. 64,64; 'none' = linear model")
    model.add_argument("--activation", choices=["relu", "gelu", "silu", "tanh", "leaky_relu", "elu", "sigmoid"])
    model.add_argument("--dropout", type=float)
    model.add_argument("--norm", choices=["none", "batch", "layer"])
    model.add_argument("--model", dest="custom", metavar="MODULE:CLASS",
                       help="your own nn.Module class, built as Class(n_features=, n_outputs=)")
    train = parser.add_argument_group("training")
    train.add_argument("--optimizer", choices=["sgd", "adam", "adamw", "rmsprop"])
    train.add_argument("--lr", type=float, help="learning rate")
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--momentum", type=float, help="for sgd and rmsprop")
    train.add_argument("--schedule", choices=["none", "step", "cosine", "onecycle", "plateau"])
    train.add_argument("--clip-grad-norm", type=float)
    train.add_argument("--class-weight", choices=["none", "balanced"])
    train.add_argument("--epochs", type=int, help="maximum epochs (default: from the data size)")
    train.add_argument("--batch-size", type=_batch_size, help="rows per step, or 'full' (default: from the data)")
    train.add_argument("--early-stopping", action=argparse.BooleanOptionalAction, default=None,
                       help="stop when the validation loss stalls (default: on with a validation split)")
    train.add_argument("--patience", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    train.add_argument("--amp", choices=["none", "bf16", "fp16"], help="mixed precision autocast (default none)")
    train.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                       help="torch.compile the model (pays off only for wide models and long runs)")
    train.add_argument("--threads", type=int, help="CPU threads (default: 1 for tiny models, else all cores)")
    train.add_argument("--backward", choices=["auto", "autograd"],
                       help="auto (default): the built-in MLP uses a hand-derived backward pass, same gradients "
                            "at a fraction of autograd's per-step cost; autograd: loss.backward() always")
    train.add_argument("--threshold", type=float, help="decision threshold for binary/multilabel (default 0.5)")


def write_csv_atomically(frame, output: Path) -> None:
    """Write a DataFrame to CSV under a temporary name, then rename: never a half-written file."""
    from ..artifacts import write_atomically

    output.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(output, lambda tmp: frame.to_csv(tmp, index=False))

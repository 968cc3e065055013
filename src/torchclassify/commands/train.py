"""`torchclassify train`: train a classifier and write its run folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import DataConfig, ModelConfig, TrainConfig
from .common import _add_train_arguments

# Every setting a run has: the flags' argparse names are the config fields' names (--data -> source,
# --model -> custom), so one list serves train, compare, tune and lr-find and cannot drift from config.py.
TRAIN_KEYS = [f.name for section in (DataConfig, ModelConfig, TrainConfig) for f in dataclasses.fields(section)]


def register(sub) -> None:
    train = sub.add_parser("train", help="train a classifier and write a run folder",
                           description="Train a classifier; writes config.json, model.safetensors, model.json, "
                                       "history.csv and metrics.json into --out.")
    train.add_argument("--config", type=Path, help="a config.json to start from (e.g. an earlier run's)")
    train.add_argument("--out", type=Path, help="run folder to create (default: runs/<dataset>)")
    train.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.add_argument("--resume", type=Path, metavar="RUN",
                       help="continue an interrupted training (its --out folder) with the settings it started with")
    train.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                       help="save a checkpoint into RUN.partial/ every N epochs (default: after the first "
                            "epoch, then every 10 seconds of training)")
    _add_train_arguments(train)


def config_from_args(args):
    """The RunConfig that --config plus the given flags describe (flags win)."""
    import json

    from ..config import RunConfig
    from ..errors import ConfigError, DataError
    from ..workflow import make_config

    base = None
    if getattr(args, "config", None) is not None:
        try:
            base = RunConfig.from_dict(json.loads(args.config.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise DataError(f"config file not found: {args.config}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{args.config} is not valid JSON: {err}") from None
    settings = {k: getattr(args, k) for k in TRAIN_KEYS if getattr(args, k, None) is not None}
    if settings.get("stream") is False:  # --no-stream over a streamed run's config: its chunk size lapses too
        settings.setdefault("chunk_rows", None)
    return make_config(base, **settings)


def run(args) -> int:
    from ..errors import ConfigError

    progress = "quiet" if args.quiet else "auto"
    try:
        if args.resume is not None:
            given = [k for k in TRAIN_KEYS + ["config", "out"] if getattr(args, k, None) is not None]
            if given or args.overwrite:
                names = {"source": "data", "custom": "model"}
                flags = ", ".join("--" + names.get(k, k).replace("_", "-") for k in given) or "--overwrite"
                raise ConfigError(f"--resume continues with the settings the run started with: drop {flags}")
        from ..workflow import train

        if args.resume is not None:
            run = train(resume=args.resume, progress=progress, checkpoint_every=args.checkpoint_every)
        else:
            config = config_from_args(args)
            out = args.out or default_out(config.data.source)
            run = train(config, out=out, overwrite=args.overwrite, progress=progress,
                        checkpoint_every=args.checkpoint_every)
    except KeyboardInterrupt:
        return 130  # the library has said where the best model is and how to resume
    print(report_text(run))
    return 0


def default_out(source: str) -> Path:
    """runs/<dataset>, or runs/<dataset>-2, -3, ... when taken."""
    stem = Path(source).stem if source else "run"
    out = Path("runs") / stem
    n = 2
    while out.exists():
        out = Path("runs") / f"{stem}-{n}"
        n += 1
    return out


def report_text(run) -> str:
    """The end-of-training summary printed to stdout: metrics table and where the files are."""
    from ..evaluate import format_metrics

    s = run.summary
    lines = [
        "",
        f"{s['dataset']} ({s['task']}): {s['epochs_run']} epochs in {s['train_seconds']:.1f}s"
        + (f", best epoch {s['best_epoch']}" if s.get("best_epoch") else "")
        + f" ({s['seconds']:.1f}s with loading and evaluation)",
        "",
        format_metrics(run.metrics),
        "",
    ]
    for sentence in s.get("diagnosis", []):  # from diagnose.py: only what the history supports
        lines += [f"diagnosis: {sentence}", ""]
    if run.run_dir is not None:
        files = ", ".join(sorted(p.name for p in Path(run.run_dir).iterdir()))
        lines.append(f"run folder: {run.run_dir}  ({files})")
        lines.append(f"predict:    torchclassify predict {run.run_dir} NEW_ROWS.csv --proba -o predictions.csv")
    return "\n".join(lines)

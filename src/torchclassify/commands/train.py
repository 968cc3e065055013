"""`torchclassify train`: train a classifier and write its run folder."""

from __future__ import annotations

from pathlib import Path

from ..config import flag_of
from ..errors import ConfigError, printable
from .common import (
    add_config_argument,
    add_setting_arguments,
    add_tracking_arguments,
    config_from_args,
    given_settings,
    imports_kept,
    output_path,
    tracking_options,
)


def register(sub) -> None:
    train = sub.add_parser("train", help="train a classifier and write a run folder",
                           description="Train a classifier; writes config.json, model.safetensors, model.json, "
                                       "history.csv, metrics.json and report.html into --out.")
    add_config_argument(train)
    train.add_argument("--out", type=output_path, help="run folder to create (default: runs/<dataset>)")
    train.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    train.add_argument("--resume", type=Path, metavar="RUN",
                       help="continue an interrupted training (its --out folder) with the settings it started with")
    train.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                       help="save a checkpoint into RUN.partial/ every N epochs (default: after the first "
                            "epoch, then every 10 seconds of training)")
    add_tracking_arguments(train)
    add_setting_arguments(train)


def execute(args) -> int:
    with imports_kept(args):
        from ..plots import import_matplotlib
        from ..workflow import train

        import_matplotlib()  # the run's report.html draws with it

    progress = "quiet" if args.quiet else "auto"
    try:
        if args.resume is not None:
            given = [flag_of(k) for k in given_settings(args)]
            given += [f"--{k}" for k in ("config", "out") if getattr(args, k, None) is not None]
            if given or args.overwrite:
                raise ConfigError("--resume continues with the settings the run started with: drop "
                                  + (", ".join(given) or "--overwrite"))
            run = train(resume=args.resume, progress=progress, checkpoint_every=args.checkpoint_every,
                        **tracking_options(args))
        else:
            config = config_from_args(args)
            out = args.out if args.out is not None else default_out(config.data.source)
            run = train(config, out=out, overwrite=args.overwrite, progress=progress,
                        checkpoint_every=args.checkpoint_every, **tracking_options(args))
    except KeyboardInterrupt:
        return 130  # the library has said where the best model is and how to resume
    print(printable(report_text(run)))
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
        rows = "IMAGES_FOLDER" if "images" in run.summary else "NEW_ROWS.csv"
        lines.append(f"predict:    torchclassify predict {run.run_dir} {rows} --proba -o predictions.csv")
    lines += tracked_lines(run.tracked)
    return "\n".join(lines)


def tracked_lines(tracked: dict) -> list[str]:
    """Where tracking logged a run, and the command that shows it."""
    lines = []
    if "mlflow" in tracked:
        uri = tracked["mlflow"]["tracking_uri"]
        view = f"mlflow ui --backend-store-uri {uri}" if not uri.startswith(("http:", "https:")) else uri
        lines.append(f"mlflow:     run {tracked['mlflow']['run_id']}  (view: {view})")
    if "tensorboard" in tracked:
        lines.append(f"tensorboard: tensorboard --logdir {tracked['tensorboard']}")
    return lines

"""`torchclassify lr-find`: the learning-rate range test, its plot and a suggested --lr."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_config_argument, add_setting_arguments, config_from_args, imports_kept, output_path

# Settings the range test does not use: it trains for --steps batches at rates it chooses itself.
NOT_USED = ("lr", "epochs", "early_stopping", "patience", "schedule", "threshold", "class_weight", "clip_grad_norm",
            "augment", "augment_strength", "amp", "compile", "backward", "stream", "chunk_rows")


OUTPUTS = ("lr_find.csv", "lr_find.json", "lr_find.png")


def register(sub) -> None:
    parser = sub.add_parser(
        "lr-find", help="learning-rate range test: plot the loss against the rate and suggest --lr",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a fresh model (the same data, model, optimizer and batch size as `train` with these "
                    "flags) while the learning rate grows from --start-lr to --end-lr; write lr_find.png, "
                    "lr_find.csv and lr_find.json into --out and print the suggested --lr.",
        epilog="example:\n  torchclassify lr-find --data wine --optimizer sgd --out runs/wine-lr\n"
               "  torchclassify train --data wine --optimizer sgd --lr SUGGESTION")
    parser.add_argument("--start-lr", type=float, default=1e-7, help="first rate tried (default 1e-7)")
    parser.add_argument("--end-lr", type=float, default=10.0, help="last rate tried (default 10)")
    parser.add_argument("--steps", type=int, default=200, help="rates tried, one batch each (default 200)")
    add_config_argument(parser)
    parser.add_argument("--out", type=output_path, help="folder for the plot and curve (default runs/<dataset>-lr-find)")
    add_setting_arguments(parser, exclude=NOT_USED)


def execute(args) -> int:
    with imports_kept(args):
        import pandas as pd

        from ..errors import ConfigError
        from ..files import atomic_write, write_json
        from ..lr_find import lr_find, lr_find_figure
        from ..outputs import check_output

    config = config_from_args(args)
    out = args.out or Path("runs") / f"{Path(config.data.source).stem}-lr-find"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file: give a folder for lr_find.png, lr_find.csv and lr_find.json")
    for name in OUTPUTS:  # before the test runs: its files must never replace the data it reads
        check_output(out / name, ConfigError, "--out", inputs=[config.data.source])
    result = lr_find(config, start_lr=args.start_lr, end_lr=args.end_lr, n_steps=args.steps)
    out.mkdir(parents=True, exist_ok=True)
    curve = pd.DataFrame({"lr": result.lrs, "loss": result.raw_losses, "smoothed_loss": result.losses})
    atomic_write(out / "lr_find.csv", curve.to_csv(index=False))
    write_json(out / "lr_find.json",
               {k: v for k, v in result.to_dict().items() if k not in ("lrs", "losses", "raw_losses")})
    figure = lr_find_figure(result)
    atomic_write(out / "lr_find.png", lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    print(f"suggested learning rate: {result.suggestion:.3g}  ({result.info['optimizer']}, batch "
          f"{result.info['batch_size']}; lowest loss at {result.lr_min_loss:.3g}, {result.info['n_steps_run']} steps)")
    if "train_batch_size" in result.info:  # the large-ensemble rule: train scales the rate itself
        info = result.info  # train's rate per row against this test's, at the same --lr:
        ratio = info["train_lr_factor"] * info["batch_size"] / info["train_batch_size"]
        advice = ("the same rate per row as this test's: pass the suggestion unchanged" if ratio == 1 else
                  f"{ratio:g} times this test's rate per row: --lr {result.suggestion / ratio:.3g} keeps the test's")
        print(f"note: on this data train takes batches of {info['train_batch_size']} rows at --lr times "
              f"{info['train_lr_factor']:g} (batches of {info['batch_size']} here), {advice}")
    print(f"plot: {out / 'lr_find.png'}")
    print(f"train with it: torchclassify train --data {config.data.source} --optimizer {result.info['optimizer']} "
          f"--lr {result.suggestion:.3g}")
    return 0

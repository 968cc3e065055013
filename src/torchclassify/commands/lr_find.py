"""`torchclassify lr-find`: the learning-rate range test, its plot and a suggested --lr."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import _add_train_arguments


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
    parser.add_argument("--config", type=Path, help="a config.json to start from (e.g. an earlier run's)")
    parser.add_argument("--out", type=Path, help="folder for the plot and curve (default runs/<dataset>-lr-find)")
    _add_train_arguments(parser)


def run(args) -> int:
    import json
    import os

    import pandas as pd

    from ..lr_find import lr_find, lr_find_figure
    from .common import write_csv_atomically
    from .train import config_from_args

    config = config_from_args(args)
    result = lr_find(config, start_lr=args.start_lr, end_lr=args.end_lr, n_steps=args.steps)
    out = args.out or Path("runs") / f"{Path(config.data.source).stem}-lr-find"
    out.mkdir(parents=True, exist_ok=True)
    write_csv_atomically(pd.DataFrame({"lr": result.lrs, "loss": result.raw_losses, "smoothed_loss": result.losses}),
                         out / "lr_find.csv")
    for name, write in (("lr_find.json", lambda p: p.write_text(json.dumps(
            {k: v for k, v in result.to_dict().items() if k not in ("lrs", "losses", "raw_losses")}, indent=2))),
                        ("lr_find.png", lambda p: lr_find_figure(result).savefig(p, format="png", dpi=110))):
        tmp = out / f".{name}.tmp-{os.getpid()}"
        try:
            write(tmp)
            os.replace(tmp, out / name)
        finally:
            tmp.unlink(missing_ok=True)
    print(f"suggested learning rate: {result.suggestion:.3g}  ({result.info['optimizer']}, batch "
          f"{result.info['batch_size']}; lowest loss at {result.lr_min_loss:.3g}, {result.info['n_steps_run']} steps)")
    print(f"plot: {out / 'lr_find.png'}")
    print(f"train with it: torchclassify train --data {config.data.source} --optimizer {result.info['optimizer']} "
          f"--lr {result.suggestion:.3g}")
    return 0

"""`torchclassify plot RUN --kind KIND`: one picture of a trained run, written as PNG or SVG."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .common import imports_kept, output_path

KINDS = ("boundary", "curves", "confusion", "roc", "pr", "calibration", "images")  # report.PICTURE_KINDS


def register(sub) -> None:
    plot = sub.add_parser(
        "plot", help="draw a picture of a run: decision boundary, training curves, confusion matrix, ROC, PR, calibration",
        description="Draw one picture of a trained run. The rows are rebuilt from the run's config.json "
                    "(same source, seed and split); evaluation pictures use the test split.")
    plot.add_argument("run", type=Path, help="run folder written by train")
    plot.add_argument("--kind", choices=KINDS, default="boundary", help="which picture (default: boundary)")
    plot.add_argument("--format", choices=["png", "svg"], default=None,
                      help="image format (default: from -o's extension, else png)")
    plot.add_argument("-o", "--output", type=output_path, help="file to write (default: RUN/KIND.FORMAT)")
    plot.add_argument("--features", help="boundary: 'pca', or two columns 'a,b' (others held at typical values)")
    plot.add_argument("--labels", help="boundary, multilabel: the labels to draw, 'a,b' (default: all)")
    plot.add_argument("--trust-custom-model", action="store_true", help="allow importing a custom model class")


def execute(args) -> int:
    with imports_kept(args):
        from ..outputs import check_output, parents_made, write_output
        from ..plots import import_matplotlib
        from ..report import RunView, draw
        from ..run_folder import run_files

        import_matplotlib()  # the picture is drawn with it

    options = {}
    if args.kind != "boundary" and (args.features or args.labels):
        raise ConfigError("--features and --labels apply to --kind boundary only")
    if args.features:
        options["features"] = "pca" if args.features.strip() == "pca" else [f.strip() for f in args.features.split(",")]
    if args.labels:
        options["labels"] = [label.strip() for label in args.labels.split(",") if label.strip()]
    suffix = args.output.suffix.lower().lstrip(".") if args.output is not None else ""
    if args.output is not None and suffix not in ("png", "svg"):
        raise ConfigError(f"-o {args.output}: a picture is written as .png or .svg - end the name with one")
    if args.format is not None and suffix and suffix != args.format:
        raise ConfigError(f"-o {args.output} ends in .{suffix} but --format is {args.format}: make them agree")
    args.format = args.format or suffix or "png"
    output = args.output or args.run / f"{args.kind}.{args.format}"
    check_output(output, ConfigError, "-o", inputs=run_files(args.run))
    view = RunView.from_folder(args.run, trust_custom_model=args.trust_custom_model)
    check_output(output, ConfigError, "-o", inputs=[view.config.get("data", {}).get("source")])
    display = draw(view, args.kind, **options)
    with parents_made(output):
        write_output(output, lambda tmp: display.savefig(tmp, format=args.format))
    print(output)
    return 0

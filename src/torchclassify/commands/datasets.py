"""`torchclassify datasets`: list the built-in datasets, or write one out as files (--export)."""

from pathlib import Path

from ..errors import ConfigError

EXPORTS = ("digits-images",)


def register(sub) -> None:
    datasets = sub.add_parser("datasets", help="list the built-in datasets (name, task, rows, features)")
    datasets.add_argument("--export", nargs=2, metavar=("NAME", "DIR"),
                          help=f"write a built-in dataset out as files: {', '.join(EXPORTS)} (scikit-learn's 8x8 "
                               "digits as an image folder, one subfolder per digit)")


def execute(args) -> int:
    if args.export:
        from ..data.image_export import export_digits_images

        name, folder = args.export
        if name not in EXPORTS:
            raise ConfigError(f"--export {name!r}: the exportable datasets are {', '.join(EXPORTS)}")
        n_images = export_digits_images(Path(folder))
        print(f"wrote {n_images} images to {folder} (one subfolder per class): train with "
              f"`torchclassify train --data {folder} --out RUN`")
        return 0
    from ..data.sources import list_datasets

    print(list_datasets().to_string(index=False))
    return 0

"""`torchclassify export RUN --format onnx|torch|script -o FILE`: a trained run for use without torchclassify."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError
from .common import imports_kept, output_path

FORMATS = {
    "onnx": "one ONNX file on the raw columns (preprocessing, network, labels and probabilities inside)",
    "torch": "a torch.export program of the network on preprocessed features, with the preprocessing as JSON "
             "beside it (FILE.preprocessing.json)",
    "script": "one plain Python training script that reproduces the run with torch, pandas and scikit-learn",
}


def register(sub) -> None:
    export = sub.add_parser("export", help="write a trained run as ONNX, a torch.export program, or a training "
                                           "script")
    export.add_argument("run", type=Path, help="run folder written by train")
    export.add_argument("--format", required=True, choices=tuple(FORMATS),
                        help="; ".join(f"{name}: {text}" for name, text in FORMATS.items()))
    export.add_argument("-o", "--output", required=True, type=output_path, help="file to write")
    export.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    export.add_argument("--trust-custom-model", action="store_true", help="allow importing a custom model class")


SUFFIXES = {"onnx": ".onnx", "torch": ".pt2", "script": ".py"}  # what each format's readers expect


def execute(args) -> int:
    with imports_kept(args):
        from ..outputs import check_output, parents_made
        from ..run_folder import run_files

    outputs = [args.output]
    if args.format == "torch":
        from ..export.torch_program import companion_path

        outputs.append(companion_path(args.output))
    for path in outputs:
        check_output(path, ConfigError, "-o", protected=[args.run, *run_files(args.run)])
        if path.exists() and not path.is_file():  # a device or pipe: never renamed over
            raise ConfigError(f"{path} is not a regular file: export writes files - give a file name")
        if path.exists() and not args.overwrite:
            raise ConfigError(f"{path} exists: choose another name or add --overwrite")
    suffix = SUFFIXES[args.format]
    if args.output.suffix.lower() != suffix:  # torch.export.load warns on any other name; tools go by it
        raise ConfigError(f"-o {args.output}: a --format {args.format} file ends in {suffix} - name it so")
    with parents_made(args.output):  # as predict -o does; removed again if the export fails
        written = _write(args)
    if not args.quiet:
        print(f"wrote {' and '.join(map(str, written))}", file=sys.stderr)
    return 0


def _write(args) -> list:
    if args.format == "script":
        from ..eject import write_script

        written = [write_script(args.run, args.output)]
    else:
        from ..classifier import load_model

        classifier = load_model(args.run, trust_custom_model=args.trust_custom_model)
        if args.format == "onnx":
            from ..export.onnx import to_onnx

            written = [to_onnx(classifier, args.output)]
        else:
            from ..export.torch_program import to_torch_program

            written = list(to_torch_program(classifier, args.output))
    return written

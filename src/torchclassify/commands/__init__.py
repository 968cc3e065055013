"""One module per CLI command. Each defines `register(subparsers)` and `run(args) -> exit code`.

Modules here must import only argparse-level things at the top: heavy imports go inside `run`, so
`torchclassify --help` stays fast.
"""

# The order `torchclassify --help` lists them in; a module that does not exist yet is skipped.
COMMAND_MODULES = ("datasets", "train", "evaluate", "predict", "plot", "report", "compare", "tune", "lr_find",
                   "convert")

"""One module per CLI command. Each defines `register(commands)` and `execute(args) -> exit code`.

At the top, modules here import only the light parts of the package (config, errors: no torch, pandas or
matplotlib); the library itself is imported inside `execute`, so `torchclassify --help` stays fast.
"""

# The order `torchclassify --help` lists them in.
COMMAND_MODULES = ("datasets", "train", "evaluate", "predict", "plot", "report", "inspect", "compare", "tune",
                   "lr_find", "convert", "export")

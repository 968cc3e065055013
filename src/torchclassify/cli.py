"""The command line: builds the parser from the modules in `commands/`, runs one, turns errors into exit 2.

Bad input ends with one line on stderr and exit code 2 (`--debug` shows the traceback instead).
No training logic lives here or in `commands/`: they parse, call the library and print.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import warnings

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _command_modules():
    from .commands import COMMAND_MODULES

    for name in COMMAND_MODULES:
        full = f"{__package__}.commands.{name}"
        if importlib.util.find_spec(full) is not None:
            yield importlib.import_module(full)


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    """The parser and {command name: module}."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="torchclassify",
        description="Train, evaluate and use PyTorch classifiers on tables and toy datasets.",
        epilog="Example: torchclassify train --data circles --out runs/circles",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers = {}
    for module in _command_modules():
        before = set(sub.choices)
        module.register(sub)
        for name in set(sub.choices) - before:
            handlers[name] = module
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    warnings.showwarning = _one_line_warning
    try:
        return handlers[args.command].run(args) or 0
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error; silence the flush at exit too.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        from .errors import TorchClassifyError

        if args.debug:
            raise
        if isinstance(err, TorchClassifyError):
            print(f"error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback, and please "
              "report it)", file=sys.stderr)
        return 1


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

"""The command line: builds the parser from the modules in `commands/`, runs one, turns errors into exit 2.

Bad input ends with one line on stderr and exit code 2 (`--debug` shows the traceback instead): the
library's own errors, a mistyped flag (with the closest flag suggested), and the file-system errors a
user can fix (permission denied, a full disk, a read-only folder). No training logic lives here or in
`commands/`: they parse, call the library and print.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import importlib
import sys
import warnings
from pathlib import Path

from . import __version__
from .commands import COMMAND_MODULES
from .errors import TorchClassifyError, printable

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
# File-system errors a user can fix: reported in one line with exit 2 rather than as an internal error.
_USER_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOENT, errno.EISDIR,
                errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EFBIG, errno.EINVAL}


class Parser(argparse.ArgumentParser):
    """argparse without abbreviations (--epoch is not --epochs), whose errors are one line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see `{self.prog} --help`)\n")


class _Commands:
    """What each command module's register() sees: add_parser with the flags every command shares."""

    def __init__(self, sub, shared: argparse.ArgumentParser):
        self.sub, self.shared, self.parsers = sub, shared, {}

    def add_parser(self, name: str, **kwargs) -> Parser:
        parser = self.sub.add_parser(name, parents=[self.shared], **kwargs)
        self.parsers[name] = parser
        return parser


def build_parser() -> tuple[Parser, dict, dict]:
    """The parser, {command name: module} and {command name: its parser}."""
    parser = Parser(prog="torchclassify",
                    description="Train, evaluate and use PyTorch classifiers on tables and toy datasets.",
                    epilog="Example: torchclassify train --data circles --out runs/circles")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", dest="debug_all", action="store_true",
                        help="show tracebacks instead of one-line errors")
    shared = Parser(add_help=False)
    shared.add_argument("--quiet", action="store_true", help="print no progress, only results and errors")
    shared.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    commands = _Commands(parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser), shared)
    handlers = {}
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__package__}.commands.{name}")
        before = set(commands.parsers)
        module.register(commands)
        handlers.update({command: module for command in set(commands.parsers) - before})
    return parser, handlers, commands.parsers


def run() -> int:
    """The console script and `python -m torchclassify`: main() on sys.argv, in a process that ends with the
    command (so the command may freeze its imports out of the garbage collector: commands.common.imports_kept)."""
    return main(whole_process=True)


def main(argv: list[str] | None = None, *, whole_process: bool = False) -> int:
    """Run one command (argv: sys.argv[1:] when None) and return its exit code. A caller's main(...) keeps its
    process's garbage collector as it was; `run` is the entry point that owns the process."""
    parser, handlers, parsers = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args, unknown = parser.parse_known_args(argv)
    args.whole_process = whole_process
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    if unknown:
        command_at = argv.index(args.command) if args.command in argv else len(argv)
        early = [t for t in unknown if t in argv[:command_at]]  # `torchclassify --quiet train ...`
        if early:
            parsers[args.command].error(f"{' '.join(early)} goes after the command: torchclassify {args.command} "
                                        f"{' '.join(early)} ...")
        parsers[args.command].error(_unknown_message(unknown, parsers[args.command]))
    debug = args.debug or args.debug_all
    warnings.showwarning = _one_line_warning
    try:
        return handlers[args.command].execute(args) or 0
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error; silence the flush at exit too.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        if debug:
            raise
        if isinstance(err, TorchClassifyError):
            print(f"error: {printable(str(err))}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if isinstance(err, OSError) and err.errno in _USER_ERRNOS:
            where = f" {err.filename}" if err.filename else ""
            verb = "write" if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG) else "use"
            print(printable(f"error: cannot {verb}{where}: {err.strerror or err}"), file=sys.stderr)
            return EXIT_BAD_INPUT
        frame = _user_frame(err)
        if frame is not None:  # the user's own network (--model) raised: theirs to fix, not ours to hear about
            print(f"error in your code, {frame.filename}:{frame.lineno} ({frame.name}): {type(err).__name__}: "
                  f"{printable(str(err))} (rerun with --debug for the traceback)", file=sys.stderr)
            return 1
        print(f"internal error: {type(err).__name__}: {printable(str(err))} (rerun with --debug for the traceback, and please "
              "report it)", file=sys.stderr)
        return 1


def _user_frame(err: BaseException):
    """The innermost traceback frame of err in code that is neither this package's nor an installed
    library's nor Python's own (a --model module), or None. A SyntaxError names its own file and line (its
    frames are the importer's)."""
    import sysconfig
    import traceback

    ours = str(Path(__file__).resolve().parent)
    installed = {str(Path(sysconfig.get_paths()[key]).resolve()) for key in ("stdlib", "platstdlib", "purelib",
                                                                              "platlib")}
    library = ("site-packages", "dist-packages", "torchinductor")  # (user site, Debian's, torch's generated code)

    def users(filename: str) -> bool:
        path = str(Path(filename).resolve())
        return not filename.startswith("<") and not path.startswith(ours) and \
            not any(path.startswith(root) for root in installed) and not any(p in path for p in library)

    if isinstance(err, SyntaxError) and err.filename and users(err.filename):
        return traceback.FrameSummary(err.filename, err.lineno or 0, "module")
    return next((frame for frame in reversed(traceback.extract_tb(err.__traceback__)) if users(frame.filename)),
                None)


def _unknown_message(unknown: list[str], parser: argparse.ArgumentParser) -> str:
    """'unrecognized arguments: --lr-rate (did you mean --lr?)', with the closest flags suggested."""
    known = [option for option in parser._option_string_actions if option.startswith("--")]
    hints = []
    for text in unknown:
        flag = text.split("=", 1)[0]
        if flag.startswith("-"):
            close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
            if close:
                hints.append(f"{flag}: did you mean {close[0]}?")
    return "unrecognized arguments: " + " ".join(unknown) + (f" ({'; '.join(hints)})" if hints else "")


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {printable(str(message))}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(run())

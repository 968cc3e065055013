"""Where a command writes its output file: checked so that it destroys nothing (`check_output`), its missing
folders made and removed again if the command fails (`parents_made`), and the file written atomically, or
streamed into a FIFO or device (`write_output`). files.py holds the primitives these build on.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from .errors import TorchClassifyError
from .files import atomic_write, same_file


def is_stream(path) -> bool:
    """Whether `path` exists and is a FIFO or a character device (`-o >(gzip > x)`, `-o /dev/null`): a place
    to stream into, not a file to replace."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def check_output(path, error: type[TorchClassifyError], what: str, inputs=(), protected=()) -> Path:
    """Refuse, in one line, an output path that would destroy something: empty, a folder, one of `inputs`
    (the file being read) or inside one of them that is a folder (of images), or inside / one of `protected`
    (a run folder or its files). Returns the path.

    A FIFO or character device is fine: `write_output` streams into it instead of replacing it.
    """
    text = str(path) if path is not None else ""
    if not text.strip():
        raise error(f"{what} is empty: give a file path")
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a folder: give a file path inside it")
    target = _resolved(path)
    for source in inputs:
        if source is not None and same_file(path, source):
            raise error(f"{what} {path} is {source}, which this command reads: writing it would destroy it - "
                        "choose another file")
        if source is not None and Path(source).is_dir() and _resolved(Path(source)) in target.parents:
            raise error(f"{what} {path} is inside {source}, a folder this command reads (its images): writing "
                        "there could replace one of them - choose a file outside it")
    for folder in protected:
        if folder is None:
            continue
        folder = _resolved(Path(folder))
        if target == folder or folder in target.parents or same_file(path, folder):
            raise error(f"{what} {path} is inside the run folder {folder}: its files are the model - write "
                        "the output somewhere else")
    return path


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


@contextmanager
def parents_made(path):
    """Create the missing parent folders of `path` for the block; if the block fails, remove those it created
    (remove_created_parents), so that a failed command leaves no new empty folders."""
    path = Path(path)
    created = [p for p in path.parents if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        remove_created_parents(created)
        raise


def remove_created_parents(created: list[Path]) -> None:
    """Remove folders a failed command created (innermost first), stopping at one that is not empty."""
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            break


def write_output(path, write: Callable[[Path], None] | bytes | str) -> Path:
    """An output file: atomic_write, or, for a FIFO or character device, written straight into it (a pipe
    cannot be renamed over, and replacing /dev/null with a file would break the machine)."""
    path = Path(path)
    if not is_stream(path):
        return atomic_write(path, write)
    if callable(write):
        write(path)
    else:
        with open(path, "wb") as handle:
            handle.write(write.encode("utf-8") if isinstance(write, str) else bytes(write))
    return path

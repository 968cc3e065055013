"""Safe file primitives, the bottom of the house: one atomic writer, bounded reads, the safetensors header check.

Every file torchclassify writes goes through `atomic_write` (temporary sibling, fsync, rename, fsync of the
folder), so a crash or a full disk never leaves a half-written file under the real name. Every file it reads
from a run folder goes through `read_bytes` / `read_json`: a regular file only (a FIFO, device or folder is
refused before it is opened for reading, so nothing blocks), within a size cap, parsed with bounded nesting.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import struct
import tempfile
from pathlib import Path
from typing import Any, Callable

from .errors import TorchClassifyError

MAX_JSON_BYTES = 16 * 2**20  # model.json, config.json, metrics.json: a few MB at most in practice
MAX_JSON_CONTAINERS = 200_000  # objects and arrays: a padded [{},{},...] file would otherwise cost GBs
MAX_JSON_ITEMS = 2_000_000  # commas: values in one file (a 1M-word vocabulary still fits)
MAX_HEADER_BYTES = 16 * 2**20
SAFE_DTYPES = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
_TMP_MARK = ".tmp-"


# ---------------------------------------------------------------------------------------------- writing


def atomic_write(path, write: Callable[[Path], None] | bytes | str) -> Path:
    """Write `path` all at once or not at all; returns it.

    write: bytes or text to store, or a function that writes a file at the temporary path it is given
    (pandas' to_csv, safetensors' save_file, a figure's savefig). The temporary sibling is created with the
    process umask (so shared folders stay readable), synced to disk, renamed over `path`, and the folder
    synced too; on any error it is removed and `path` is untouched. Leftover temporaries of `path` from
    killed processes are removed first.
    """
    path = Path(path)
    folder = path.parent
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):  # never rename a file over a FIFO, a device or a folder
        raise OSError(errno.EISDIR if stat.S_ISDIR(mode) else errno.EEXIST,
                      f"{_kind(mode)}, not a file: refusing to replace it", str(path))
    _remove_stale_temporaries(path)
    tmp = folder / f".{path.name}{_TMP_MARK}{os.getpid()}-{os.urandom(3).hex()}"
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        except OSError as err:
            raise OSError(err.errno, err.strerror, str(path)) from None
        if callable(write):
            os.close(fd)
            write(tmp)
            fd = os.open(tmp, os.O_RDONLY)
            os.fchmod(fd, 0o666 & ~_umask())  # a writer that recreated the file (safetensors: 0600) follows it too
        else:
            data = write.encode("utf-8") if isinstance(write, str) else bytes(write)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        try:
            os.fsync(fd)  # on disk before the rename: a power cut cannot leave an empty file under the name
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:  # named after the real file, not its temporary (the reader never sees that name)
        _discard(tmp)
        raise OSError(err.errno, err.strerror or str(err), str(path)) from None
    except Exception as err:
        _discard(tmp)
        code = os_error_code(err)
        if code is None:
            raise
        raise OSError(code, os.strerror(code), str(path)) from None
    except BaseException:
        _discard(tmp)
        raise
    sync_folder(folder)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_folder(parent: Path, prefix: str) -> Path:
    """A new folder in `parent` with the umask's permissions (mkdtemp makes 0700), for output built there
    and renamed into place when whole."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(folder, 0o777 & ~_umask())
    return folder


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:  # a read-only folder: nothing was created there either
        pass


def os_error_code(err: BaseException) -> int | None:
    """The errno inside a library's own exception about a failed write: safetensors' SafetensorError says
    "I/O error: No space left on device (os error 28)". None when it is not about the file system."""
    match = re.search(r"\(os error (\d+)\)", str(err))
    return int(match.group(1)) if match else None


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename inside it survives a power cut (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale_temporaries(path: Path) -> None:
    """Temporaries of `path` left by processes that no longer run (killed mid-write)."""
    prefix = f".{path.name}{_TMP_MARK}"
    try:
        names = [name for name in os.listdir(path.parent) if name.startswith(prefix)]
    except OSError:
        return
    for name in names:
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            (path.parent / name).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def to_json_text(payload: Any) -> str:
    """JSON as torchclassify writes it: indented, NaN/inf refused (use `clean_for_json` first), a final newline."""
    return json.dumps(payload, indent=2, allow_nan=False, default=_json_default) + "\n"


def write_json(path, payload: Any) -> Path:
    """`payload` as JSON, written atomically."""
    return atomic_write(path, to_json_text(payload))


def _json_default(value):
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def clean_for_json(value):
    """NaN and inf are not JSON: store them as null (recursively through dicts and lists)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean_for_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_for_json(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------- reading


def read_bytes(path, max_bytes: int, error: type[TorchClassifyError], what: str = "") -> bytes:
    """The bytes of a regular file of at most max_bytes; `error` (one line) for anything else.

    Opened without following a symbolic link and without blocking, then checked on the open descriptor:
    a FIFO, device, socket or folder is refused instead of read, so a planted FIFO cannot hang the reader
    and /dev/zero cannot fill memory.
    """
    path = Path(path)
    what = what or str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error(f"{what} is missing") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise error(f"{what} is a symbolic link: only the folder's own files are read") from None
        if err.errno == errno.EISDIR:
            raise error(f"{what} is a folder, not a file") from None
        raise error(f"cannot open {what}: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} is not a regular file ({_kind(info.st_mode)}): refusing to read it")
        if info.st_size > max_bytes:
            raise error(f"{what} is {info.st_size / 2**20:.1f} MiB, more than the {max_bytes / 2**20:.0f} MiB "
                        "such a file can hold: refusing to read it")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:  # grew while being read
                raise error(f"{what} grew past {max_bytes / 2**20:.0f} MiB while being read: refusing it")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"


def parse_json(data: bytes, error: type[TorchClassifyError], what: str) -> Any:
    """JSON from bytes with bounded size and nesting; `error` for malformed, oversized or too deep input.

    Python's own limits turn a 5000-digit number into ValueError and deep nesting into RecursionError;
    the container and item counts bound the memory a small file can make the parser allocate.
    """
    if data.count(b"{") + data.count(b"[") > MAX_JSON_CONTAINERS or data.count(b",") > MAX_JSON_ITEMS:
        raise error(f"{what} holds more JSON values than any torchclassify file has: refusing to parse it")

    def one_value_per_key(pairs: list[tuple[str, Any]]) -> dict:  # (json.loads keeps the last, silently)
        if len(found := dict(pairs)) < len(pairs):
            key = next(key for i, (key, _) in enumerate(pairs) if key in dict(pairs[:i]))
            raise error(f"{what} has the key {key!r} twice: keep one (JSON would silently use the last)")
        return found

    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=one_value_per_key)
    except TorchClassifyError:  # (before ValueError: ConfigError and DataError are ValueErrors too)
        raise
    except RecursionError:
        raise error(f"{what} is nested too deeply to be a torchclassify file") from None
    except (UnicodeDecodeError, ValueError) as err:  # JSON syntax, 5000-digit integers
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise error(f"{what} is not valid JSON ({reason})") from None


def read_json(path, error: type[TorchClassifyError], what: str = "", max_bytes: int = MAX_JSON_BYTES) -> Any:
    """read_bytes + parse_json: a checked regular file's JSON value."""
    what = what or str(path)
    return parse_json(read_bytes(path, max_bytes, error, what), error, what)


def read_safetensors_header(path, error: type[TorchClassifyError]) -> dict[str, dict]:
    """The tensor table of a safetensors file, checked against the file size before anything is loaded.

    Returns {name: {"dtype", "shape", "data_offsets"}} (metadata removed); `error` for a missing, truncated
    or tampered file (a header lying about shapes or offsets, a pickle in its place, a FIFO or link).
    """
    path = Path(path)
    if path.is_symlink():
        raise error(f"{path} is a symbolic link: copy the real file into the folder")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path} is missing: the folder is incomplete") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path} is not a regular file ({_kind(info.st_mode)})")
    size = info.st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise error(f"{path} is truncated: not a safetensors file")
        (n_header,) = struct.unpack("<Q", head)
        if n_header > MAX_HEADER_BYTES or 8 + n_header > size:
            raise error(f"{path} has an impossible header length: not a safetensors file, or truncated")
        header = parse_json(handle.read(n_header), error, f"{path}'s header (was it replaced, e.g. by a pickle?)")
    if not isinstance(header, dict):
        raise error(f"{path} has a malformed header")
    header.pop("__metadata__", None)
    data_bytes = size - 8 - n_header
    for name, entry in header.items():
        ok = isinstance(entry, dict) and entry.get("dtype") in SAFE_DTYPES and isinstance(entry.get("shape"), list) \
            and all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**31 for d in entry["shape"]) \
            and isinstance(entry.get("data_offsets"), list) and len(entry["data_offsets"]) == 2 \
            and all(isinstance(o, int) and not isinstance(o, bool) for o in entry["data_offsets"])
        if not ok:
            raise error(f"{path}: the entry for tensor {name!r} is malformed")
        start, stop = entry["data_offsets"]
        expected = math.prod(entry["shape"]) * SAFE_DTYPES[entry["dtype"]]
        if not 0 <= start <= stop <= data_bytes or stop - start != expected:
            raise error(f"{path}: tensor {name!r} claims shape {entry['shape']} but its bytes do not match the "
                        "file (truncated or tampered with)")
    return header


def same_file(a, b) -> bool:
    """Whether two paths name the same existing file (hard links and different spellings included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False

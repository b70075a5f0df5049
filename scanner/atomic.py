"""One way to write a user's file (report, baseline, hook): a temporary file in the same folder,
flushed to disk, then renamed over the target. A failed write (full disk, quota, size limit)
leaves the previous file exactly as it was, and says so in one line."""
from __future__ import annotations

import os
import stat

from scanner.errors import CexguardError


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *, what: str = "file",
                 mode: int | None = None) -> None:
    """Replace `path` with `data` atomically. A target that is not a regular file (a terminal,
    /dev/stdout, a FIFO) is written to directly: there is nothing there to keep intact."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    name = os.fspath(path)
    try:
        st: os.stat_result | None = os.stat(name)  # (follows symlinks: /dev/stdout -> a pipe)
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_direct(name, raw, what)
        return
    real = os.path.realpath(name)  # write through a symlink to its file, as open() would
    folder = os.path.dirname(real) or "."
    import tempfile

    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(real)}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode if mode is not None else (stat.S_IMODE(st.st_mode) if st is not None else _default_mode()))
        os.replace(tmp, real)
        tmp = None
        _fsync_dir(folder)
    except OSError as e:
        kept = "the previous file is unchanged" if st is not None else "nothing was written"
        raise CexguardError(f"cannot write {what} {name}: {e.strerror or e}; {kept}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _write_direct(name: str, raw: bytes, what: str) -> None:
    try:
        with open(name, "wb") as fh:
            fh.write(raw)
    except OSError as e:
        raise CexguardError(f"cannot write {what} {name}: {e.strerror or e}") from None


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(folder: str) -> None:
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

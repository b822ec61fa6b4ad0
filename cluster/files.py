"""Files the tool writes: replaced whole or not at all (state, faults and configs survive a
crash untorn), private to the user, and never reached through a planted symlink."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path


def atomic_write(path: Path, text: str | bytes) -> None:
    """Replace ``path`` whole or not at all: a crash never leaves a torn file. The new
    file is 0600 and freshly created (``mkstemp``: O_EXCL, so never through a symlink),
    which makes this the way secrets are written too."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class UnsafePath(OSError):
    """A path the tool will not trust: another user's, a symlink, not a directory."""


def private_dir(path: Path) -> Path:
    """``path`` as a directory only this user can enter (0700), created if missing.

    Refuses a symlink, a non-directory or a directory another user owns: in a shared
    temporary directory such a thing may have been planted to make the tool (maybe
    running as root) write, or signal, where someone else chose.
    """
    try:
        for missing in reversed([p for p in (path, *path.parents) if not p.exists()]):
            missing.mkdir(mode=0o700, exist_ok=True)  # parents it makes are private too
        st = os.lstat(path)
    except OSError as exc:
        raise UnsafePath(f"cannot create the private directory {path}: {exc}") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{path} is not a directory (a symlink or a file): move it away")
    if st.st_uid != os.getuid():
        raise UnsafePath(
            f"{path} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}): refusing "
            f"to use it; remove it or set TMPDIR to a directory of your own"
        )
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def runtime_dir() -> Path:
    """This user's private directory in the shared temporary directory (sockets, the
    port registry): short enough for AF_UNIX paths, and nobody else's to plant in."""
    return private_dir(Path(tempfile.gettempdir()) / f"remesh-{os.getuid()}")


def open_private(path: Path, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    """Open (or create, 0600) a file without following a symlink at its name."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except IsADirectoryError:
        raise UnsafePath(f"{path} is a directory, not a file: move it away") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"{path} is a symlink: refusing to follow it; remove it") from None
        raise

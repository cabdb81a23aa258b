"""The grader's report folders, written without ever following a link.

A report folder belongs to the grader: `claim` makes it before any student code runs, or accepts an
existing one only where the grader could have made it (a real folder, not a link, owned by the grader's
user, not writable by everyone). `opened` writes into it through a file descriptor of the folder itself:
each file is written aside under a fresh name (O_CREAT | O_EXCL | O_NOFOLLOW) and renamed over its final
name, which replaces a link planted there instead of following it.
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path


class ReportFolderError(Exception):
    """A report folder the grader will not write into."""


def claim(folder: Path) -> Path:
    """Make `folder` (and its parents) the grader's report folder, or check that an existing one could be
    the grader's own (an earlier grading's, say). Call it before any student code runs."""
    try:
        folder.mkdir(parents=True)
    except FileExistsError:
        pass
    except OSError as err:
        raise ReportFolderError(f"cannot make the report folder {folder}: {err.strerror}") from None
    with opened(folder):
        return folder


@contextmanager
def opened(folder: Path):
    """The report folder `folder`, checked, as a ReportFolder to write into."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        why = ("it is a symbolic link" if folder.is_symlink() else
               {errno.ENOTDIR: "it is not a folder", errno.ENOENT: "it does not exist"}.get(err.errno, err.strerror))
        raise ReportFolderError(f"refusing to write reports into {folder}: {why}; name a folder of your own, "
                                "or a new one, with --out") from None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise ReportFolderError(f"refusing to write reports into {folder}: it belongs to uid {st.st_uid}, not "
                                    f"to the grader's user (uid {os.geteuid()}), so the grader did not make it; "
                                    "name a folder of your own, or a new one, with --out")
        if st.st_mode & stat.S_IWOTH:
            raise ReportFolderError(f"refusing to write reports into {folder}: anyone may write into it; name a "
                                    "folder of your own, or a new one, with --out")
        yield ReportFolder(fd)
    finally:
        os.close(fd)


class ReportFolder:
    def __init__(self, fd: int):
        self.fd = fd

    def write(self, name: str, data: bytes | str) -> None:
        """Write the file `name` whole, replacing (never following) whatever lies there."""
        if isinstance(data, str):  # a name of the student's may hold bytes no text can (a lone surrogate)
            data = data.encode("utf-8", errors="backslashreplace")
        aside = f".{name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(self._plain(aside), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644, dir_fd=self.fd)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(aside, self._plain(name), src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            self.remove(aside)
            raise

    def remove(self, name: str) -> None:
        """Remove the file (or link) `name`, if there is one."""
        try:
            os.unlink(self._plain(name), dir_fd=self.fd)
        except FileNotFoundError:
            pass

    @staticmethod
    def _plain(name: str) -> str:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"not a plain file name: {name!r}")
        return name

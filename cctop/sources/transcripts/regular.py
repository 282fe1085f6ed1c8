"""Opening transcripts safely: only regular files are read.

A FIFO named ``*.jsonl`` would block a plain ``open`` forever and a link to ``/dev/zero``
never ends, so every reader opens without blocking and checks what it got before reading.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO


class NotRegular(OSError):
    """The path is not a regular file (FIFO, device, socket...): it is skipped."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(errno.EINVAL, "not a regular file, skipped", os.fspath(path))


def is_regular(mode: int) -> bool:
    return stat.S_ISREG(mode)


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``open(path, "rb")`` that never blocks on a FIFO and refuses anything but a regular
    file (raises NotRegular, an OSError whose ``strerror`` says so)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegular(path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str]) -> bytes:
    """The whole content of a small regular file (``*.meta.json``); OSError otherwise."""
    with open_regular(path) as handle:
        return handle.read()

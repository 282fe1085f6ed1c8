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
    fd = open_regular_fd(path)
    try:
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_regular_fd(path: str | os.PathLike[str]) -> int:
    """``open_regular``'s descriptor, without the file object: for a caller that reads it with
    ``read_to_end`` and closes it (a cold scan opens thousands of files)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegular(path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_to_end(fd: int, start: int, expected: int) -> bytes:
    """Everything from ``start`` to the end of the regular file ``fd``, which is ``expected``
    bytes long if it did not grow meanwhile: then in one read (a short read of a regular file
    is its end), else in as many as it takes."""
    want = max(expected - start, 0) + 1  # one byte more tells whether it grew
    data = os.pread(fd, want, start)
    if len(data) < want:
        return data
    chunks = [data]
    start += len(data)
    while chunk := os.pread(fd, _CHUNK, start):
        chunks.append(chunk)
        start += len(chunk)
    return b"".join(chunks)


_CHUNK = 1024 * 1024


def read_regular(path: str | os.PathLike[str]) -> bytes:
    """The whole content of a small regular file (``*.meta.json``); OSError otherwise."""
    fd = open_regular_fd(path)
    try:
        return read_to_end(fd, 0, os.fstat(fd).st_size)
    finally:
        os.close(fd)

"""``forked_map``: tasks run by worker processes forked from this one, for a one-shot read
that waits on them (``--once``). What the workers need (the tasks, the code, the price
book) they inherit by the fork; only a task's index and its pickled result cross a pipe.

It does what a ``ProcessPoolExecutor`` does for such a read, without its start-up: its
imports (multiprocessing, concurrent.futures: ~10 ms), its queues, feeder and manager
threads (~5-10 ms before the first task starts), all on the path a cold ``--once`` waits
on before any worker reads a byte.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

R = TypeVar("R")

_HEADER = 8  # bytes of a result's length, before its pickle
_PIPE_BYTES = 1 << 20  # a result in as few reads as the system allows (Linux: up to 1 MB)


class WorkerError(Exception):
    """A task failed in a worker, or a worker died: the worker's traceback, as the cause of
    the task's exception, or why it died."""


class WorkerLost(WorkerError):
    """A worker process ended without its result (killed: the OOM killer, a signal), so the
    caller may do the work another way."""


class _Worker:
    """One forked process and its two pipes: task indices in, pickled outcomes out."""

    def __init__(self, work: Callable[[int], object], others: list[_Worker]) -> None:
        task_read, self.tasks = os.pipe()
        self.results, result_write = os.pipe()
        _widen(result_write)
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            # Not even the other workers' pipe ends: a task pipe still open in a sibling would
            # keep its worker waiting for tasks after this process closed it.
            for fd in (self.tasks, self.results, *(f for w in others for f in (w.tasks, w.results))):
                os.close(fd)
            _serve(work, task_read, result_write)
        os.close(task_read)
        os.close(result_write)
        self.task = -1

    def send(self, task: int) -> None:
        self.task = task
        os.write(self.tasks, task.to_bytes(_HEADER, "little"))

    def receive(self) -> bytes:
        """The outcome of its task, still pickled."""
        header = _read_exactly(self.results, _HEADER)
        if len(header) < _HEADER:
            raise WorkerLost(f"a worker process ended without a result ({self._how_it_ended()})")
        return _read_exactly(self.results, int.from_bytes(header, "little"))

    def _how_it_ended(self) -> str:
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if os.WIFSIGNALED(status):
            return f"killed by signal {os.WTERMSIG(status)}"
        return f"exit status {os.waitstatus_to_exitcode(status)}"

    def close(self, kill: bool) -> None:
        os.close(self.tasks)  # the worker reads the end of its tasks and exits
        os.close(self.results)
        if self.pid and kill:
            os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> None:
        if self.pid:
            os.waitpid(self.pid, 0)


def forked_map(work: Callable[[int], R], count: int, workers: int) -> list[R]:
    """``[work(0), ..., work(count - 1)]``: ``forked_results`` in task order."""
    results: list = [None] * count
    for task, result in forked_results(work, count, workers):
        results[task] = result
    return results


def forked_results(work: Callable[[int], R], count: int, workers: int) -> Iterator[tuple[int, R]]:
    """``(task, work(task))`` for tasks 0 to ``count - 1`` as they finish, computed by
    ``workers`` processes forked from this one. Tasks go out in index order, each to the
    first worker free, so the first ones should be the biggest. A task's exception is raised
    here, with the worker's traceback as its cause. Only call it from a process without
    other threads (a fork copies one thread)."""
    pool: list[_Worker] = []
    failed = True
    try:
        for task in range(min(workers, count)):
            pool.append(_Worker(work, pool))
            pool[-1].send(task)
        sent = len(pool)
        busy = {worker.results: worker for worker in pool}
        ready = select.poll()  # not select(): no limit on the descriptors' numbers
        for fd in busy:
            ready.register(fd, select.POLLIN)
        while busy:
            for fd, _ in ready.poll():
                worker = busy.pop(fd)
                task, outcome = worker.task, worker.receive()
                if sent < count:  # its next task first: it works while this one is unpickled
                    worker.send(sent)
                    sent += 1
                    busy[fd] = worker
                else:
                    ready.unregister(fd)
                yield task, _result(outcome)
        failed = False
    finally:
        for worker in pool:
            worker.close(kill=failed)
        for worker in pool:
            worker.wait()


def _serve(work: Callable[[int], object], tasks: int, results: int) -> None:
    """A worker's life: tasks in, outcomes out, until its tasks end. Leaves by ``os._exit``:
    nothing of the parent's (atexit handlers, buffered output) runs or flushes twice."""
    code = 0
    try:
        _exit_with_parent(results)
        while True:
            header = _read_exactly(tasks, _HEADER)
            if len(header) < _HEADER:
                break  # the parent is done (or gone)
            outcome = _outcome(work, int.from_bytes(header, "little"))
            _write_all(results, len(outcome).to_bytes(_HEADER, "little") + outcome)
    except BaseException:  # noqa: BLE001 - a worker must never return into the parent's code
        code = 1
    finally:
        os._exit(code)


def _exit_with_parent(results: int) -> None:
    """Exit when the parent goes, even in the middle of a task (a kill -9 of cctop must not
    leave workers behind). The parent holds the only read end of ``results``: when it closes,
    a poll of the write end says so. A thread watching it costs a worker ~0.1 ms where
    die_with_parent's ctypes import costs ~4 ms, on the path the whole read waits on."""

    def watch() -> None:
        gone = select.poll()
        gone.register(results, 0)  # POLLERR and POLLHUP are always reported
        gone.poll()
        os._exit(1)

    threading.Thread(target=watch, name="cctop-worker-watch", daemon=True).start()


def _result(outcome: bytes) -> Any:
    """A task's result from its pickled outcome, or its exception raised."""
    done, value = pickle.loads(outcome)
    if done:
        return value
    error, text = value
    if error is None:
        raise WorkerError(text)
    raise error from WorkerError(text)


def _outcome(work: Callable[[int], object], task: int) -> bytes:
    """(True, the result) or (False, (the exception or None if it does not pickle, its
    traceback)), pickled."""
    try:
        return pickle.dumps((True, work(task)), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, raised there
        import traceback

        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            return pickle.dumps((False, (exc, text)), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            return pickle.dumps((False, (None, text)), protocol=pickle.HIGHEST_PROTOCOL)


def die_with_parent() -> None:
    """A worker's first act: exit when the process that started it dies (a kill -9 of cctop
    left two ~60 MB workers behind forever). Linux only (prctl PR_SET_PDEATHSIG); a fork
    server's workers die with it, and it exits when cctop goes."""
    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)


def _read_exactly(fd: int, size: int) -> bytes:
    """``size`` bytes, or fewer if the pipe ends first."""
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _widen(fd: int) -> None:
    """A bigger pipe buffer: a result crosses in fewer rounds of write, wake, read."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    except (ImportError, AttributeError, OSError):  # not Linux, or over the user's limit
        pass

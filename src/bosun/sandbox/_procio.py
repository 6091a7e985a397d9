"""Non-blocking pipes and exits of a child process on the running asyncio loop.

Not `asyncio.create_subprocess_exec`: its child watcher would reap the process, and the
sandbox needs `os.wait4` itself for the resource usage (and to keep the zombie, hence the
session id, until the process tree is killed).
"""

from __future__ import annotations

import asyncio
import os

_CHUNK = 1 << 16
_READS_PER_WAKEUP = 16  # a fast writer must not keep the loop in one callback


class Capture:
    """Reads a pipe to its end, keeping the first `cap` bytes and dropping the rest."""

    def __init__(self, fd: int, cap: int) -> None:
        self._fd: int | None = fd
        self._cap = cap
        self._buffer = bytearray()
        self.truncated = False
        self._loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self._loop.create_future()
        self.arrived: asyncio.Future[None] = self._loop.create_future()  # first bytes or EOF
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._on_readable)

    @property
    def data(self) -> bytes:
        return bytes(self._buffer)

    def text(self) -> str:
        return self._buffer.decode(errors="replace")

    def _on_readable(self) -> None:
        assert self._fd is not None
        for _ in range(_READS_PER_WAKEUP):
            try:
                chunk = os.read(self._fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return
            if not self.arrived.done():
                self.arrived.set_result(None)
            room = self._cap - len(self._buffer)
            if room > 0:
                self._buffer += chunk[:room]
            if len(chunk) > room:
                self.truncated = True

    def close(self) -> None:
        """Stop reading (idempotent); `done` is then set."""
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
        for future in (self.arrived, self.done):
            if not future.done():
                future.set_result(None)


class Feed:
    """Writes `data` into a pipe as the reader takes it, then closes it (EOF)."""

    def __init__(self, fd: int, data: bytes) -> None:
        self._fd: int | None = fd
        self._view = memoryview(data)
        self._loop = asyncio.get_running_loop()
        os.set_blocking(fd, False)
        if data:
            self._loop.add_writer(fd, self._on_writable)
        else:
            self.close()

    def _on_writable(self) -> None:
        assert self._fd is not None
        try:
            written = os.write(self._fd, self._view[:_CHUNK])
        except BlockingIOError:
            return
        except OSError:  # the command closed its stdin: the rest is not wanted
            self.close()
            return
        self._view = self._view[written:]
        if not self._view:
            self.close()

    def close(self) -> None:
        """Stop writing (idempotent)."""
        if self._fd is not None:
            self._loop.remove_writer(self._fd)
            os.close(self._fd)
            self._fd = None


def exited(pidfd: int) -> asyncio.Future[None]:
    """A future set once the process behind `pidfd` has exited (it is left to be reaped)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def on_exit() -> None:
        loop.remove_reader(pidfd)
        if not future.done():
            future.set_result(None)

    loop.add_reader(pidfd, on_exit)
    future.add_done_callback(lambda _: loop.remove_reader(pidfd))
    return future

"""Inside a bubblewrap sandbox: relay TCP connections on its loopback to the egress proxy.

A sandbox with `network_hosts` has a network namespace of its own with nothing but a
loopback. Its init starts this file (`python3 -I -S forward.py PORT SOCKET`) before the
command: it listens on 127.0.0.1:PORT, forks, and the parent exits to tell the init it is
ready; the child relays every connection to the UNIX socket SOCKET, bind-mounted from the
worker, where the egress proxy (`bosun.egress.proxy`) decides what may pass.

It holds nothing the command lacks: it runs as the same user, under the same rlimits (the
init counts it in the process limit) and the same seccomp filter. A command that kills it, or
talks to SOCKET itself, gains nothing: the policy is enforced outside, by the proxy.

One thread and `selectors`, standard library only: threads would count against the
sandbox's process limit, and importing asyncio would add tens of milliseconds to each call. It must
also run on an older system Python: the sandbox has the system's interpreter, not the
worker's.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys

CHUNK = 64 * 1024
MAX_FD = 1024  # the sandbox's RLIMIT_NOFILE
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class Connection:
    """A client's TCP connection and its upstream UNIX connection, relayed both ways.

    Each socket has the bytes waiting to be written to it; a socket is read only when what
    it sent before has been passed on (so memory stays at a chunk per direction). End of
    file is passed on as a half-close.
    """

    def __init__(self, selector: selectors.BaseSelector, a: socket.socket, b: socket.socket):
        self.selector = selector
        self.peer = {a: b, b: a}
        self.waiting = {a: b"", b: b""}
        self.ended: set[socket.socket] = set()  # read to end of file
        self.events = {a: READ, b: READ}  # what each is registered for (0: not at all)
        for sock in (a, b):
            sock.setblocking(False)
            selector.register(sock, READ, self)

    def ready(self, sock: socket.socket, events: int) -> None:
        """Move what `sock` is ready for; close both on any error."""
        try:
            self._move(sock, events)
        except BlockingIOError:  # a spurious wake-up: try again at the next one
            pass
        except OSError:
            self.close()
            return
        if len(self.ended) == 2 and not any(self.waiting.values()):
            self.close()
            return
        for each in self.peer:
            self._watch(each)

    def _move(self, sock: socket.socket, events: int) -> None:
        peer = self.peer[sock]
        if events & WRITE and self.waiting[sock]:
            sent = sock.send(self.waiting[sock])
            self.waiting[sock] = self.waiting[sock][sent:]
            if not self.waiting[sock] and peer in self.ended:
                sock.shutdown(socket.SHUT_WR)
        if events & READ:
            data = sock.recv(CHUNK)
            if data:
                self.waiting[peer] = data
            else:
                self.ended.add(sock)
                peer.shutdown(socket.SHUT_WR)

    def _watch(self, sock: socket.socket) -> None:
        events = WRITE if self.waiting[sock] else 0
        if sock not in self.ended and not self.waiting[self.peer[sock]]:
            events |= READ
        current = self.events[sock]
        if events == current:
            return
        if not current:
            self.selector.register(sock, events, self)
        elif not events:  # nothing to do until the other side moves
            self.selector.unregister(sock)
        else:
            self.selector.modify(sock, events, self)
        self.events[sock] = events

    def close(self) -> None:
        for sock, events in self.events.items():
            if events:
                self.selector.unregister(sock)
            sock.close()
        self.events = dict.fromkeys(self.events, 0)


def serve(listener: socket.socket, path: str) -> None:
    """Accept on `listener` and relay each connection to the UNIX socket `path`, forever."""
    selector = selectors.DefaultSelector()
    listener.setblocking(False)
    selector.register(listener, READ, None)
    while True:
        for key, events in selector.select():
            if key.data is not None:
                key.data.ready(key.fileobj, events)
                continue
            try:
                client, _ = listener.accept()
            except OSError:  # out of descriptors, say: the client is turned away
                continue
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(path)
            except OSError:
                client.close()
                upstream.close()
                continue
            Connection(selector, client, upstream)


def main() -> None:
    """Listen, tell the init (by exiting) that it can go on, relay until the sandbox ends."""
    port, path = int(sys.argv[1]), sys.argv[2]
    listener = socket.create_server(("127.0.0.1", port), backlog=128)
    if os.fork():
        os._exit(0)
    # Nothing of the init's is kept open: its pipes, or the command's output.
    keep = listener.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, MAX_FD)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    serve(listener, path)


if __name__ == "__main__":
    main()

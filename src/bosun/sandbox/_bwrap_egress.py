"""How a bubblewrap sandbox with `network_hosts` reaches the egress proxy, and nothing else.

The sandbox keeps its own, empty network namespace: only a loopback, so no route, no DNS, no
TCP or UDP to anywhere. For each call the worker makes a private directory holding the
proxy's UNIX socket (`bosun.egress.proxy`, served by the worker, outside) and a copy of the
forwarder (`_forward.py`), and bind-mounts it read-only at `/run/bosun`. The sandbox's init
starts the forwarder, under the sandbox's limits, before the command: it listens on the
sandbox's own 127.0.0.1:3128 and relays to the socket. The command's environment points
`HTTP_PROXY`/`HTTPS_PROXY` (and the lower-case forms) there, with `NO_PROXY` empty, so
HTTP clients (Python's urllib, requests, pip, curl...) go through the proxy.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bosun.egress.hosts import HostAllowList
from bosun.egress.proxy import EgressProxy
from bosun.sandbox.spec import Limits

PORT = 3128  # the sandbox's own loopback: no other process can be listening there
MOUNT = "/run/bosun"
SOCKET = "egress.sock"
FORWARDER = "forward.py"
PROXY_URL = f"http://127.0.0.1:{PORT}"
_SOURCE = Path(__file__).with_name("_forward.py")


def forwarder_python() -> str | None:
    """A Python under /usr (which the sandbox sees at the same path) to run the forwarder."""
    return shutil.which("python3", path="/usr/local/bin:/usr/bin")


def proxy_environment() -> dict[str, str]:
    """The variables that send the command's HTTP clients through the forwarder."""
    env = {name: PROXY_URL for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
    env |= {name.lower(): value for name, value in env.items()}
    return env | {"NO_PROXY": "", "no_proxy": ""}


@dataclass(frozen=True)
class Door:
    """What one call's sandbox needs to reach its proxy.

    Attributes:
        args: bwrap options (the read-only bind of the directory).
        env: the proxy variables for the command's environment.
        prelude: the init's shell lines that start the forwarder.
        proxy: the running proxy (to read what it saw once the call is over).
    """

    args: list[str]
    env: dict[str, str]
    prelude: str
    proxy: EgressProxy


@contextlib.asynccontextmanager
async def egress_door(
    allow: HostAllowList, limits: Limits, owner: tuple[int, int], python: str
) -> AsyncIterator[Door]:
    """Serve a proxy for one call while inside; `owner` is who bwrap runs as ((-1, -1): the
    worker itself), who must reach the directory and the socket."""
    directory = Path(tempfile.mkdtemp(prefix="bosun-egress-"))
    try:
        os.chown(directory, *owner)
        shutil.copyfile(_SOURCE, directory / FORWARDER)
        (directory / FORWARDER).chmod(0o644)
        proxy = EgressProxy(allow, max_bytes=limits.network_bytes)
        async with proxy.serving(directory / SOCKET, owner=owner):
            start = shlex.join([python, "-I", "-S", f"{MOUNT}/{FORWARDER}", str(PORT)])
            prelude = (
                f'{start} {MOUNT}/{SOCKET} </dev/null >/dev/null || {{ echo "bosun: the '
                f'egress forwarder of network_hosts did not start" >&2; exit 125; }}'
            )
            yield Door(["--ro-bind", str(directory), MOUNT], proxy_environment(), prelude, proxy)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

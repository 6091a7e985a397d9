"""The container image's HEALTHCHECK: probe what the container's `bosun` process serves.

`python -m bosun.deploy.healthcheck` reads PID 1's command line (the image's entrypoint is
`bosun`): `bosun server … [--port P]` is healthy when `/healthz` answers on port P (8000 by
default); `bosun worker … --metrics-port P` when its `/metrics` answers. A worker without a
metrics port serves nothing to ask, so it is healthy while it runs; a hung worker loses its
leases and its runs move on regardless. `BOSUN_HEALTHCHECK_URL` overrides the choice.
A `/metrics` probe sends `BOSUN_METRICS_TOKEN` when it is set, as the process then requires.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

DEFAULT_SERVER_PORT = 8000


def _option(argv: Sequence[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.partition("=")[2]
    return None


def probe_url(argv: Sequence[str]) -> str | None:
    """The URL that tells whether the `bosun` process run with `argv` is healthy.

    Args:
        argv: the process's command line, e.g. `["bosun", "server", "app.py", "--port", "8000"]`.

    Returns:
        The URL to GET, or None when the process serves nothing to probe.
    """
    words = [a for a in argv if not a.startswith("-")]
    command = next((w for w in words[1:] if w in ("server", "worker", "dev")), None)
    if command in ("server", "dev"):
        port = _option(argv, "--port") or str(DEFAULT_SERVER_PORT)
        return f"http://127.0.0.1:{port}/healthz"
    if command == "worker":
        metrics_port = _option(argv, "--metrics-port")
        return f"http://127.0.0.1:{metrics_port}/metrics" if metrics_port else None
    return None


def _pid1_argv() -> list[str]:
    raw = Path("/proc/1/cmdline").read_bytes()
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def check(
    url: str | None, timeout: float = 3.0, metrics_token: str | None = None
) -> tuple[bool, str]:
    """GET `url` and say whether it answered 2xx; no URL counts as healthy.

    `metrics_token` goes with a request for `/metrics`, as `Authorization: Bearer …`.
    """
    if url is None:
        return True, "nothing to probe: healthy while running"
    request = urllib.request.Request(url)
    if metrics_token and urllib.parse.urlsplit(url).path == "/metrics":
        request.add_header("Authorization", f"Bearer {metrics_token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return 200 <= response.status < 300, f"{url}: HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: HTTP {exc.code}"
    except OSError as exc:
        return False, f"{url}: {exc}"


def main() -> int:
    """Exit 0 when healthy, 1 otherwise (Docker's HEALTHCHECK contract)."""
    url = os.environ.get("BOSUN_HEALTHCHECK_URL") or probe_url(_pid1_argv())
    healthy, detail = check(url, metrics_token=os.environ.get("BOSUN_METRICS_TOKEN"))
    print(detail)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())

"""`bosun dev` and `bosun server` bind their port before they print anything: a busy port is a
clear error (not a banner, a login link, then `address already in use`), and `--port 0`
takes a free one and says which."""

from __future__ import annotations

import re
import signal
import socket
import subprocess

import pytest
from tests.helpers.processes import APPS, BOSUN, Env, wait_serving

APP = str(APPS / "typed.py")


@pytest.mark.parametrize("command", ["dev", "server"])
def test_a_busy_port_is_a_clear_error_before_any_banner(env: Env, command: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = env.bosun(command, APP, "--port", str(port), "--database", env.url)
    assert done.returncode == 2, done
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr, done.stderr
    assert "--port 0" in done.stderr and "Traceback" not in done.stderr
    assert "API key" not in done.stdout and "serving" not in done.stdout, done.stdout
    assert not env.db_path.exists(), "the database was created for a command that failed"


def test_port_zero_takes_a_free_port_and_prints_it(env: Env) -> None:
    dev = subprocess.Popen(
        [BOSUN, "dev", APP, "--port", "0", "--database", env.url],
        cwd=env.tmp,
        env=env.environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert dev.stdout is not None
        banner = ""
        while "API key" not in banner:  # the banner may wrap (a long path, a narrow console)
            line = dev.stdout.readline()
            assert line, f"bosun dev ended its output early: {banner}"
            banner += line
        found = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
        assert found and found.group(1) != "0", banner
        url = found.group(0)

        wait_serving(dev, f"{url}/healthz")  # on the port it printed
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.communicate(timeout=60)
    assert dev.returncode == 0

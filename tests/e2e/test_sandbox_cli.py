"""`bosun sandbox check`, as README and docs/sandbox.md show it."""

from __future__ import annotations

import json
import os
import subprocess

from tests.helpers.processes import BOSUN, SANDBOX_GROUP

pytestmark = SANDBOX_GROUP


def _check(*args: str, sandbox: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BOSUN_SANDBOX"}
    if sandbox is not None:
        env["BOSUN_SANDBOX"] = sandbox
    return subprocess.run(
        [BOSUN, "sandbox", "check", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_sandbox_check_reports_every_backend_and_the_choice() -> None:
    done = _check("--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    text = json.dumps(report)
    for name in ("bubblewrap", "landlock", "none"):
        assert name in text
    human = _check()
    assert human.returncode == 0 and "BOSUN_SANDBOX" in human.stdout


def test_sandbox_check_says_which_backends_enforce_network_hosts() -> None:
    done = _check("--json")
    backends = {entry["name"]: entry for entry in json.loads(done.stdout)["backends"]}
    landlock = backends["landlock"]["network_hosts"]
    assert landlock["supported"] is False and "bubblewrap" in landlock["reason"]
    assert backends["none"]["network_hosts"]["supported"] is False
    bwrap = backends["bubblewrap"]
    assert bwrap["network_hosts"]["supported"] is bwrap["available"]  # python3 is in /usr
    assert "network_hosts" in _check().stdout


def test_sandbox_check_says_what_each_backend_blocks() -> None:
    done = _check("--json")
    backends = {entry["name"]: entry for entry in json.loads(done.stdout)["backends"]}
    for entry in backends.values():
        threats = [protection["threat"] for protection in entry["protections"]]
        assert threats[:3] == ["network", "host UNIX sockets", "abstract UNIX sockets"]
        assert "writing host files" in threats
    blocked = {
        name: {p["threat"]: p["verdict"] for p in entry["protections"]}
        for name, entry in backends.items()
    }
    assert blocked["landlock"]["host UNIX sockets"] == "blocked"
    assert blocked["bubblewrap"]["host UNIX sockets"] == "blocked"
    assert blocked["none"]["host UNIX sockets"] == "open"
    human = _check(sandbox="landlock")
    assert "What each backend keeps sandboxed code from" in human.stdout
    assert "How landlock does it" in human.stdout
    assert "socket(AF_UNIX)" in human.stdout


def test_an_unknown_backend_is_a_clear_error() -> None:
    done = _check(sandbox="firejail")
    assert done.returncode != 0
    assert "firejail" in (done.stdout + done.stderr)

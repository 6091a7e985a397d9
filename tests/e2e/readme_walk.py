"""Walking the README the way a newcomer does: every `bash` block, in order, in one fresh
directory and one shell whose variables carry from command to command.

The commands run as written, with only what a test machine must change:
- the install at the start of a command (`python3 -m venv .venv && .venv/bin/pip install …`)
  is dropped, because `.venv` is the test's own environment, linked into the directory;
- the README's ports (8000, 8080, 9464, 4318) become free ones, and `bosun dev`/`bosun server`
  without `--port` get the one that stands for 8000;
- the PostgreSQL URL of "Scaling out" becomes the test's database;
- `RUN_ID` becomes the id of the latest run a command started.

Commands that serve until stopped (`bosun dev`, `bosun server`, `bosun worker` without
`--until-idle`) start in the background, as in a second terminal, and the walk goes on once
they are listening (or have logged that they started). A `<!-- walkthrough: skip REASON -->`
line right above a block leaves it out; the README says why in that comment.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.wait import wait_for

README_PORTS = (8000, 8080, 9464, 4318)
README_PG_URL = "postgresql://bosun:secret@db.internal:5432/bosun"
_SKIP = re.compile(r"<!--\s*walkthrough:\s*skip\s+(.+?)\s*-->")
_RUN_ID = re.compile(r"\b[0-9a-f]{32}\b")
_SERVES = re.compile(r"(?:^|[\s/])bosun (dev|server|worker)\b")


@dataclass(frozen=True)
class Block:
    """One fenced code block of the README."""

    line: int  # where its fence opens, 1-based
    section: str  # the nearest heading above it
    lang: str
    code: str
    skip: str | None  # why the walk leaves it out, if it does


def read_blocks(readme: Path) -> list[Block]:
    blocks: list[Block] = []
    section, skip, fence, body, start, lang = "", None, False, [], 0, ""
    for number, text in enumerate(readme.read_text().splitlines(), 1):
        if fence:
            if text.startswith("```"):
                blocks.append(Block(start, section, lang, "\n".join(body) + "\n", skip))
                fence, skip = False, None
            else:
                body.append(text)
        elif text.startswith("```"):
            fence, body, start, lang = True, [], number, text[3:].strip()
        elif text.startswith("#"):
            section, skip = text.lstrip("#").strip(), None
        elif match := _SKIP.search(text):
            skip = match.group(1)
        elif text.strip():
            skip = None
    return blocks


def commands(code: str) -> list[str]:
    """The block's commands: lines joined across trailing backslashes, blanks dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [line for line in joined.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Background:
    command: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """Ctrl-C, as in its terminal: SIGINT to its process group; its exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=90)
        except subprocess.TimeoutExpired as late:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"{self.command!r} ignored Ctrl-C:\n{self.output()}") from late


@dataclass
class Walk:
    """The newcomer's shell: a directory, the variables exported so far, the runs started and
    the commands left running."""

    cwd: Path
    env: dict[str, str]
    pg_url: str | None = None
    ports: dict[int, int] = field(default_factory=lambda: {p: free_port() for p in README_PORTS})
    runs: list[str] = field(default_factory=list)
    background: list[Background] = field(default_factory=list)

    def adapt(self, command: str) -> str:
        parts = command.split(" && ")
        kept = [p for p in parts if not p.startswith("python3 -m venv") and "pip install" not in p]
        command = " && ".join(kept)
        for readme_port, port in self.ports.items():
            command = re.sub(rf"\b{readme_port}\b", str(port), command)
        if self.pg_url:
            command = command.replace(README_PG_URL, self.pg_url)
        if "RUN_ID" in command:
            assert self.runs, f"{command!r} needs a run id, and no command started a run"
            command = command.replace("RUN_ID", self.runs[-1])
        code, hash_, comment = command.partition(" #")
        served = _SERVES.search(code)
        if served and served.group(1) in ("dev", "server") and "--port" not in code:
            command = f"{code} --port {self.ports[8000]}{hash_}{comment}"
        return command

    def serves(self, command: str) -> bool:
        code = command.partition(" #")[0]
        return bool(_SERVES.search(code)) and "--until-idle" not in code

    def run(self, command: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """One command in the shell; the variables it exports or unsets carry on."""
        env_file = self.cwd / ".walk-env"
        # `set -a`: a plain `KEY=…` carries to the next command too, as in one terminal.
        script = f"set -a\n{command}\n__rc=$?\nenv -0 > {shlex.quote(str(env_file))}\nexit $__rc\n"
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if env_file.exists():
            pairs = env_file.read_bytes().decode().split("\0")
            self.env = dict(p.split("=", 1) for p in pairs if "=" in p)
            env_file.unlink()
        if re.search(r"(?:^|[\s/])bosun run |/v1/runs\s*$|-d '\{\"workflow\"", command):
            self.runs.extend(_RUN_ID.findall(done.stdout)[:1])
        return done

    def start(self, command: str) -> Background:
        """A command that serves until stopped, in its own terminal (process group); back
        once it listens on its port or has logged a line."""
        log = self.cwd / ".walk-logs" / f"{len(self.background)}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "-c", command],
                cwd=self.cwd,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = Background(command, process, log)
        self.background.append(started)
        port = re.search(r"--(?:metrics-)?port (\d+)", command)

        def ready() -> bool:
            assert process.poll() is None, f"{command!r} exited:\n{started.output()}"
            if port:
                return _listening(int(port.group(1)))
            return bool(started.output().strip())

        wait_for(ready, 60, f"{command!r} to start")
        return started

    def stop_all(self, keep: int = 0) -> dict[str, int]:
        """Ctrl-C in every terminal opened after the first `keep`; their exit codes."""
        stopping, self.background = self.background[keep:], self.background[:keep]
        return {b.command: b.stop() for b in reversed(stopping)}

    def until_completed(self, run_id: str, timeout: float = 90) -> None:
        """Re-run `bosun runs show ID --json` until the run has completed (the newcomer
        re-running it until the run has finished). Its status field, not any "completed" in
        the output: the journal's finished steps say "completed" too."""
        command = f".venv/bin/bosun runs show {run_id} --json"

        def completed() -> bool:
            done = self.run(command)
            return done.returncode == 0 and json.loads(done.stdout)["status"] == "completed"

        wait_for(completed, timeout, f"run {run_id} to complete ({command!r})", every=0.3)

"""`bosun sandbox check`: which sandbox backends work on this machine, and why."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from bosun.cli.common import JsonOpt, err, out, print_json

if TYPE_CHECKING:
    from bosun.sandbox import Protection

sandbox_cli = typer.Typer(
    help=(
        "The sandbox that runs agent-written code. BOSUN_SANDBOX picks the backend: auto "
        "(default: bubblewrap, else landlock), bubblewrap, landlock, or none (no isolation)."
    ),
    no_args_is_help=True,
)


_VERDICT_STYLE = {"blocked": "green", "partly": "yellow", "open": "bold red"}


@sandbox_cli.command("check")
def sandbox_check(as_json: JsonOpt = False) -> None:
    """Show each backend, whether it works here and why, whether it enforces an allow-list of
    hosts (`network_hosts`), what it blocks (network, host UNIX sockets, host files...), and
    the one BOSUN_SANDBOX selects.

    Exits 1 when BOSUN_SANDBOX selects none that works (sandboxed tools would refuse to run).
    """
    from bosun import sandbox

    report = sandbox.check()
    hosts = {name: (ok, reason) for name, ok, reason in sandbox.check_network_hosts()}
    blocks = dict(sandbox.check_protections())
    setting = os.environ.get(sandbox.ENV_VAR, "").strip().lower() or "auto"
    selected: str | None = None
    problem: str | None = None
    try:
        selected = sandbox.backend().name
    except sandbox.SandboxUnavailable as exc:
        problem = str(exc)
    if as_json:
        print_json(
            {
                "setting": setting,
                "selected": selected,
                "error": problem,
                "backends": [
                    {
                        "name": name,
                        "available": ok,
                        "reason": reason,
                        "network_hosts": {"supported": hosts[name][0], "reason": hosts[name][1]},
                        "protections": [
                            {"threat": p.threat, "verdict": p.verdict, "how": p.how}
                            for p in blocks[name]
                        ],
                    }
                    for name, ok, reason in report
                ],
            }
        )
    else:
        table = Table("backend", "available", "why", "network_hosts")
        for name, ok, reason in report:
            supported, how = hosts[name]
            table.add_row(
                name, "yes" if ok else "no", reason, f"{'yes' if supported else 'no'}: {how}"
            )
        out.print(table)
        _print_protections(blocks, selected)
        if selected is not None:
            warning = "  [bold red](no isolation)[/]" if selected == "none" else ""
            out.print(f"{sandbox.ENV_VAR}={setting}: sandboxed tools use {selected}{warning}")
        else:
            err.print(f"[bold red]error:[/] {problem}", highlight=False, soft_wrap=True)
    if selected is None:
        raise typer.Exit(1)


def _print_protections(blocks: dict[str, tuple[Protection, ...]], selected: str | None) -> None:
    """A table of what each backend blocks, then how the selected one does it."""
    from bosun.sandbox.spec import THREATS

    verdicts = {name: {p.threat: p.verdict for p in found} for name, found in blocks.items()}
    table = Table("kept from", *blocks, title="What each backend keeps sandboxed code from")
    for threat in THREATS:
        cells = []
        for name in blocks:
            verdict = verdicts[name].get(threat, "?")
            cells.append(f"[{_VERDICT_STYLE.get(verdict, 'default')}]{verdict}[/]")
        table.add_row(threat, *cells)
    out.print(table)
    if selected is None or not blocks.get(selected):
        return
    details = Table("kept from", "verdict", "how", title=f"How {selected} does it")
    for protection in blocks[selected]:
        style = _VERDICT_STYLE.get(protection.verdict, "default")
        details.add_row(protection.threat, f"[{style}]{protection.verdict}[/]", protection.how)
    out.print(details)

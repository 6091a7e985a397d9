"""`bosun sandbox check`: which sandbox backends work on this machine, and why."""

from __future__ import annotations

import os

import typer
from rich.table import Table

from bosun.cli import JsonOpt, _print_json, cli, err, out

sandbox_cli = typer.Typer(
    help=(
        "The sandbox that runs agent-written code. BOSUN_SANDBOX picks the backend: auto "
        "(default: bubblewrap, else landlock), bubblewrap, landlock, or none (no isolation)."
    ),
    no_args_is_help=True,
)
cli.add_typer(sandbox_cli, name="sandbox")


@sandbox_cli.command("check")
def sandbox_check(as_json: JsonOpt = False) -> None:
    """Show each backend, whether it works here and why, whether it enforces an allow-list of
    hosts (`network_hosts`), and the one BOSUN_SANDBOX selects.

    Exits 1 when BOSUN_SANDBOX selects none that works (sandboxed tools would refuse to run).
    """
    from bosun import sandbox

    report = sandbox.check()
    hosts = {name: (ok, reason) for name, ok, reason in sandbox.check_network_hosts()}
    setting = os.environ.get(sandbox.ENV_VAR, "").strip().lower() or "auto"
    selected: str | None = None
    problem: str | None = None
    try:
        selected = sandbox.backend().name
    except sandbox.SandboxUnavailable as exc:
        problem = str(exc)
    if as_json:
        _print_json(
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
        if selected is not None:
            warning = "  [bold red](no isolation)[/]" if selected == "none" else ""
            out.print(f"{sandbox.ENV_VAR}={setting}: sandboxed tools use {selected}{warning}")
        else:
            err.print(f"[bold red]error:[/] {problem}", highlight=False, soft_wrap=True)
    if selected is None:
        raise typer.Exit(1)

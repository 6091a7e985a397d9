"""`bosun plan`: the architecture advisor on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.box import SIMPLE_HEAD
from rich.markup import escape
from rich.table import Table

from bosun.cli.common import (
    DatabaseOpt,
    JsonOpt,
    err,
    fail,
    out,
    print_json,
    run_async,
    with_store,
)
from bosun.errors import ConfigurationError

if TYPE_CHECKING:
    from bosun.plan import Advice, Prices, Profile


def plan(
    profile_path: Annotated[
        Path | None,
        typer.Argument(
            metavar="PROFILE.yaml",
            help="Workload profile (examples/profiles/). Without it, or with --from-db, the "
            "profile is measured from a bosun database; the file then fills in what runs do "
            "not show (GPU, team, targets).",
            show_default=False,
        ),
    ] = None,
    from_db: Annotated[
        str | None,
        typer.Option("--from-db", help="Measure the profile from this database URL."),
    ] = None,
    days: Annotated[float, typer.Option(min=0.01, help="Days of runs to measure.")] = 7,
    seed: Annotated[int, typer.Option(help="Simulation seed (same seed, same answer).")] = 0,
    charts: Annotated[
        Path | None,
        typer.Option("--charts", help="Write cost and wait charts (PNG and SVG) to this folder."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a price or limit: section.key=value (repeatable)."),
    ] = None,
    prices_file: Annotated[
        Path | None, typer.Option("--prices", help="YAML file of price and limit overrides.")
    ] = None,
    app_ref: Annotated[
        str, typer.Option("--app", help="App reference for the `bosun deploy` command shown.")
    ] = "app.py",
    list_prices: Annotated[
        bool, typer.Option("--list-prices", help="Print every price and limit, then exit.")
    ] = False,
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which infrastructure fits this workload: cost, p95 queue wait and risks of each
    architecture, a recommendation with its reasons, and the `bosun deploy` command.

    Prices are January 2026 list prices (docs/plan.md): check them, override with --set."""
    prices = _prices(set_ or [], prices_file)
    if list_prices:
        _show_prices(prices, as_json)
        return
    profile = _profile(profile_path, from_db, database, days)
    from bosun.plan import advise

    advice = advise(profile, seed=seed, prices=prices, app_ref=app_ref)
    written: list[Path] = []
    if charts is not None:
        from bosun.plan import write_charts

        try:
            written = write_charts(profile, charts, seed=seed, prices=prices)
        except ConfigurationError as exc:
            fail(str(exc), 2)
    if as_json:
        data = advice.model_dump(mode="json")
        data["charts"] = [str(p) for p in written]
        print_json(data)
        return
    _show(advice, written)


def _prices(assignments: list[str], path: Path | None) -> Prices:
    from bosun.plan import Prices, load_prices, with_overrides

    overrides: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--set {item!r}: write section.key=value (e.g. aws_lambda.cold_start_s=2)", 2)
        overrides[key.strip()] = value.strip()
    try:
        base = load_prices(path) if path else Prices()
        return with_overrides(base, overrides)
    except ConfigurationError as exc:
        fail(str(exc), 2)


def _profile(path: Path | None, from_db: str | None, database: str | None, days: float) -> Profile:
    from bosun.plan import load_profile, profile_from_store

    try:
        base = load_profile(path) if path else None
    except ConfigurationError as exc:
        fail(str(exc), 2)
    if base is not None and from_db is None:
        return base
    url = from_db or database
    return run_async(lambda: with_store(url, lambda s: profile_from_store(s, days, base=base)))


def _show_prices(prices: Prices, as_json: bool) -> None:
    from bosun.plan.prices import PRICED_ON, SOURCES, flatten

    flat = flatten(prices)
    if as_json:
        print_json({"priced_on": PRICED_ON, "prices": flat, "sources": SOURCES})
        return
    table = Table("key", "value", title=f"prices and limits (list prices of {PRICED_ON})")
    for key, value in flat.items():
        table.add_row(key, str(value))
    out.print(table)
    for section, source in SOURCES.items():
        out.print(f"[bold]{section}[/]: {source}", highlight=False, soft_wrap=True)


def _money(x: float) -> str:
    return f"${x:,.0f}"


def _rank_marks(advice: Advice) -> list[str]:
    """1, 2, … for what bosun deploys; `-` for what it cannot (compared only); `no` for
    what cannot run the profile."""
    marks, rank = [], 0
    for e in advice.ranked:
        if not e.feasible:
            marks.append("[red]no[/]")
        elif not e.deployable:
            marks.append("-")
        else:
            rank += 1
            marks.append(str(rank))
    return marks


def _measured_line(measured: dict[str, Any]) -> str:
    line = f", measured from {measured['runs']} runs"
    confidence = measured.get("confidence")
    if confidence:
        line += f" ({confidence} confidence: {measured.get('confidence_why', '')})"
    return line


def _show(advice: Advice, charts: list[Path]) -> None:
    w = advice.workload
    measured = advice.profile.get("measured")
    source = _measured_line(measured) if measured else ""
    out.print(
        f"[bold]{advice.profile['name']}[/]: {w['runs_per_hour']} runs/hour, "
        f"{w['mean_concurrency']} running on average, peak {w['peak_concurrency']}{source}",
        highlight=False,
        soft_wrap=True,
    )
    table = Table(
        "#", "architecture", "$/month", "ops/month", "p95 wait", "failed/rerun", box=SIMPLE_HEAD
    )
    table.columns[1].no_wrap = True
    for mark, e in zip(_rank_marks(advice), advice.ranked, strict=True):
        table.add_row(
            mark,
            e.key,
            _money(e.monthly_usd),
            _money(e.ops_usd),
            f"{e.p95_wait_s:.1f} s",
            f"{e.failed_per_month:,.0f}/{e.reruns_per_month:,.0f}",
        )
    out.print(table)
    out.print(
        "[bold]Risks[/] (no = cannot run; - = bosun deploy cannot set it up: compared only; "
        "failed/rerun are runs a month)"
    )
    for e in advice.ranked:
        notes = e.risks if e.feasible else [f"cannot run: {p}" for p in e.problems]
        if e.feasible and not e.deployable:
            notes = [f"compared only: {e.deploy_note}", *notes]
        out.print(f"  {e.key} ({e.label}):", highlight=False)
        for note in notes:
            out.print(f"    - {note}", highlight=False, soft_wrap=True)
    best = advice.recommendation
    if best is None:
        err.print("[bold red]no architecture bosun deploys can run this workload[/]")
    else:
        out.print(f"[bold]Recommendation:[/] {best.label}", highlight=False)
    for reason in advice.reasons:
        out.print(f"  - {reason}", highlight=False, soft_wrap=True)
    if best is not None:  # the command on a line of its own, to copy; then what it sets up
        setup = advice.deploy_command or advice.deploy_note
        out.print(f"[bold]Set it up:[/] {escape(setup)}", highlight=False, soft_wrap=True)
        if advice.deploy_command:
            note = f"  what it sets up: {escape(advice.deploy_note)}"
            out.print(note, highlight=False, soft_wrap=True)
    out.print(f"Prices: list prices of {advice.priced_on}; check them (docs/plan.md).")
    for path in charts:
        out.print(f"chart: {path}", highlight=False)

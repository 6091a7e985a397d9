"""Workflows the HTTP client tests drive through a real server: one that completes after two
steps and two emitted events, one that waits for a signal, one that fails, and one that
emits many events (to cut its stream mid-way), and one started by a posted event."""

from __future__ import annotations

import bosun

app = bosun.App("e2e-client")


@app.step()
def fetch(topic: str) -> str:
    return f"notes on {topic}"


@app.step()
def summarise(notes: str) -> str:
    return notes.upper()


@app.step()
def explode(reason: str) -> None:
    raise ValueError(reason)


@app.workflow()
async def report(ctx: bosun.Context, topic: str) -> dict[str, str]:
    notes = await fetch(topic)
    ctx.emit("progress", {"stage": "fetched"})
    summary = await summarise(notes)
    ctx.emit("progress", {"stage": "summarised"})
    return {"topic": topic, "summary": summary}


@app.workflow()
async def approval(ctx: bosun.Context, item: str) -> str:
    decision = await ctx.wait_for_signal("decision")
    return f"{item}: {decision['verdict']}"


@app.workflow()
async def broken(ctx: bosun.Context, reason: str) -> None:
    await explode(reason)


@app.workflow()
async def chatty(ctx: bosun.Context, count: int) -> int:
    for n in range(1, count + 1):
        # Padding makes each event a few hundred bytes, so a stream cut after a fixed number
        # of bytes ends in the middle of an event.
        ctx.emit("tick", {"n": n, "padding": "x" * 200, "text": "line one\nline two"})
        if n % 5 == 0:
            await summarise(f"tick {n}")
    return count


@app.workflow(on_event="email.received")
async def triage(ctx: bosun.Context, email: dict[str, str]) -> str:
    return f"triaged {email['subject']}"

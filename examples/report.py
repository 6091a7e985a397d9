"""Example: a research-report pipeline that survives crashes.

Shows a retried step, child runs fanned out with `gather`, a durable timer, and a human
approval by signal (auto-approved after a timeout, so the demo finishes on its own).

    bosun run examples/report.py publish_report --input '{"topic": "durable agents"}' --worker
    bosun runs signal RUN_ID approve --payload '{"by": "alice"}'     # from another terminal
"""

from __future__ import annotations

from pydantic import BaseModel

import bosun

app = bosun.App("report")


class Section(BaseModel):
    heading: str
    words: int


_outline_calls: dict[str, int] = {}


@app.step(retry=bosun.Retry(attempts=3, initial=0.2))
def draft_outline(topic: str) -> list[str]:
    """Pretend to call a flaky planning service: the first attempt fails."""
    _outline_calls[topic] = _outline_calls.get(topic, 0) + 1
    if _outline_calls[topic] == 1:
        raise ConnectionError("planning service unavailable (the retry will succeed)")
    return [f"Why {topic} matter", f"How {topic} work", f"{topic.capitalize()} in practice"]


@app.step()
async def write(topic: str, heading: str) -> Section:
    """Pretend to draft one section."""
    return Section(heading=heading, words=100 + 10 * len(heading) + len(topic))


@app.workflow(queue="default")
async def write_section(ctx: bosun.Context, topic: str, heading: str) -> Section:
    """A child run: each section is its own durable run."""
    return await write(topic, heading)


@app.workflow()
async def publish_report(ctx: bosun.Context, topic: str, approval_timeout: float = 3.0) -> dict:
    """Outline, write sections in parallel, wait a moment, get approval, publish."""
    outline = await draft_outline(topic)
    sections: list[Section] = await ctx.gather(
        *(ctx.child(write_section, topic, heading) for heading in outline)
    )
    ctx.emit("drafted", {"sections": len(sections)})
    await ctx.sleep(1)  # durable timer: the run holds no worker while it waits
    try:
        approval = await ctx.wait_for_signal("approve", timeout=approval_timeout)
    except bosun.SignalTimeout:
        approval = {"by": "auto-approval after timeout"}
    return {
        "topic": topic,
        "sections": [s.heading for s in sections],
        "words": sum(s.words for s in sections),
        "approved_by": approval.get("by") if isinstance(approval, dict) else str(approval),
        "published_at": ctx.now().isoformat(),
    }

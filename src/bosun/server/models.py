"""Request bodies of the HTTP API. Unknown fields are refused, never silently dropped."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bosun.ids import IDENTIFIER_PATTERN


class SubmitRun(BaseModel):
    """Start a run of a registered workflow."""

    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(min_length=1, max_length=200, description="registered workflow name")
    input: dict[str, Any] | list[Any] | None = Field(
        default=None, description="named inputs (object) or positional inputs (array)"
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="a second submit with this key returns the first run",
    )
    priority: int = Field(default=0, ge=-1000, le=1000, description="higher is claimed first")
    session: str | None = Field(
        default=None,
        pattern=IDENTIFIER_PATTERN,
        description="conversation this run is in (letters, digits, `_.:@-`; 200 at most)",
    )
    deadline: float | str | None = Field(
        default=None, description="seconds from now, or an RFC 3339 timestamp"
    )
    queue: str | None = Field(
        default=None,
        pattern=IDENTIFIER_PATTERN,
        description="queue to wait in (default: the workflow's); letters, digits, `_.:@-`",
    )
    webhook: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="http(s) URL that receives a signed POST when the run finishes",
    )
    double_texting: Literal["reject", "enqueue", "interrupt", "rollback"] = Field(
        default="enqueue",
        description="when the session has an unfinished run: reject this one, enqueue it "
        "after, interrupt (cancel) the other, or roll the other back (cancel, drop its "
        "messages)",
    )


class SendSignal(BaseModel):
    """A named payload for a run; buffered until the run waits for it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    payload: Any = None


class DecideApproval(BaseModel):
    """A human's decision on a tool call that waits for approval."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "edit"] = Field(
        description="approve: run the call as proposed; reject: do not run it (the model "
        "reads `message`); edit: run it with `arguments` instead"
    )
    message: str | None = Field(
        default=None,
        max_length=10_000,
        description="with reject: what the model reads instead of the tool's result",
    )
    arguments: dict[str, Any] | None = Field(
        default=None,
        description="with edit: the arguments to run the tool with (checked against its schema)",
    )

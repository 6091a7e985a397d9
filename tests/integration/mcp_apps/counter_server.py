"""An MCP server built with the official SDK's `MCPServer`, run as a subprocess by the MCP
tests: over stdio (`counter_server.py stdio`), Streamable HTTP (`… http PORT`) or SSE
(`… sse PORT`).

It writes what happens to it, one JSON object a line, to the file named by `MCP_LOG`: its
start (`{"event": "start", "pid": …}`) and every tool call with the idempotency key and
attempt bosun sent in the request's `_meta`, so the tests count calls on the server's side.
`slow` applies each idempotency key once: an attempt that comes after one that started (and
was perhaps killed) returns at once, saying so.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import EmbeddedResource, ImageContent, TextContent, TextResourceContents

LOG = Path(os.environ["MCP_LOG"])
KEY = "bosun.dev/idempotency-key"
ATTEMPT = "bosun.dev/attempt"
# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

server = MCPServer("counter")


def note(event: str, **fields: Any) -> None:
    with LOG.open("a") as log:
        log.write(json.dumps({"event": event, "pid": os.getpid(), **fields}) + "\n")


def seen() -> list[dict[str, Any]]:
    return [json.loads(line) for line in LOG.read_text().splitlines()]


def called(ctx: Context, tool: str, **fields: Any) -> dict[str, Any]:
    meta = ctx.request_context.meta or {}
    entry = {"tool": tool, "key": meta.get(KEY), "attempt": meta.get(ATTEMPT), **fields}
    note("call", **entry)
    return entry


@server.tool()
def add(a: int, b: int, ctx: Context) -> int:
    """Add two whole numbers."""
    called(ctx, "add", a=a, b=b)
    return a + b


@server.tool()
def slow(seconds: float, ctx: Context) -> str:
    """Wait, then say so. Each idempotency key is applied once."""
    entry = called(ctx, "slow")
    earlier = [e for e in seen() if e.get("tool") == "slow" and e.get("key") == entry["key"]]
    if len(earlier) > 1:
        return f"already started by attempt {earlier[0]['attempt']}"
    time.sleep(seconds)
    return f"slept {seconds} s"


@server.tool()
def fail(message: str, ctx: Context) -> str:
    """Always fails with `message`."""
    called(ctx, "fail")
    raise ToolError(message)


@server.tool()
def picture(ctx: Context) -> list[ImageContent | TextContent]:
    """A tiny picture and a caption."""
    called(ctx, "picture")
    image = ImageContent(type="image", data=base64.b64encode(PNG).decode(), mime_type="image/png")
    return [image, TextContent(type="text", text="a transparent pixel")]


@server.tool()
def document(ctx: Context) -> EmbeddedResource:
    """A text document, embedded as a resource."""
    called(ctx, "document")
    contents = TextResourceContents(uri="memo://1", mime_type="text/plain", text="Meeting at 10.")
    return EmbeddedResource(type="resource", resource=contents)


@server.tool()
def big(chars: int, ctx: Context) -> str:
    """`chars` characters of text."""
    called(ctx, "big")
    return "x" * chars


@server.tool()
def whoami(ctx: Context) -> str:
    """The X-Api-Key header the request came with (HTTP only)."""
    called(ctx, "whoami")
    return (ctx.headers or {}).get("x-api-key", "no header")


@server.tool(name="admin.reset")
def reset(ctx: Context) -> str:
    """A tool the tests keep away from the model."""
    called(ctx, "admin.reset")
    return "reset"


if __name__ == "__main__":
    note("start", transport=sys.argv[1])
    if sys.argv[1] == "stdio":
        server.run()
    else:
        transport = "streamable-http" if sys.argv[1] == "http" else "sse"
        server.run(transport, host="127.0.0.1", port=int(sys.argv[2]))  # type: ignore[call-overload]

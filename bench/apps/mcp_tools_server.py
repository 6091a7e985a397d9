"""The tools of `agent_app.py` (`lookup_order`, `add`) served by an MCP server built with the
official SDK's `MCPServer`, over stdio: what `bench/agents_mcp.py` calls instead of them."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("agent-bench-tools")


@server.tool()
async def lookup_order(order_id: int) -> dict[str, Any]:
    """Look up an order.

    Args:
        order_id: the order's number.
    """
    return {"order_id": order_id, "status": "shipped", "items": 2}


@server.tool()
async def add(a: float, b: float) -> float:
    """Add two numbers.

    Args:
        a: the first number.
        b: the second number.
    """
    return a + b


if __name__ == "__main__":
    server.run()

"""Tools from MCP servers, for `bosun.Agent`, durable like any other tool.

```python
import bosun

time_server = bosun.mcp.stdio("mcp-server-time", ["--local-timezone", "UTC"])
docs = bosun.mcp.http("https://mcp.example.com/mcp", headers={"Authorization": "Bearer …"})
agent = bosun.Agent(tools=[lookup_order, time_server, docs])
```

A server is a tool source: passed in `tools=` beside plain functions, its tools are listed
when an agent run starts and called when the model asks for them, each a journaled step
(`bosun.mcp.servers` tells how discovery, calls, retries and idempotency keys work). Sessions
with the servers belong to the worker, not to the run (`bosun.mcp.connections`): a server
that crashes is started again, and a run that moves to another worker connects there.

Built on the official `mcp` SDK, an optional dependency: `pip install 'bosun[mcp]'`. Importing
`bosun.mcp` does not import it; making a server without it raises `ConfigurationError`.
"""

from bosun.mcp.connections import close_all
from bosun.mcp.errors import McpConnectionError, McpError, McpProtocolError
from bosun.mcp.results import ListedTool, ToolResult
from bosun.mcp.servers import (
    ATTEMPT_META,
    DEFAULT_RETRY,
    IDEMPOTENCY_KEY_META,
    McpServer,
    http,
    sse,
    stdio,
)

__all__ = [
    "ATTEMPT_META",
    "DEFAULT_RETRY",
    "IDEMPOTENCY_KEY_META",
    "ListedTool",
    "McpConnectionError",
    "McpError",
    "McpProtocolError",
    "McpServer",
    "ToolResult",
    "close_all",
    "http",
    "sse",
    "stdio",
]

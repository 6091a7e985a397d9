"""`McpServer`: an MCP server's tools as a tool source for `bosun.Agent`.

Discovery and every call are journaled steps:

- `mcp:<server>:tools/list` (kind `step`), once per `Agent.run` before its first model call,
  records the tools the server listed that the allow- and deny-lists let through: a replay
  is shown the same tools, whatever the server offers by then, without connecting to it.
- `mcp:<server>:<tool>` (kind `tool`) per call records the result (`ToolResult`). A replay
  returns it without calling the server again. A call is at least once: it is sent again
  after a crash in flight or a lost connection, each time with the step's idempotency key in
  the request's `_meta` (`bosun.dev/idempotency-key`, `<run id>:<position>`, the same on
  every attempt; `bosun.dev/attempt` counts them), which a server may use to apply it once.

Retries follow the server's `retry` policy: a lost connection or a timeout is retried on a
new connection; an error the server answered (an unknown tool, invalid parameters) is final.
Either way the model is told what failed and the run goes on. A tool that ran and failed
(`isError`) is not retried: its message goes to the model.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from bosun.agents.errors import InvalidToolArguments, OutputParseError
from bosun.agents.messages import Content, ToolSpec
from bosun.agents.structured import extract_json
from bosun.agents.tools import SourcedTool
from bosun.engine.definitions import StepDef
from bosun.engine.execution import current_step
from bosun.errors import ConfigurationError
from bosun.mcp import connections
from bosun.mcp.connections import Endpoint, Options
from bosun.mcp.results import ListedTool, ToolResult
from bosun.retry import Retry

if TYPE_CHECKING:
    from bosun.engine.context import WorkflowContext

__all__ = [
    "ATTEMPT_META",
    "DEFAULT_RETRY",
    "IDEMPOTENCY_KEY_META",
    "McpServer",
    "http",
    "sse",
    "stdio",
]

IDEMPOTENCY_KEY_META = "bosun.dev/idempotency-key"
ATTEMPT_META = "bosun.dev/attempt"
DEFAULT_RETRY = Retry(attempts=3, initial=0.5, max_interval=10.0)
_SERVER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_NOT_IN_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")
_RUNNERS = frozenset({"python", "python3", "node", "npx", "uvx", "bunx", "pipx", "deno"})


class McpServer:
    """An MCP server whose tools an agent may call; made by `stdio`, `http` or `sse`.

    It holds no connection itself: sessions are opened by the worker that needs one, once
    per server and event loop, and shared by the runs there (`bosun.mcp.connections`).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        name: str,
        allow: Sequence[str] | None = None,
        deny: Sequence[str] = (),
        prefix: str = "",
        retry: Retry | None = None,
        timeout: float | None = 120.0,
        connect_timeout: float = 30.0,
        keep_alive: float = 300.0,
    ) -> None:
        if importlib.util.find_spec("mcp") is None:
            raise ConfigurationError(
                "MCP tools need the official MCP SDK: pip install 'bosun[mcp]'"
            )
        if not _SERVER_NAME.match(name):
            raise ConfigurationError(
                f"MCP server name {name!r} must be 1 to 64 letters, digits, '_', '-' or '.' "
                f"(pass name=…): it names the server's steps in the journal"
            )
        if prefix and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", prefix):
            raise ConfigurationError(f"prefix {prefix!r} may hold only letters, digits, _ and -")
        if isinstance(allow, str) or isinstance(deny, str):
            raise ConfigurationError("allow= and deny= take lists of tool names, not a string")
        for value, what in ((connect_timeout, "connect_timeout"), (keep_alive, "keep_alive")):
            if value <= 0:
                raise ConfigurationError(f"{what} must be > 0 seconds")
        self.name = name
        self.endpoint = endpoint
        self.allow = None if allow is None else tuple(allow)
        self.deny = tuple(deny)
        self.prefix = prefix
        self.retry = retry or DEFAULT_RETRY
        self.timeout = timeout
        self.options = Options(connect_timeout=connect_timeout, keep_alive=keep_alive)
        self._list_step = StepDef.build(
            self._list_tools, f"mcp:{name}:tools/list", self.retry, timeout
        )
        self._steps: dict[str, StepDef] = {}

    def __repr__(self) -> str:
        return f"<MCP server {self.name!r}: {self.endpoint.describe()}>"

    def allows(self, tool: str) -> bool:
        """Whether the allow- and deny-lists let `tool` through (shell-style patterns)."""
        if self.allow is not None and not any(fnmatch.fnmatchcase(tool, p) for p in self.allow):
            return False
        return not any(fnmatch.fnmatchcase(tool, pattern) for pattern in self.deny)

    async def discover(self, ctx: WorkflowContext) -> list[SourcedTool]:
        """The server's tools for this run: listed once, journaled, replayed after."""
        listed: list[ListedTool] = await ctx._execution.call_step(self._list_step, (), {})
        tools: dict[str, SourcedTool] = {}
        for tool in listed:
            exposed = (self.prefix + _NOT_IN_TOOL_NAME.sub("_", tool.name))[:64]
            if exposed in tools:
                raise ConfigurationError(
                    f"{self!r}: two of its tools are both called {exposed!r} for the model; "
                    f"leave one out (deny=)"
                )
            spec = ToolSpec(
                name=exposed,
                description=tool.description,
                parameters=tool.input_schema or {"type": "object", "properties": {}},
            )
            tools[exposed] = SourcedTool(spec, _Caller(self, tool.name, exposed))
        return list(tools.values())

    async def call(self, ctx: WorkflowContext, tool: str, arguments: dict[str, Any]) -> ToolResult:
        """Call `tool` (the server's name for it) as a journaled step, from workflow code."""
        limit = ctx._execution.env.max_payload_bytes
        kwargs = {"arguments": arguments, "limit": limit}
        result: ToolResult = await ctx._execution.call_step(
            self._step(tool), (), kwargs, kind="tool"
        )
        return result

    def _step(self, tool: str) -> StepDef:
        step = self._steps.get(tool)
        if step is None:

            async def call(arguments: dict[str, Any], limit: int | None) -> ToolResult:
                return await self._call_tool(tool, arguments, limit)

            step = StepDef.build(call, f"mcp:{self.name}:{tool}", self.retry, self.timeout)
            self._steps[tool] = step
        return step

    async def _list_tools(self) -> list[ListedTool]:
        """The step that lists the tools (what it returns is journaled)."""
        found = await connections.list_tools(self.endpoint, self.options)
        offered = [tool for tool in found if self.allows(tool.name)]
        return [
            ListedTool(
                name=tool.name, description=tool.description or "", input_schema=tool.input_schema
            )
            for tool in offered
        ]

    async def _call_tool(
        self, tool: str, arguments: dict[str, Any], limit: int | None
    ) -> ToolResult:
        """The step that calls a tool (what it returns is journaled)."""
        scope = current_step.get()
        meta = None
        if scope is not None:
            meta = {
                IDEMPOTENCY_KEY_META: f"{scope.run_id}:{scope.seq}",
                ATTEMPT_META: scope.attempt,
            }
        raw = await connections.call_tool(self.endpoint, self.options, tool, arguments, meta)
        return ToolResult.of(raw).fit(limit)


class _Caller:
    """`SourcedTool.call` of one tool: checks the model's arguments, calls, gives what the
    model reads (text, or parts with the images a tool returned)."""

    __slots__ = ("exposed", "server", "tool")

    def __init__(self, server: McpServer, tool: str, exposed: str) -> None:
        self.server = server
        self.tool = tool
        self.exposed = exposed

    async def __call__(self, ctx: WorkflowContext, arguments_json: str) -> Content:
        arguments = _arguments(self.exposed, arguments_json)
        return (await self.server.call(ctx, self.tool, arguments)).parts()


def _arguments(tool: str, text: str) -> dict[str, Any]:
    """The model's arguments as a JSON object; the server checks them against its schema."""
    try:
        data = extract_json(text) if text.strip() else {}
    except OutputParseError as exc:
        problem = f"the arguments are not valid JSON: {exc}"
    else:
        if isinstance(data, dict):
            return data
        problem = f"the arguments must be a JSON object, not {type(data).__name__}"
    message = f"invalid arguments for tool {tool!r}; fix them and call it again:\n- {problem}"
    raise InvalidToolArguments(message, tool=tool, errors=[("", problem)])


# -- the constructors ---------------------------------------------------------------------------


def stdio(
    command: str,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
    name: str | None = None,
    allow: Sequence[str] | None = None,
    deny: Sequence[str] = (),
    prefix: str = "",
    retry: Retry | None = None,
    timeout: float | None = 120.0,
    connect_timeout: float = 30.0,
    keep_alive: float = 300.0,
) -> McpServer:
    """An MCP server the worker starts as a subprocess and talks to over its stdin/stdout:
    `bosun.mcp.stdio("mcp-server-time")`, `bosun.mcp.stdio("npx", ["-y", "@scope/server"])`.

    Args:
        command: the program to run, found on the worker's PATH.
        args: its arguments.
        env: variables for it, over a minimal environment (HOME, LOGNAME, PATH, SHELL,
            TERM, USER): the worker's own environment, with its secrets, is not passed on.
        cwd: its working directory (the worker's when None).
        name: the server's name in the journal (`mcp:<name>:<tool>`) and in messages; by
            default the command's (or, for a runner such as `uvx` or `npx`, the package's)
            base name. Keep it stable: a replay expects the same step names.
        allow: the tools the agent may see and call, as names or shell-style patterns
            (`get_*`); all when None.
        deny: tools left out, even when `allow` lets them in.
        prefix: put before each tool's name for the model (`time_`), to tell apart tools of
            the same name from several servers.
        retry: the policy of each call and of the discovery (default `DEFAULT_RETRY`: 3
            attempts for lost connections and timeouts; a server's error answer is final).
        timeout: seconds a call (connecting included) may take; None for no limit.
        connect_timeout: seconds to start the server and complete the handshake.
        keep_alive: seconds an unused connection stays open (then the process ends).

    Raises:
        ConfigurationError: the `mcp` package is missing (install `bosun[mcp]`), or an
            argument is invalid.
    """
    if not command:
        raise ConfigurationError("bosun.mcp.stdio needs a command")
    endpoint = Endpoint(
        transport="stdio",
        target=command,
        args=tuple(args),
        env=tuple(sorted((env or {}).items())),
        cwd=None if cwd is None else os.fspath(cwd),
    )
    return McpServer(
        endpoint,
        name=name or _command_name(command, args),
        allow=allow,
        deny=deny,
        prefix=prefix,
        retry=retry,
        timeout=timeout,
        connect_timeout=connect_timeout,
        keep_alive=keep_alive,
    )


def http(
    url: str,
    headers: Mapping[str, str] | None = None,
    *,
    name: str | None = None,
    allow: Sequence[str] | None = None,
    deny: Sequence[str] = (),
    prefix: str = "",
    retry: Retry | None = None,
    timeout: float | None = 120.0,
    connect_timeout: float = 30.0,
    keep_alive: float = 300.0,
) -> McpServer:
    """An MCP server reached over Streamable HTTP: `bosun.mcp.http("https://host/mcp",
    headers={"Authorization": f"Bearer {token}"})`.

    `headers` go with every request (they never reach the journal or a message); `name`
    defaults to the URL's host name. The other arguments are those of `stdio`.
    """
    return _remote("http", url, headers, name, allow, deny, prefix, retry, timeout,
                   connect_timeout, keep_alive)  # fmt: skip


def sse(
    url: str,
    headers: Mapping[str, str] | None = None,
    *,
    name: str | None = None,
    allow: Sequence[str] | None = None,
    deny: Sequence[str] = (),
    prefix: str = "",
    retry: Retry | None = None,
    timeout: float | None = 120.0,
    connect_timeout: float = 30.0,
    keep_alive: float = 300.0,
) -> McpServer:
    """An MCP server reached over the older HTTP+SSE transport (its SSE endpoint's URL, often
    ending in `/sse`), for servers that do not speak Streamable HTTP yet. The arguments are
    those of `http`."""
    return _remote("sse", url, headers, name, allow, deny, prefix, retry, timeout,
                   connect_timeout, keep_alive)  # fmt: skip


def _remote(
    transport: Literal["http", "sse"],
    url: str,
    headers: Mapping[str, str] | None,
    name: str | None,
    allow: Sequence[str] | None,
    deny: Sequence[str],
    prefix: str,
    retry: Retry | None,
    timeout: float | None,
    connect_timeout: float,
    keep_alive: float,
) -> McpServer:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"bosun.mcp.{transport} needs an http(s) URL, not {url!r}")
    endpoint = Endpoint(
        transport=transport, target=url, headers=tuple(sorted((headers or {}).items()))
    )
    return McpServer(
        endpoint,
        name=name or parts.hostname,
        allow=allow,
        deny=deny,
        prefix=prefix,
        retry=retry,
        timeout=timeout,
        connect_timeout=connect_timeout,
        keep_alive=keep_alive,
    )


def _command_name(command: str, args: Sequence[str]) -> str:
    """`mcp-server-time` for `mcp-server-time`, `uvx mcp-server-time`, `npx -y @x/server-y`
    (`server-y`) or `python -m my_server` (`my_server`)."""
    base = os.path.basename(command)
    stem = os.path.splitext(base)[0] if base.endswith((".py", ".js", ".exe")) else base
    if stem.rstrip("0123456789.") in _RUNNERS:
        words = [a for a in args if not a.startswith("-")]
        if "-m" in args[:-1]:
            stem = args[list(args).index("-m") + 1]
        elif words:
            package = words[0].removeprefix("@").split("@")[0]  # @scope/name@1.2 → scope/name
            stem = os.path.splitext(os.path.basename(package))[0]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)[:64].strip("._-")
    return name or "mcp"

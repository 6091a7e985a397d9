"""Errors of MCP tool sources, under bosun's one root.

```
BosunError
└── McpError                  an MCP server could not be used
    ├── McpConnectionError    no answer: the server did not start, went away, or timed out
    └── McpProtocolError      the server answered a request with an error (final)
```

A tool call that ran and failed (`isError: true` in its result) raises nothing: its text goes
back to the model as an error message, as a plain tool's exception does. `retryable` says
whether the step that raised one may try again (its `Retry` policy decides how often).
"""

from __future__ import annotations

from bosun.errors import BosunError

__all__ = ["McpConnectionError", "McpError", "McpProtocolError"]


class McpError(BosunError):
    """An MCP server could not be used.

    Attributes:
        retryable: whether the same request may succeed later.
    """

    retryable = False


class McpConnectionError(McpError):
    """The server could not be reached, went away, or did not answer in time.

    Retryable unless starting the server failed for a reason that time does not fix (its
    command does not exist, or may not be run). The connection is dropped; the next attempt
    opens a new one (a new process for a stdio server).
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class McpProtocolError(McpError):
    """The server answered with a JSON-RPC error (an unknown tool, invalid parameters…),
    or with a result that breaks the protocol (structured content that does not fit the
    tool's output schema). Final: asking again gets the same answer.

    Attributes:
        code: the JSON-RPC error code, when the server sent one.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code

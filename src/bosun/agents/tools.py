"""Tools as plain functions: their JSON schema from type hints and docstrings, and their
arguments checked before a call.

```python
def lookup_order(order_id: int, include_items: bool = False) -> dict[str, Any]:
    \"""Look an order up by its number.

    Args:
        order_id: the number printed on the receipt.
        include_items: also return the order's lines.
    \"""
```

`tool_spec(lookup_order)` describes it to the model; `call_arguments(lookup_order, '{"order_id":
"42"}')` gives `{"order_id": 42}`, or raises `InvalidToolArguments` naming each bad field, an
error meant to be returned to the model. A first parameter annotated `bosun.Context` is left
out of the schema: the runtime passes it.

Tools found while a run goes rather than written as functions (an MCP server's, through
`bosun.mcp`) come from a `ToolSource`: an `Agent` takes sources beside functions, asks each
for its tools once per `Agent.run`, and calls them through the `SourcedTool`s they give.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, PydanticUserError, ValidationError, create_model

from bosun.agents.errors import InvalidToolArguments, OutputParseError
from bosun.agents.messages import Content, ToolSpec
from bosun.agents.structured import error_list, extract_json
from bosun.engine.context import WorkflowContext
from bosun.errors import ConfigurationError

__all__ = ["SourcedTool", "ToolSource", "call_arguments", "tool_spec", "wants_context"]

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns?|Yields?|Raises|Examples?|Notes?):\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_ARG_SECTIONS = frozenset({"Args", "Arguments", "Parameters"})
_FIELD_PREFIX = "p_"  # field names never clash with BaseModel's attributes (`json`, `copy`…)


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=False)


@dataclass(frozen=True)
class SourcedTool:
    """A tool a `ToolSource` found: how the model sees it, and how to call it.

    Attributes:
        spec: the name, description and JSON schema the model is shown.
        call: runs in workflow code with the model's raw JSON arguments; journals the call
            itself (a step) and returns what the model reads: text, or content parts (an
            image the tool returned goes to providers that take images in tool results). It
            raises `InvalidToolArguments` for arguments to hand back to the model, and
            `StepFailed` when the call failed for good; the agent gives both to the model as
            errors.
    """

    spec: ToolSpec
    call: Callable[[WorkflowContext, str], Awaitable[Content]]


@runtime_checkable
class ToolSource(Protocol):
    """Tools not declared in code but found at run time, such as an MCP server's
    (`bosun.mcp.stdio(...)`), usable wherever tools are: `Agent(tools=[fn, source])`.

    `discover` runs in workflow code, once per `Agent.run` before the first model call, and
    must journal what it found, so that a replay sees the same tools whatever the source
    offers by then.
    """

    async def discover(self, ctx: WorkflowContext) -> Sequence[SourcedTool]:
        """The tools this source offers this run (journaled)."""
        ...


def tool_spec(
    fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
) -> ToolSpec:
    """Describe `fn` (sync or async) as a tool.

    Args:
        fn: the function; its parameters' type hints give the JSON schema.
        name: the tool's name; the function's `__name__` when omitted.
        description: what the tool does; the docstring's text before its sections when
            omitted. Per-parameter descriptions come from a Google-style `Args:` section.

    Raises:
        ConfigurationError: the name is not a valid tool name, the function takes `*args` or
            positional-only parameters, or a type hint cannot be turned into a schema.
    """
    tool_name = _name_of(fn) if name is None else name
    if not _TOOL_NAME.match(tool_name):
        raise ConfigurationError(
            f"{tool_name!r} is not a valid tool name: use 1 to 64 letters, digits, '_' or '-' "
            f"(pass name=… to tool_spec)"
        )
    summary, _ = _parse_docstring(inspect.getdoc(fn) or "")
    model = _arguments_model(fn)
    try:
        schema = model.model_json_schema(by_alias=True)
    except PydanticUserError as exc:
        raise ConfigurationError(
            f"the parameters of tool {tool_name!r} cannot be described as JSON schema: {exc}"
        ) from exc
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return ToolSpec(
        name=tool_name,
        description=summary if description is None else description,
        parameters=schema,
    )


def call_arguments(fn: Callable[..., Any], arguments_json: str) -> dict[str, Any]:
    """The keyword arguments to call `fn` with, from the JSON text a model produced.

    Values are validated and coerced by the type hints (`"42"` becomes `42`, a dict becomes a
    pydantic model); parameters the model left out are left out, so `fn`'s defaults apply.

    Raises:
        InvalidToolArguments: the text is not a JSON object, a field is missing, unknown, or
            of the wrong type; the message names each one.
    """
    tool = _name_of(fn)
    try:
        data = extract_json(arguments_json) if arguments_json.strip() else {}
    except OutputParseError as exc:
        raise _invalid(tool, [("", f"the arguments are not valid JSON: {exc}")]) from exc
    if not isinstance(data, dict):
        problem = f"the arguments must be a JSON object, not {type(data).__name__}"
        raise _invalid(tool, [("", problem)])
    try:
        parsed = _arguments_model(fn).model_validate(data)
    except ValidationError as exc:
        raise _invalid(tool, error_list(exc)) from exc
    return {
        field.removeprefix(_FIELD_PREFIX): getattr(parsed, field)
        for field in type(parsed).model_fields
        if field in parsed.model_fields_set
    }


def wants_context(fn: Callable[..., Any]) -> bool:
    """Whether `fn`'s first parameter is annotated `bosun.Context` (the runtime passes it)."""
    return _context_parameter(fn) is not None


# -- internals --------------------------------------------------------------------------------


def _name_of(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__name__", type(fn).__name__))


def _invalid(tool: str, errors: list[tuple[str, str]]) -> InvalidToolArguments:
    lines = "\n".join(f"- {path or '(arguments)'}: {problem}" for path, problem in errors)
    message = f"invalid arguments for tool {tool!r}; fix them and call it again:\n{lines}"
    return InvalidToolArguments(message, tool=tool, errors=errors)


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    # `Context` for hints naming it without importing it (under TYPE_CHECKING): `bosun.Context`
    # is a WorkflowContext, and the runtime passes one.
    try:
        return inspect.signature(fn, eval_str=True, locals={"Context": WorkflowContext})
    except (NameError, SyntaxError) as exc:
        raise ConfigurationError(
            f"cannot read the type hints of tool {fn!r}: {exc}; import the types it names at "
            f"module level, not only under TYPE_CHECKING"
        ) from exc


def _context_parameter(fn: Callable[..., Any]) -> str | None:
    parameters = list(_signature(fn).parameters.values())
    if not parameters:
        return None
    hint = parameters[0].annotation
    if isinstance(hint, type) and issubclass(hint, WorkflowContext):
        return parameters[0].name
    return None


@functools.lru_cache(maxsize=512)
def _arguments_model(fn: Callable[..., Any]) -> type[BaseModel]:
    """A pydantic model of `fn`'s parameters (the `Context` one left out), with each field
    named `p_<parameter>` and aliased to the parameter's name."""
    _, described = _parse_docstring(inspect.getdoc(fn) or "")
    skip = _context_parameter(fn)
    fields: dict[str, Any] = {}
    for parameter in _signature(fn).parameters.values():
        if parameter.name == skip:
            continue
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            raise ConfigurationError(
                f"tool {fn!r} takes *{parameter.name} or positional-only parameters; a model "
                f"passes arguments by name, so give each one a name"
            )
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        annotation = (
            Any if parameter.annotation is inspect.Parameter.empty else parameter.annotation
        )
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        info = Field(default, alias=parameter.name, description=described.get(parameter.name))
        fields[_FIELD_PREFIX + parameter.name] = (annotation, info)
    try:
        return create_model(f"{_name_of(fn)}_arguments", __base__=_Arguments, **fields)
    except (PydanticUserError, TypeError) as exc:
        raise ConfigurationError(
            f"the parameters of tool {fn!r} cannot be described as JSON schema: {exc}; use "
            f"standard types, pydantic models, dataclasses or TypedDicts"
        ) from exc


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The text before the first section, and the `Args:` section's descriptions."""
    summary: list[str] = []
    arg_lines: list[str] = []
    section: str | None = None
    for line in doc.splitlines():
        header = _SECTION.match(line)
        if header:
            section = header.group(1)
        elif section is None:
            summary.append(line)
        elif section in _ARG_SECTIONS:
            arg_lines.append(line)
    return "\n".join(summary).strip(), _parse_args(arg_lines)


def _parse_args(lines: list[str]) -> dict[str, str]:
    """`name (type): text` entries; more deeply indented lines continue the entry above."""
    described: dict[str, str] = {}
    entry_indent: int | None = None
    current: str | None = None
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        entry = _ARG_LINE.match(line.strip())
        if entry and (entry_indent is None or indent <= entry_indent):
            entry_indent = indent
            current = entry.group(1).lstrip("*")
            described[current] = entry.group(3).strip()
        elif current is not None:
            described[current] = f"{described[current]} {line.strip()}".strip()
    return described

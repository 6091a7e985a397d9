"""What the decorators register: workflows and steps, with their type hints."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bosun import serde
from bosun.errors import ConfigurationError, InvalidArguments
from bosun.retry import NO_RETRY, Retry

_RESERVED = {
    "idempotency_key",
    "queue",
    "priority",
    "deadline",
    "tenant",
    "session",
    "webhook",
}


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: treat as plain JSON
        return {}


def _check_context_hint(fn: Callable[..., Any], param: str, hint: Any, context: type) -> None:
    if not isinstance(hint, type):
        return  # unannotated, Any, a union, a forward reference the hints could not resolve
    try:
        related = issubclass(hint, context) or issubclass(context, hint)
    except TypeError:  # a protocol that cannot be checked at run time
        return
    if not related:
        raise ConfigurationError(
            f"workflow {fn.__qualname__}: its first parameter receives the bosun.Context, "
            f"but {param!r} is annotated {hint.__qualname__}; add `ctx: bosun.Context` "
            "before the inputs"
        )


@dataclass
class StepDef:
    """A registered step."""

    fn: Callable[..., Any]
    name: str
    retry: Retry = NO_RETRY
    timeout: float | None = None
    is_async: bool = False
    return_hint: Any = Any

    @classmethod
    def build(
        cls, fn: Callable[..., Any], name: str | None, retry: Retry | None, timeout: float | None
    ) -> StepDef:
        if timeout is not None and timeout <= 0:
            raise ConfigurationError(f"step {fn.__qualname__}: timeout must be > 0 seconds")
        return cls(
            fn=fn,
            name=name or fn.__qualname__,
            retry=retry or NO_RETRY,
            timeout=timeout,
            is_async=inspect.iscoroutinefunction(fn),
            return_hint=_hints(fn).get("return", Any),
        )


KeyFrom = str | Callable[..., str | None]
"""A flow-control key: the name of an input, or a function of the inputs returning the key."""


@dataclass(frozen=True)
class FlowControl:
    """Keys that shape when a workflow's runs may start.

    Args:
        concurrency_key: runs sharing a key value start one after another, at most
            `concurrency_limit` at a time (e.g. one active run per chat session), in order.
        concurrency_limit: started, unfinished runs allowed per key value.
        fairness_key: runs of one queue and priority are claimed round robin across its
            values (e.g. tenants), so one value's burst cannot starve the others.
    """

    concurrency_key: KeyFrom | None = None
    concurrency_limit: int = 1
    fairness_key: KeyFrom | None = None


@dataclass
class WorkflowDef:
    """A registered workflow: an async function whose first parameter is the Context."""

    fn: Callable[..., Any]
    name: str
    queue: str
    signature: inspect.Signature = field(repr=False)
    param_hints: dict[str, Any] = field(repr=False)
    return_hint: Any = Any
    flow: FlowControl = field(default_factory=FlowControl)
    on_event: tuple[str, ...] = ()
    budget: Any = None  # a `bosun.agents.budget.Budget` for each run's LLM calls

    def keys_for(self, input_json: str) -> tuple[str | None, int | None, str | None]:
        """The (concurrency key, its limit, fairness key) of a run with these inputs."""
        flow = self.flow
        if flow.concurrency_key is None and flow.fairness_key is None:
            return None, None, None
        values = json.loads(input_json)
        concurrency = self._key(flow.concurrency_key, values)
        fairness = self._key(flow.fairness_key, values)
        return concurrency, flow.concurrency_limit if concurrency else None, fairness

    def _key(self, source: KeyFrom | None, values: dict[str, Any]) -> str | None:
        if source is None:
            return None
        if callable(source):
            value = source(**values)
            return None if value is None else str(value)
        value = values.get(source, self._default(source))
        return None if value is None else f"{self.name}:{source}={value}"

    def _default(self, param: str) -> Any:
        default = self.signature.parameters[param].default
        return None if default is inspect.Parameter.empty else default

    @classmethod
    def build(
        cls,
        fn: Callable[..., Any],
        name: str | None,
        queue: str,
        flow: FlowControl | None = None,
        on_event: tuple[str, ...] = (),
        context: type | None = None,
    ) -> WorkflowDef:
        """The definition of workflow `fn`, its signature checked. With `context` (the class
        workflows are handed), a first parameter annotated as something unrelated to it
        (`async def wf(x: int)`, a forgotten `ctx`) is refused here rather than getting the
        context as `x` and failing at its first use."""
        if not inspect.iscoroutinefunction(fn):
            raise ConfigurationError(
                f"workflow {fn.__qualname__} must be an async function (async def)"
            )
        signature = inspect.signature(fn)
        params = list(signature.parameters.values())
        if not params or params[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            raise ConfigurationError(
                f"workflow {fn.__qualname__} must take the bosun.Context as its first parameter"
            )
        rest = params[1:]
        clash = _RESERVED & {p.name for p in rest}
        if clash:
            raise ConfigurationError(
                f"workflow {fn.__qualname__}: parameter name(s) {sorted(clash)} are reserved "
                "for start options; rename them"
            )
        for p in rest:
            if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise ConfigurationError(
                    f"workflow {fn.__qualname__}: *args/**kwargs are not supported; "
                    "name every input"
                )
        hints = _hints(fn)
        if context is not None:
            _check_context_hint(fn, params[0].name, hints.get(params[0].name), context)
        flow = flow or FlowControl()
        for source in (flow.concurrency_key, flow.fairness_key):
            if isinstance(source, str) and source not in {p.name for p in rest}:
                raise ConfigurationError(
                    f"workflow {fn.__qualname__}: key {source!r} is not one of its inputs"
                )
        if flow.concurrency_limit < 1:
            raise ConfigurationError(f"workflow {fn.__qualname__}: concurrency_limit must be >= 1")
        if on_event and len(rest) != 1:
            raise ConfigurationError(
                f"workflow {fn.__qualname__}: a workflow started by events (on_event=) takes "
                f"exactly one input after the Context, which receives the event's body"
            )
        return cls(
            fn=fn,
            name=name or fn.__qualname__,
            queue=queue,
            signature=signature.replace(parameters=rest),
            param_hints={p.name: hints.get(p.name, Any) for p in rest},
            return_hint=hints.get("return", Any),
            flow=flow,
            on_event=on_event,
        )

    def encode_input(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Bind and validate the inputs, then serialise them as a JSON object."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArguments(f"workflow {self.name!r}: {exc}") from exc
        values = {}
        for pname, value in bound.arguments.items():
            hint = self.param_hints[pname]
            checked = serde.validate(value, hint, f"workflow {self.name!r} argument {pname!r}")
            values[pname] = json.loads(
                serde.dump(checked, hint, f"workflow {self.name!r} argument {pname!r}")
            )
        return json.dumps(values, separators=(",", ":"))

    def encode_json_input(self, data: Any) -> str:
        """Like `encode_input` from JSON: an object gives keyword, an array positional inputs."""
        if isinstance(data, dict):
            return self.encode_input((), data)
        if isinstance(data, list):
            return self.encode_input(tuple(data), {})
        if data is None:
            return self.encode_input((), {})
        raise InvalidArguments(
            f"workflow {self.name!r}: input must be a JSON object (named inputs) or array "
            f"(positional inputs), not {type(data).__name__}"
        )

    def decode_input(self, text: str) -> dict[str, Any]:
        """Stored inputs back to typed keyword arguments."""
        raw = json.loads(text)
        return {
            pname: serde.validate(value, self.param_hints.get(pname, Any), f"input {pname!r}")
            for pname, value in raw.items()
        }

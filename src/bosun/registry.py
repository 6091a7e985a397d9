"""The workflows and steps of an App: its `Registry` of definitions by name, and the `Step`
and `Workflow` objects that `@app.step` and `@app.workflow` return."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Generic, ParamSpec, TypeVar

from bosun.buckets import RateLimit
from bosun.engine.definitions import StepDef, WorkflowDef
from bosun.engine.execution import current_execution, current_step
from bosun.errors import ConfigurationError, WorkflowNotFound
from bosun.schedules import Declared

__all__ = ["Registry", "Step", "Workflow"]

P = ParamSpec("P")
R = TypeVar("R")


class Step(Generic[P, R]):
    """A function whose completion is journaled. Call it from a workflow and await it.

    Outside a workflow (or from inside another step) it simply runs the function.
    """

    def __init__(self, definition: StepDef) -> None:
        self.definition = definition
        self.__doc__ = definition.fn.__doc__
        self.__name__ = definition.name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        return self._call(args, kwargs)

    def __repr__(self) -> str:
        return f"Step({self.definition.name!r})"

    async def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        execution = current_execution.get()
        if execution is None or current_step.get() is not None:
            result = self.definition.fn(*args, **kwargs)
            if self.definition.is_async:
                result = await result
            return result  # type: ignore[no-any-return]
        return await execution.call_step(self.definition, args, kwargs)  # type: ignore[no-any-return]


class Workflow(Generic[P, R]):
    """A registered workflow; pass it to `App.start` or `Context.child`."""

    def __init__(self, definition: WorkflowDef) -> None:
        self.definition = definition
        self.__doc__ = definition.fn.__doc__
        self.__name__ = definition.name

    def __repr__(self) -> str:
        return f"Workflow({self.definition.name!r}, queue={self.definition.queue!r})"

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def queue(self) -> str:
        return self.definition.queue


class Registry:
    """Workflows and steps of one App, by name."""

    def __init__(self) -> None:
        self.workflows: dict[str, WorkflowDef] = {}
        self.steps: dict[str, StepDef] = {}
        self.schedules: dict[str, Declared] = {}
        self.rate_limits: dict[str, RateLimit] = {}

    def add_workflow(self, definition: WorkflowDef) -> None:
        if definition.name in self.workflows:
            raise ConfigurationError(f"a workflow named {definition.name!r} is already registered")
        self.workflows[definition.name] = definition

    def add_step(self, definition: StepDef) -> None:
        if definition.name in self.steps:
            raise ConfigurationError(f"a step named {definition.name!r} is already registered")
        self.steps[definition.name] = definition

    def workflow(self, name: str) -> WorkflowDef:
        try:
            return self.workflows[name]
        except KeyError:
            public = (n for n in self.workflows if not n.startswith("bosun."))
            known = ", ".join(sorted(public)) or "none"
            raise WorkflowNotFound(
                f"no workflow named {name!r} is registered (known: {known})"
            ) from None

    def resolve(self, workflow: Any) -> WorkflowDef:
        """Accept a Workflow object, its definition, or its name."""
        if isinstance(workflow, Workflow):
            return workflow.definition
        if isinstance(workflow, WorkflowDef):
            return workflow
        if isinstance(workflow, str):
            return self.workflow(workflow)
        raise ConfigurationError(
            f"expected a workflow (decorated with @app.workflow) or its name, got {workflow!r}"
        )

"""Typed extension points: the parts plug-ins give the runs a worker executes.

The engine knows no plug-in. A plug-in declares a key, typed by what its part is, next to
that part; the App's worker puts the part in the run environment under the key, and the
plug-in's code reads it back with its type:

```python
MODELS: Extension[Models] = Extension("bosun.agents.models")  # in bosun.agents.registry
env = RunEnvironment(..., extensions=Extensions().with_part(MODELS, app.models))
models = execution.env.extensions.get(MODELS)  # Models | None
```

Keys compare by identity, not by name, so two plug-ins never collide. `Extensions.later`
makes the parts on the first `get`: a plug-in's key is imported with the plug-in, so parts
made late cost nothing to runs that use no plug-in, and a worker of plain workflows never
imports the plug-ins at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar, cast

T = TypeVar("T")

__all__ = ["Extension", "Extensions"]


class Extension(Generic[T]):
    """The key of one plug-in's part, of type `T`; `name` is for messages and reprs."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Extension({self.name!r})"


class Extensions:
    """The parts plug-ins give runs, by key. Immutable: `with_part` returns a new one (a
    part itself may be a live object the App keeps changing)."""

    __slots__ = ("_made", "_make")

    def __init__(self) -> None:
        # Values are typed by their key: only `with_part` adds one, and only `get` reads one.
        self._made: dict[Extension[object], object] | None = {}
        self._make: Callable[[], Extensions] | None = None

    @classmethod
    def later(cls, make: Callable[[], Extensions]) -> Extensions:
        """The parts `make` returns, made when first asked for (once)."""
        deferred = cls()
        deferred._made, deferred._make = None, make
        return deferred

    @property
    def _parts(self) -> dict[Extension[object], object]:
        if self._made is None:
            assert self._make is not None
            self._made, self._make = self._make()._parts, None
        return self._made

    def with_part(self, key: Extension[T], part: T) -> Extensions:
        """These parts, with `part` under `key` (replacing what was there)."""
        extended = Extensions()
        extended._made = {**self._parts, cast("Extension[object]", key): part}
        return extended

    def get(self, key: Extension[T]) -> T | None:
        """The part under `key`, or None when no plug-in put one there."""
        part = self._parts.get(cast("Extension[object]", key))
        return None if part is None else cast(T, part)

    def __repr__(self) -> str:
        if self._made is None:
            return "Extensions(<not made yet>)"
        return f"Extensions({', '.join(key.name for key in self._made)})"

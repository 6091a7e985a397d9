"""The I/O commands a flow yields, and the descriptors that turn one flow into a blocking
method of `Client` and a coroutine method (or async iterator) of `AsyncClient`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

import httpx

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True)
class Send:
    """Send a request; the reply is its `httpx.Response`, unread when `stream` is set."""

    request: httpx.Request
    stream: bool = False


@dataclass(frozen=True)
class Read:
    """Read the next chunk of a streamed response; the reply is b"" at its end."""

    response: httpx.Response


@dataclass(frozen=True)
class Close:
    """Close a streamed response."""

    response: httpx.Response


@dataclass(frozen=True)
class Sleep:
    """Pause the flow (between retries); the reply is None."""

    seconds: float


@dataclass(frozen=True)
class Emit(Generic[T]):
    """Hand one item to the caller of an iterating operation."""

    item: T


IO = Send | Read | Close | Sleep
# A transport failure while a command is carried out is thrown into the flow.
Flow = Generator[IO, Any, R]
ItemFlow = Generator[IO | Emit[T], Any, None]


def returning(flow: Flow[R], box: list[R]) -> Generator[IO, Any, None]:
    """`flow`, with its return value put in `box`: the drivers run every flow with one
    iterating loop, and an (async) iterator cannot return a value."""
    box.append((yield from flow))


class BlockingDriver(Protocol):
    """What carries flows out blocking (`Client`): the descriptors bind to its methods."""

    def _run(self, flow: Flow[Any]) -> Any: ...
    def _iterate(self, flow: ItemFlow[Any]) -> Iterator[Any]: ...


class AsyncDriver(Protocol):
    """What carries flows out on an event loop (`AsyncClient`)."""

    async def _run(self, flow: Flow[Any]) -> Any: ...
    def _iterate(self, flow: ItemFlow[Any]) -> AsyncIterator[Any]: ...


class _Method:
    """What the two descriptors share: one reads like the flow it wraps in `help()` and
    `inspect.signature` (less the return annotation, which names the flow), and called
    through the class it acts as an unbound method."""

    def __init__(self, flow: Callable[..., Any], driver: str) -> None:
        self.flow, self._driver = flow, driver
        self.__name__, self.__qualname__ = flow.__name__, flow.__qualname__
        self.__doc__ = flow.__doc__
        signature = inspect.signature(flow)
        self.__signature__ = signature.replace(return_annotation=inspect.Signature.empty)

    def __call__(self, client: Any, *args: Any, **kwargs: Any) -> Any:
        return self._bind(client)(*args, **kwargs)

    def _bind(self, client: Any) -> Callable[..., Any]:
        carry_out = getattr(client, self._driver)  # the client's _run or _iterate
        flow = self.flow

        @functools.wraps(flow)
        def call(*args: Any, **kwargs: Any) -> Any:
            return carry_out(flow(client, *args, **kwargs))

        parameters = tuple(self.__signature__.parameters.values())[1:]
        call.__signature__ = self.__signature__.replace(parameters=parameters)  # type: ignore[attr-defined]
        return call


class Operation(_Method, Generic[P, R]):
    """An operation written once as a flow: a blocking method of `Client`, a coroutine
    method of `AsyncClient`."""

    def __init__(self, flow: Callable[Concatenate[Any, P], Flow[R]]) -> None:
        super().__init__(flow, "_run")

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Operation[P, R]: ...
    @overload
    def __get__(self, client: BlockingDriver, owner: type[Any]) -> Callable[P, R]: ...
    @overload
    def __get__(
        self, client: AsyncDriver, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    def __get__(self, client: BlockingDriver | AsyncDriver | None, owner: type[Any]) -> Any:
        return self if client is None else self._bind(client)


class ItemOperation(_Method, Generic[P, T]):
    """An operation that yields items: an iterator from `Client`, an async iterator from
    `AsyncClient`."""

    def __init__(self, flow: Callable[Concatenate[Any, P], ItemFlow[T]]) -> None:
        super().__init__(flow, "_iterate")

    @overload
    def __get__(self, client: None, owner: type[Any]) -> ItemOperation[P, T]: ...
    @overload
    def __get__(self, client: BlockingDriver, owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, client: AsyncDriver, owner: type[Any]) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, client: BlockingDriver | AsyncDriver | None, owner: type[Any]) -> Any:
        return self if client is None else self._bind(client)

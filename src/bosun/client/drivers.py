"""`Client` and `AsyncClient`: each carries out the commands of the shared flows, one with
blocking httpx calls and one with async ones; nothing else differs between them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx

from bosun.client.commands import IO, Close, Emit, Flow, ItemFlow, Read, Send, returning
from bosun.client.operations import Operations

R = TypeVar("R")
T = TypeVar("T")


class Client(Operations):
    """A blocking client of a bosun server.

    Args:
        url: the server's base URL, e.g. `http://127.0.0.1:8000`.
        api_key: a key from `bosun keys create` (sent as a bearer token).
        timeout: seconds to connect, send, or wait for the server (long polls and event
            streams wait longer on their own).
        transport: an httpx transport to use instead of the network (tests, proxies).
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, api_key, timeout)
        self._http = httpx.Client(transport=transport)

    def close(self) -> None:
        """Close the client's connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _run(self, flow: Flow[R]) -> R:
        box: list[R] = []
        for _ in self._iterate(returning(flow, box)):
            pass
        return box[0]

    def _iterate(self, flow: ItemFlow[T]) -> Iterator[T]:
        streams: dict[httpx.Response, Iterator[bytes]] = {}
        try:
            command = next(flow)
            while True:
                if isinstance(command, Emit):
                    yield command.item
                    command = next(flow)
                    continue
                try:
                    reply = self._carry_out(command, streams)
                except httpx.TransportError as exc:
                    command = flow.throw(exc)
                else:
                    command = flow.send(reply)
        except StopIteration:
            return
        finally:
            flow.close()
            for response in streams:
                response.close()

    def _carry_out(self, command: IO, streams: dict[httpx.Response, Iterator[bytes]]) -> Any:
        if isinstance(command, Send):
            response = self._http.send(command.request, stream=command.stream)
            if command.stream:
                streams[response] = response.iter_bytes()
            return response
        if isinstance(command, Read):
            return next(streams[command.response], b"")
        if isinstance(command, Close):
            del streams[command.response]
            command.response.close()
        else:
            time.sleep(command.seconds)
        return None


class AsyncClient(Operations):
    """An asyncio client of a bosun server; the same methods as `Client`, awaitable (and
    `events`/`iter_runs` are async iterators).

    Args:
        url: the server's base URL, e.g. `http://127.0.0.1:8000`.
        api_key: a key from `bosun keys create` (sent as a bearer token).
        timeout: seconds to connect, send, or wait for the server (long polls and event
            streams wait longer on their own).
        transport: an httpx transport to use instead of the network (tests, proxies).
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, api_key, timeout)
        self._http = httpx.AsyncClient(transport=transport)

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _run(self, flow: Flow[R]) -> R:
        box: list[R] = []
        async for _ in self._iterate(returning(flow, box)):
            pass
        return box[0]

    async def _iterate(self, flow: ItemFlow[T]) -> AsyncIterator[T]:
        streams: dict[httpx.Response, AsyncIterator[bytes]] = {}
        try:
            command = next(flow)
            while True:
                if isinstance(command, Emit):
                    yield command.item
                    command = next(flow)
                    continue
                try:
                    reply = await self._carry_out(command, streams)
                except httpx.TransportError as exc:
                    command = flow.throw(exc)
                else:
                    command = flow.send(reply)
        except StopIteration:
            return
        finally:
            flow.close()
            for response in streams:
                await response.aclose()

    async def _carry_out(
        self, command: IO, streams: dict[httpx.Response, AsyncIterator[bytes]]
    ) -> Any:
        if isinstance(command, Send):
            response = await self._http.send(command.request, stream=command.stream)
            if command.stream:
                streams[response] = response.aiter_bytes()
            return response
        if isinstance(command, Read):
            return await anext(streams[command.response], b"")
        if isinstance(command, Close):
            del streams[command.response]
            await command.response.aclose()
        else:
            await asyncio.sleep(command.seconds)
        return None

"""`ScriptedProvider`: a deterministic LLM for tests and the offline demo.

Like httpx's `MockTransport`, it is public API: it answers by rules, by a script, or both,
computes usage the same way every time, streams its replies word by word, and records every
request so a test can count calls.

```python
provider = ScriptedProvider(
    rules=[
        Rule("order", ScriptedProvider.tool_call("lookup_order", order_id=42)),
        Rule(re.compile(r'"status": "shipped"'), "Your order is on its way."),
    ],
    script=["Hello! How can I help?"],
)
```

For each call the rules are tried in order, and the first that matches answers; when none
does, the next script entry answers; when the script is used up too, the `fallback` answers if
one was given (an offline demo that should say something to any message), and otherwise the
call fails with a `ProviderError` that shows the message nothing matched (what a test wants to
see). A reply is text, a `Message`, a whole `ChatResponse`, an exception to raise (a
`ProviderRateLimited` to test back-off), or a function of the `ChatRequest` returning one of
those.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bosun.agents.errors import ProviderError, ProviderTimeout
from bosun.agents.messages import (
    ChatRequest,
    ChatResponse,
    Message,
    StreamDelta,
    ToolCall,
    Usage,
    estimate_tokens,
)
from bosun.agents.parts import describe

__all__ = ["Reply", "Rule", "ScriptedProvider", "hashed_embedding", "last_prompt_text"]

Answer = str | Message | ChatResponse | BaseException
Reply = Answer | Callable[[ChatRequest], Answer]
Matcher = str | re.Pattern[str] | Callable[[ChatRequest], bool]

_WORDS = re.compile(r"\s*\S+\s*|\s+")
_TOKENS = re.compile(r"\w+")


KEEP_CALLS = 10_000


def last_prompt_text(request: ChatRequest) -> str:
    """The text of the request's last `user` or `tool` message: what a rule matches. Its
    images and files are named in it too (`[image: image/png, 5120 bytes]`), so a rule can
    match them and a failed match shows them."""
    for message in reversed(request.messages):
        if message.role in ("user", "tool"):
            return "\n".join(describe(part) for part in message.parts)
    return ""


@dataclass(frozen=True)
class Rule:
    """When `when` matches a request, answer `reply`.

    Args:
        when: a substring of, or a compiled regular expression searched in, the last `user`
            or `tool` message; or a function of the whole `ChatRequest`.
        reply: the answer (see the module's docstring for its forms).
    """

    when: Matcher
    reply: Reply

    def matches(self, request: ChatRequest) -> bool:
        """Whether this rule answers `request`."""
        if isinstance(self.when, str):
            return self.when in last_prompt_text(request)
        if isinstance(self.when, re.Pattern):
            return self.when.search(last_prompt_text(request)) is not None
        return bool(self.when(request))


class ScriptedProvider:
    """A provider that answers from rules and a script, deterministically and offline.

    Args:
        rules: tried in order on every call; the first that matches answers.
        script: answers used one per call, in order, when no rule matches.
        fallback: the answer to every call that no rule and no script entry answers (a reply
            in any of the forms above; a function of the request can answer each message in
            its own way). None, the default, makes such a call fail with `ProviderError`.
        delay: seconds before each streamed word (and before a `chat` answer); a delay longer
            than a call's `idle_timeout` makes it fail with `ProviderTimeout`, as a stalled
            server would.
        embedding_dim: the length of the vectors `embed` returns.

    Attributes:
        calls: the chat requests received, in order (copies of the latest `KEEP_CALLS`, so a
            long-running demo does not grow without bound).
        embed_calls: the texts of the latest `embed` calls, in order.
    """

    def __init__(
        self,
        rules: Sequence[Rule] = (),
        script: Sequence[Reply] = (),
        *,
        fallback: Reply | None = None,
        delay: float = 0.0,
        embedding_dim: int = 64,
    ) -> None:
        self.rules = list(rules)
        self.script = list(script)
        self.fallback = fallback
        self.delay = delay
        self.embedding_dim = embedding_dim
        self.calls: deque[ChatRequest] = deque(maxlen=KEEP_CALLS)
        self.embed_calls: deque[list[str]] = deque(maxlen=KEEP_CALLS)
        self._position = 0

    @property
    def script_left(self) -> int:
        """How many script entries have not been used yet."""
        return len(self.script) - self._position

    @staticmethod
    def tool_call(name: str, /, **arguments: Any) -> Message:
        """An assistant message calling tool `name` with `arguments` (as keywords)."""
        return ScriptedProvider.tool_calls((name, arguments))

    @staticmethod
    def tool_calls(*calls: tuple[str, dict[str, Any]], content: str | None = None) -> Message:
        """An assistant message calling several tools at once (run in parallel).

        Call ids are left empty here and given when the message is replied, `call_<n>_<i>`
        for the `i`-th call of the provider's `n`-th answer, so they are unique and stable.
        """
        tool_calls = [
            ToolCall(id="", name=name, arguments=json.dumps(args)) for name, args in calls
        ]
        return Message.assistant(content, tool_calls)

    async def chat(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> ChatResponse:
        """The scripted answer to `request` (see `Provider.chat`)."""
        response = self._answer(request)
        await self._pause(idle_timeout)
        return response

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> AsyncIterator[StreamDelta | ChatResponse]:
        """The scripted answer's reasoning (if any) then its text, word by word (whitespace
        kept), then the answer."""
        response = self._answer(request)
        for word in _WORDS.findall(response.message.reasoning or ""):
            await self._pause(idle_timeout)
            yield StreamDelta(reasoning=word)
        for word in _WORDS.findall(response.message.text):
            await self._pause(idle_timeout)
            yield StreamDelta(text=word)
        yield response

    async def embed(self, model: str, texts: list[str]) -> tuple[list[list[float]], Usage]:
        """`hashed_embedding` of each text; similar wording gives nearby vectors."""
        self.embed_calls.append(list(texts))
        vectors = [hashed_embedding(text, self.embedding_dim) for text in texts]
        return vectors, Usage(prompt_tokens=sum(estimate_tokens(text) for text in texts))

    async def aclose(self) -> None:
        """Nothing to release."""

    def _answer(self, request: ChatRequest) -> ChatResponse:
        # The request's own list of messages may grow after the call (an agent's history):
        # keep a list of its own. The messages themselves are never changed once sent, so a
        # deep copy (most of a scripted call's cost) is not needed.
        self.calls.append(request.model_copy(update={"messages": list(request.messages)}))
        reply = self._pick(request)
        answer = reply(request) if callable(reply) else reply
        if isinstance(answer, BaseException):
            raise answer
        return self._response(request, answer)

    def _pick(self, request: ChatRequest) -> Reply:
        for rule in self.rules:
            if rule.matches(request):
                return rule.reply
        if self._position < len(self.script):
            self._position += 1
            return self.script[self._position - 1]
        if self.fallback is not None:
            return self.fallback
        raise ProviderError(
            f"ScriptedProvider has no answer for call {len(self.calls)}: no rule matches the "
            f"last user/tool message {last_prompt_text(request)[:200]!r} and the script "
            f"({len(self.script)} answers) is used up; add a Rule, a script entry or a "
            "fallback",
            retryable=False,
        )

    def _response(self, request: ChatRequest, answer: str | Message | ChatResponse) -> ChatResponse:
        if isinstance(answer, ChatResponse):
            return answer.model_copy(deep=True)
        message = Message.assistant(answer) if isinstance(answer, str) else answer
        calls = [
            call if call.id else call.model_copy(update={"id": f"call_{len(self.calls)}_{i}"})
            for i, call in enumerate(message.tool_calls)
        ]
        message = message.model_copy(update={"tool_calls": calls})
        prompt = estimate_tokens(request.messages) + sum(
            estimate_tokens(spec.model_dump_json()) for spec in request.tools
        )
        return ChatResponse(
            message=message,
            usage=Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(message)),
            finish_reason="tool_calls" if calls else "stop",
            model=request.model,
            raw_id=f"scripted-{len(self.calls)}",
        )

    async def _pause(self, idle_timeout: float | None) -> None:
        if idle_timeout is not None and self.delay > idle_timeout:
            await asyncio.sleep(idle_timeout)
            raise ProviderTimeout(
                f"ScriptedProvider sent nothing for {idle_timeout:g} s (idle timeout; its "
                f"delay is {self.delay:g} s)"
            )
        await asyncio.sleep(self.delay)


def hashed_embedding(text: str, dim: int = 64) -> list[float]:
    """A deterministic unit vector for `text`: its lower-cased words hashed into `dim`
    buckets with a sign (a bag of words), normalised. The zero vector for a text without
    words. Texts sharing words have a positive cosine similarity."""
    vector = [0.0] * dim
    for word in _TOKENS.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest[:4], "big") % dim
        vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector

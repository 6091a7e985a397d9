"""Structured output: read JSON out of what a model wrote, and check it against a type.

Models wrap JSON in code fences, put prose around it, and leave trailing commas;
`extract_json` reads through all of that. `validate` turns a model's text into a value of
the wanted type, or into a short list of what is wrong (field path and problem), written to
be sent back to the model so it can correct itself.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from typing import Any

from pydantic import PydanticUserError, TypeAdapter, ValidationError

from bosun.agents.errors import OutputParseError
from bosun.errors import ConfigurationError

__all__ = [
    "describe_validation_error",
    "error_list",
    "extract_json",
    "json_schema_for",
    "strict_schema",
    "validate",
]

_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)
_MAX_STARTS = 32  # opening brackets tried before giving up, so long prose stays linear-ish
_MAX_ERRORS = 20  # validation errors listed; a model needs the first few to fix its output
_EXCERPT = 80


def extract_json(text: str) -> Any:
    """The JSON value in a model's output.

    Tried in order: the whole text; the content of each ```` ``` ```` fence; each balanced
    `{…}` or `[…]` in the text, first one first. Trailing commas before `}` or `]` are
    forgiven. A bare scalar (`42`, `"yes"`, `true`) is accepted when it is the whole text.

    Raises:
        OutputParseError: nothing in the text parses; the message says where it went wrong.
    """
    stripped = text.strip()
    if not stripped:
        raise OutputParseError("the output is empty; expected a JSON value")
    try:
        return _loads(stripped)  # the usual case (tool arguments): no scan for spans
    except ValueError:
        pass
    candidates = [*_fenced(text), *_balanced(text)]
    problems: list[str] = []
    for candidate in candidates:
        try:
            return _loads(candidate)
        except ValueError as exc:
            problems.append(_describe(candidate, exc))
    if not candidates:
        raise OutputParseError(
            f"no JSON found in the output: it holds no '{{' or '[' and is not a JSON value "
            f"(the output begins {_short(stripped)})"
        )
    # The first fence or bracketed span is what the model meant as its answer.
    raise OutputParseError(f"the JSON in the output is malformed: {problems[0]}")


def validate(model_type: Any, text: str) -> tuple[Any, None] | tuple[None, str]:
    """Read `text` as a value of `model_type` (a pydantic model or any type pydantic knows).

    Returns:
        `(value, None)` on success, or `(None, problems)` where `problems` says what is
        wrong: unreadable JSON, or one line per field (`items[0].price: Input should be a
        valid number (got "abc")`), ready to be sent back to the model.
    """
    try:
        data = extract_json(text)
    except OutputParseError as exc:
        return None, str(exc)
    try:
        return _adapter(model_type).validate_python(data), None
    except ValidationError as exc:
        return None, describe_validation_error(exc)


def json_schema_for(model_type: Any) -> dict[str, Any]:
    """The JSON schema of `model_type`, as sent to a provider for structured output."""
    return _adapter(model_type).json_schema()


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` in the form OpenAI's strict mode (`"strict": true` on a
    `json_schema` response format or a tool) accepts: every object closed
    (`additionalProperties: false`) with all its properties required, `null` defaults
    dropped, and `$ref`s that carry other keywords inlined. The same rewrite as the `openai`
    SDK's `to_strict_json_schema`; a field with a default is then required, and a model
    that means "unset" writes its default or `null`."""
    copied = copy.deepcopy(schema)
    return _strict(copied, copied)


def _strict(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    for key in ("$defs", "definitions"):
        if isinstance(node.get(key), dict):
            node[key] = {name: _strict_any(sub, root) for name, sub in node[key].items()}
    if node.get("type") == "object" and "additionalProperties" not in node:
        node["additionalProperties"] = False
    if isinstance(node.get("properties"), dict):
        node["required"] = list(node["properties"])
        node["properties"] = {k: _strict_any(v, root) for k, v in node["properties"].items()}
    for key in ("items", "anyOf", "allOf"):
        if key in node:
            node[key] = _strict_any(node[key], root)
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        node.update(all_of[0])
        node.pop("allOf")
    if "default" in node and node["default"] is None:
        node.pop("default")
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1:  # `$ref` beside other keywords: inline it
        resolved = _resolve(root, ref)
        node.update({**copy.deepcopy(resolved), **node})
        node.pop("$ref")
        return _strict(node, root)
    return node


def _strict_any(value: Any, root: dict[str, Any]) -> Any:
    """`_strict` applied to a schema, or to each schema of a list."""
    if isinstance(value, dict):
        return _strict(value, root)
    if isinstance(value, list):
        return [_strict(item, root) if isinstance(item, dict) else item for item in value]
    return value


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ConfigurationError(f"JSON schema $ref {ref!r} does not point into the schema")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        raise ConfigurationError(f"JSON schema $ref {ref!r} points at nothing")
    return node


def error_list(error: ValidationError) -> list[tuple[str, str]]:
    """`(field path, problem)` for each error; the path reads like `items[0].price`."""
    pairs: list[tuple[str, str]] = []
    for item in error.errors(include_url=False):
        problem = item["msg"]
        if item["type"] not in ("missing", "extra_forbidden"):
            problem += f" (got {_short(item.get('input'))})"
        pairs.append((_path(item["loc"]), problem))
    return pairs


def describe_validation_error(error: ValidationError) -> str:
    """A compact, readable list of a validation error's problems, one field per line."""
    pairs = error_list(error)
    lines = [f"- {path or '(the whole value)'}: {problem}" for path, problem in pairs]
    if len(lines) > _MAX_ERRORS:
        lines = [*lines[:_MAX_ERRORS], f"- … and {len(lines) - _MAX_ERRORS} more"]
    noun = "error" if len(pairs) == 1 else "errors"
    return f"{len(pairs)} validation {noun}:\n" + "\n".join(lines)


# -- extraction -------------------------------------------------------------------------------


def _loads(candidate: str) -> Any:
    try:
        return json.loads(candidate)
    except ValueError as first:
        repaired = _without_trailing_commas(candidate)
        if repaired == candidate:
            raise
        try:
            return json.loads(repaired)
        except ValueError:
            raise first from None


def _fenced(text: str) -> list[str]:
    return [match.group(1).strip() for match in _FENCE.finditer(text)]


def _outside_strings(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """Each character outside JSON strings, and the quote that opens each string."""
    in_string = escaped = False
    for i in range(start, len(text)):
        char = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        else:
            in_string = char == '"'
            yield i, char


def _balanced(text: str) -> list[str]:
    """Each `{…}`/`[…]` span whose brackets balance, by opening position; an unbalanced
    tail (output cut short) is kept too, so its parse error can be reported."""
    spans: list[str] = []
    starts = [i for i, char in _outside_strings(text) if char in "{["][:_MAX_STARTS]
    for start in starts:
        end = _closing(text, start)
        spans.append(text[start:end] if end is not None else text[start:])
    return spans


def _closing(text: str, start: int) -> int | None:
    pairs = {"}": "{", "]": "["}
    stack: list[str] = []
    for i, char in _outside_strings(text, start):
        if char in "{[":
            stack.append(char)
        elif char in pairs:
            if not stack or stack.pop() != pairs[char]:
                return None
            if not stack:
                return i + 1
    return None


def _without_trailing_commas(text: str) -> str:
    drop: list[int] = []
    comma: int | None = None
    for i, char in _outside_strings(text):
        if char.isspace():
            continue
        if comma is not None and char in "}]":
            drop.append(comma)
        comma = i if char == "," else None
    for i in reversed(drop):
        text = text[:i] + text[i + 1 :]
    return text


def _describe(candidate: str, exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        near = candidate[max(0, exc.pos - 20) : exc.pos + 20]
        where = f"{exc.msg} at line {exc.lineno} column {exc.colno}, near {near!r}"
        if exc.pos >= len(candidate.rstrip()):
            where += " (the JSON ends before it is complete: was the output cut short?)"
        return where
    return str(exc)


# -- validation -------------------------------------------------------------------------------


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except ValueError:  # circular references
        text = repr(value)
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def _adapter(model_type: Any) -> TypeAdapter[Any]:
    try:
        hash(model_type)
    except TypeError:
        return _new_adapter(model_type)
    return _cached_adapter(model_type)


@functools.lru_cache(maxsize=256)
def _cached_adapter(model_type: Any) -> TypeAdapter[Any]:
    return _new_adapter(model_type)


def _new_adapter(model_type: Any) -> TypeAdapter[Any]:
    try:
        return TypeAdapter(model_type)
    except PydanticUserError as exc:
        raise ConfigurationError(
            f"{model_type!r} cannot be used as a structured output type: {exc}; use a pydantic "
            f"model, a dataclass, a TypedDict or standard types"
        ) from exc

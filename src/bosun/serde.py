"""JSON payloads: values go in and out of the store through their type hints, under one
policy for every boundary.

Pydantic models, dataclasses, datetimes and the like round-trip when the function that
produces or takes them is annotated; unannotated values are stored as plain JSON.

The policy: JSON has no NaN or Infinity, so neither goes in. Text from outside (request
bodies, CLI options) is parsed with `loads`, which refuses the `NaN`/`Infinity` tokens and
numbers too large for a float; values are written with `dump` (typed payloads: inputs,
results, step outputs, signals, events) or `dumps` (plain data: session state and metadata,
memories), which refuse a non-finite float. Every refusal is a `NonFiniteNumber` (a
`SerializationError` and a `ValueError`) naming the value's path (`metadata.score`), raised
before anything is written. Stored text is read back for display with `read_stored`, which
shows a non-finite number that rows written before this policy may hold as null (and logs a
warning) rather than fail a whole listing.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bosun.errors import (
    InvalidArguments,
    NonFiniteNumber,
    PayloadTooLarge,
    SerializationError,
)

if TYPE_CHECKING:
    from pydantic import TypeAdapter

# pydantic is imported when a value or a hint needs it, not with bosun: a worker of plain
# workflows (JSON in, JSON out) never does, and starts ~45 ms sooner (a serverless cold start).

log = logging.getLogger("bosun.serde")

_ANY: Any = Any
_SCALARS = (str, int, bool, type(None))
# Hints a JSON value of exactly that type already satisfies: no pydantic adapter is built for
# them (the first one costs a plug-in scan, noticeable at a worker's cold start).
_EXACT = frozenset({str, int, float, bool})


_STRICT = json.JSONEncoder(allow_nan=False).encode  # one encoder, not one per value
_COMPACT = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
# Plain dicts and lists written as pydantic's `to_json` writes them (compact, UTF-8 as is).
_PLAIN = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


class _NonFiniteToken(ValueError):
    """A `NaN`, `Infinity` or `-Infinity` token (or a number too large for a float) met by
    the strict parser."""


def _refuse_token(token: str) -> Any:
    raise _NonFiniteToken(token)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as Infinity
        raise _NonFiniteToken(text)
    return value


def _token(value: float) -> str:
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _child_path(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _children(value: Any) -> Iterable[tuple[object, Any]]:
    if isinstance(value, dict):
        return value.items()
    if isinstance(value, list | tuple | set | frozenset):
        return enumerate(value)
    if _is_model(value):
        return {**value.__dict__, **(value.__pydantic_extra__ or {})}.items()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
    return ()


def _first_non_finite(value: Any, root: str = "") -> tuple[str, float] | None:
    """The path (`root.a.b[2]`) and value of the first NaN or ±Infinity in `value` (plain
    data, pydantic models and dataclasses, however nested), or None when it holds none."""
    stack: list[tuple[str, Any]] = [(root, value)]
    seen: set[int] = set()
    while stack:
        path, item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return path, item
            continue
        if isinstance(item, str | int) or item is None or id(item) in seen:
            continue
        seen.add(id(item))
        children = list(_children(item))
        for key, _ in children:
            if isinstance(key, float) and not math.isfinite(key):
                return _child_path(path, _token(key)), key
        stack.extend((_child_path(path, key), child) for key, child in reversed(children))
    return None


def _is_model(value: Any) -> bool:
    """Whether `value` is a pydantic model: only where pydantic was imported can one be."""
    main = sys.modules.get("pydantic.main")
    return main is not None and isinstance(value, main.BaseModel)


def _holds_non_finite(value: Any) -> bool:
    """Whether `value` holds a NaN or ±Infinity: `_first_non_finite` without the paths,
    quick enough to run over every payload whose JSON could hide one."""
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is float:
            if not math.isfinite(item):
                return True
        elif kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is str or kind is int or kind is bool or item is None:
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif id(item) not in seen:
            seen.add(id(item))
            stack.extend(child for _, child in _children(item))
    return False


def check_finite(value: Any, where: str, *, root: str = "") -> None:
    """Refuse a value holding NaN or ±Infinity with `NonFiniteNumber` naming its path."""
    found = _first_non_finite(value, root)
    if found is not None:
        raise NonFiniteNumber(where, found[0], _token(found[1]))


def dumps(value: Any, where: str, *, root: str = "") -> str:
    """Plain JSON data (dicts, lists, strings, finite numbers, booleans, None) as compact
    JSON text. `NonFiniteNumber` names `where` and the path (under `root`) of a NaN or
    ±Infinity; `SerializationError` says why another value is not JSON."""
    try:
        return _COMPACT(value)
    except (TypeError, ValueError) as exc:
        check_finite(value, where, root=root)
        raise SerializationError(f"{where}: cannot store the value as JSON ({exc})") from None


def loads(text: str | bytes, where: str) -> Any:
    """Parse JSON text from outside bosun (a request body, a CLI option) strictly: the
    `NaN`, `Infinity` and `-Infinity` tokens and numbers too large for a float are refused
    with `NonFiniteNumber` naming their path. Malformed text raises
    `json.JSONDecodeError`, nesting too deep for the parser `RecursionError`."""
    try:
        return json.loads(text, parse_constant=_refuse_token, parse_float=_finite_float)
    except _NonFiniteToken as exc:
        found = _first_non_finite(json.loads(text))  # parse again, leniently, to find it
        path, value = found if found is not None else ("", float(str(exc)))
        raise NonFiniteNumber(where, path, _token(value)) from None


def read_stored(text: str | None, where: str) -> Any:
    """Stored JSON text back to data, for the API, webhooks and the CLI to show. Rows
    written before bosun refused non-finite numbers may hold a `NaN` or `Infinity`: it is
    shown as null, with a warning naming `where`, so one such row cannot break a listing
    (strict JSON encoders, browsers' `JSON.parse` included, would refuse it)."""
    if text is None:
        return None
    if "NaN" not in text and "Infinity" not in text:  # the common case: nothing to replace
        return json.loads(text)
    replaced: list[str] = []

    def constant(token: str) -> None:
        replaced.append(token)

    value = json.loads(text, parse_constant=constant)
    if replaced:
        log.warning(
            "%s holds %s, which is not JSON (written before bosun refused it); shown as null",
            where,
            ", ".join(sorted(set(replaced))),
        )
    return value


@functools.lru_cache(maxsize=1024)
def _adapter(hint: Any) -> TypeAdapter[Any]:
    from pydantic import TypeAdapter

    return TypeAdapter(hint)


def _adapter_for(hint: Any, where: str) -> TypeAdapter[Any]:
    """`_adapter(hint)`, or a `SerializationError` naming `where` for a type pydantic cannot
    read or write as JSON (a plain class): pydantic's own advice (`arbitrary_types_allowed`)
    fits a model, not a bosun hint."""
    from pydantic.errors import PydanticSchemaGenerationError

    try:
        return _adapter(hint)
    except PydanticSchemaGenerationError:
        name = getattr(hint, "__qualname__", None) or repr(hint)
        raise SerializationError(
            f"{where}: values of type {name} cannot be stored as JSON; use JSON-compatible "
            "types, pydantic models or dataclasses (or leave the type out)"
        ) from None


def _to_json(value: Any) -> bytes:
    from pydantic_core import to_json

    return to_json(value)


@functools.cache
def _serialization_errors() -> tuple[type[Exception], ...]:
    from pydantic_core import PydanticSerializationError

    return (PydanticSerializationError, TypeError, ValueError)


def _is_plain(hint: Any) -> bool:
    return hint is _ANY or hint is None or hint is type(None)


def dump(value: Any, hint: Any, where: str) -> str:
    """Serialise `value` to JSON text; `where` names the step or workflow in the error.

    A NaN or ±Infinity anywhere in it is a `NonFiniteNumber` naming its path."""
    if type(value) in _SCALARS or (type(value) is float and math.isfinite(value)):
        if type(value) is str and not value.isascii():
            _check_unicode(value, where)  # escaped as \udXXX it would pass as ASCII
        return _STRICT(value)
    if _is_plain(hint) and (type(value) is dict or type(value) is list):
        try:
            text: str | None = _PLAIN(value)
        except (TypeError, ValueError):
            text = None  # not plain JSON (a model inside, a NaN): pydantic writes it or says why
        if text is not None:
            if not text.isascii():
                _check_unicode(text, where)  # a lone surrogate cannot be stored
            return text
    failed = _serialization_errors()
    try:
        if _is_plain(hint):
            data = _to_json(value)
        else:
            adapter = _adapter_for(hint, where)
            try:
                data = adapter.dump_json(value, warnings="error")
            except failed:
                # A value that does not match its hint still serialises if it can.
                data = _to_json(value)
    except failed as exc:
        raise SerializationError(
            f"{where}: cannot store a value of type {type(value).__qualname__} as JSON "
            f"({exc}); return JSON-compatible data, a pydantic model or a dataclass"
        ) from exc
    # pydantic writes a non-finite float as a NaN/Infinity token, or as null where a model's
    # config says so: only output holding one of those can hide one, so only it is searched.
    if (b"null" in data or b"NaN" in data or b"Infinity" in data) and _holds_non_finite(value):
        check_finite(value, where)
    return data.decode()


def load(text: str | None, hint: Any) -> Any:
    """Parse JSON text and validate it against `hint` (so models come back as models)."""
    if text is None:
        return None
    plain = json.loads(text)
    if _is_plain(hint) or (type(plain) is hint and hint in _EXACT):
        return plain
    return _adapter(hint).validate_python(plain)


def validate(value: Any, hint: Any, where: str) -> Any:
    """Validate a caller-supplied value against a parameter hint."""
    if _is_plain(hint) or (type(value) is hint and hint in _EXACT):
        return value
    from pydantic import ValidationError

    adapter = _adapter_for(hint, where)
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise InvalidArguments(f"{where}: {exc}") from exc


def _check_unicode(text: str, where: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise SerializationError(
            f"{where}: the value holds text that is not valid Unicode ({exc.reason} at "
            f"position {exc.start})"
        ) from None


def check_size(text: str, limit: int | None, where: str) -> str:
    """Refuse a serialised payload over `limit` bytes, or one that is not valid Unicode (a
    lone surrogate cannot be stored or sent), naming where it came from."""
    if not text.isascii():
        _check_unicode(text, where)
    if limit is not None and len(text) > limit:
        size = len(text.encode())
        if size > limit:
            raise PayloadTooLarge(
                f"{where}: payload of {size} bytes exceeds the limit of {limit} bytes; store "
                "large data elsewhere (object storage, a file) and pass a reference, or raise "
                "App(max_payload_bytes=…)"
            )
    return text

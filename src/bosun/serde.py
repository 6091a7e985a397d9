"""JSON payloads: values go in and out of the store through their type hints.

Pydantic models, dataclasses, datetimes and the like round-trip when the function that
produces or takes them is annotated; unannotated values are stored as plain JSON.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_json

from bosun.errors import InvalidArguments, PayloadTooLarge, SerializationError

_ANY: Any = Any
_SCALARS = (str, int, bool, type(None))


_STRICT = json.JSONEncoder(allow_nan=False).encode  # one encoder, not one per value


@functools.lru_cache(maxsize=1024)
def _adapter(hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(hint)


def _is_plain(hint: Any) -> bool:
    return hint is _ANY or hint is None or hint is type(None)


def dump(value: Any, hint: Any, where: str) -> str:
    """Serialise `value` to JSON text; `where` names the step or workflow in the error."""
    try:
        if type(value) in _SCALARS:
            return _STRICT(value)
        if _is_plain(hint):
            return to_json(value).decode()
        try:
            return _adapter(hint).dump_json(value, warnings="error").decode()
        except (PydanticSerializationError, TypeError, ValueError):
            # A value that does not match its hint still serialises if it can.
            return to_json(value).decode()
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise SerializationError(
            f"{where}: cannot store a value of type {type(value).__qualname__} as JSON "
            f"({exc}); return JSON-compatible data, a pydantic model or a dataclass"
        ) from exc


def load(text: str | None, hint: Any) -> Any:
    """Parse JSON text and validate it against `hint` (so models come back as models)."""
    if text is None:
        return None
    plain = json.loads(text)
    if _is_plain(hint):
        return plain
    return _adapter(hint).validate_python(plain)


def validate(value: Any, hint: Any, where: str) -> Any:
    """Validate a caller-supplied value against a parameter hint."""
    if _is_plain(hint):
        return value
    try:
        return _adapter(hint).validate_python(value)
    except ValidationError as exc:
        raise InvalidArguments(f"{where}: {exc}") from exc


def check_size(text: str, limit: int | None, where: str) -> str:
    """Refuse a serialised payload over `limit` bytes, or one that is not valid Unicode (a
    lone surrogate cannot be stored or sent), naming where it came from."""
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError as exc:
            raise SerializationError(
                f"{where}: the value holds text that is not valid Unicode ({exc.reason} at "
                f"position {exc.start})"
            ) from None
    if limit is not None and len(text) > limit:
        size = len(text.encode())
        if size > limit:
            raise PayloadTooLarge(
                f"{where}: payload of {size} bytes exceeds the limit of {limit} bytes; store "
                "large data elsewhere (object storage, a file) and pass a reference, or raise "
                "App(max_payload_bytes=…)"
            )
    return text

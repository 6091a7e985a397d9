"""Check a JSON value against a tool's JSON schema, where the tool's function is not at hand.

The API checks a human's edited tool-call arguments (`bosun.agents.approvals`) against the
schema the run recorded with the call, so that a bad edit is refused at once, before the run
sees it. The checking is `jsonschema`'s (the schema's own `$schema` dialect, 2020-12 when it
names none); formats are not asserted, as the tools' own checks do not either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["schema_errors"]


def schema_errors(schema: Mapping[str, Any], value: Any) -> list[tuple[str, str]]:
    """What in `value` does not fit `schema`, as (path, problem) pairs: `lines[0].sku`,
    `'sku' is a required property`; the path is empty for the value itself. A schema that
    is not valid JSON schema checks nothing here (the tool's own check still runs)."""
    # Imported here: jsonschema costs ~70 ms to import, and `bosun runs show` (which lists
    # pending approvals through this module) checks no schema.
    from jsonschema import validators
    from jsonschema.exceptions import SchemaError

    document = dict(schema)
    validator_class = validators.validator_for(document)
    try:
        validator_class.check_schema(document)
    except SchemaError:
        return []
    validator = validator_class(document)
    problems = [
        (_path(error.absolute_path), error.message) for error in validator.iter_errors(value)
    ]
    return sorted(problems)


def _path(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path

"""Tolerant JSON extraction from model output, validation errors written for the model."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel

from bosun.agents.errors import OutputParseError
from bosun.agents.structured import extract_json, json_schema_for, validate
from bosun.errors import BosunError, ConfigurationError


class Line(BaseModel):
    sku: str
    qty: int = 1


class Order(BaseModel):
    id: int
    status: Literal["open", "shipped"]
    lines: list[Line]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2, 3]\n", [1, 2, 3]),
        ("42", 42),
        ('"just a string"', "just a string"),
        ("true", True),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('```\n[{"a": 1}]\n```', [{"a": 1}]),
        ('Sure! Here is the JSON:\n```json\n{"a": 1}\n```\nLet me know.', {"a": 1}),
        ('The answer is {"a": {"b": [1, 2]}} as requested.', {"a": {"b": [1, 2]}}),
        ('{"a": [1, 2,], "b": {"c": 3,},}', {"a": [1, 2], "b": {"c": 3}}),
        ('```json\n{\n  "a": 1,\n}\n```', {"a": 1}),
        ('{"text": "commas, and braces } ] stay,"}', {"text": "commas, and braces } ] stay,"}),
        ('{"q": "say \\"hi\\" {", "n": 1,}', {"q": 'say "hi" {', "n": 1}),
        ('Use {curly} braces like this: {"a": 1}', {"a": 1}),
        ('[1, "a,", ]', [1, "a,"]),
    ],
)
def test_extract_json_reads_through_fences_prose_and_trailing_commas(
    text: str, expected: Any
) -> None:
    assert extract_json(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the output is empty"),
        ("   \n", "the output is empty"),
        ("I cannot help with that.", r"no JSON found .* begins \"I cannot help with that.\""),
        ('```json\n{"a" 1}\n```', r"malformed: Expecting ':' delimiter at line 1 column 6"),
        ('Here: {"a": 1, "b": [1, 2', "ends before it is complete: was the output cut short"),
    ],
)
def test_extract_json_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(OutputParseError, match=message) as caught:
        extract_json(text)
    assert isinstance(caught.value, BosunError) and isinstance(caught.value, ValueError)


def test_validate_returns_the_value() -> None:
    text = 'Done:\n```json\n{"id": "7", "status": "open", "lines": [{"sku": "A"},]}\n```'
    value, problems = validate(Order, text)
    assert problems is None
    assert value == Order(id=7, status="open", lines=[Line(sku="A", qty=1)])
    assert validate(list[int], "[1, 2]") == ([1, 2], None)
    assert validate(int | None, "null") == (None, None)


def test_validate_lists_each_problem_with_its_path() -> None:
    text = '{"status": "lost", "lines": [{"sku": "A", "qty": "many"}, {}]}'
    value, problems = validate(Order, text)
    assert value is None
    assert problems == (
        "4 validation errors:\n"
        "- id: Field required\n"
        "- status: Input should be 'open' or 'shipped' (got \"lost\")\n"
        "- lines[0].qty: Input should be a valid integer, unable to parse string as an integer "
        '(got "many")\n'
        "- lines[1].sku: Field required"
    )


def test_validate_reports_unreadable_json_and_root_errors() -> None:
    assert validate(Order, "no json here") == (
        None,
        "no JSON found in the output: it holds no '{' or '[' and is not a JSON value "
        '(the output begins "no json here")',
    )
    value, problems = validate(list[int], '{"a": 1}')
    assert value is None
    assert (
        problems
        == '1 validation error:\n- (the whole value): Input should be a valid list (got {"a": 1})'
    )


def test_long_inputs_and_many_errors_are_cut_short() -> None:
    value, problems = validate(list[int], str(["x" * 200] * 30).replace("'", '"'))
    assert value is None and problems is not None
    lines = problems.splitlines()
    assert lines[0] == "30 validation errors:"
    assert len(lines) == 1 + 20 + 1
    assert lines[-1] == "- … and 10 more"
    assert lines[1].endswith("…)") and len(lines[1]) < 200


def test_json_schema_for_models_and_types() -> None:
    schema = json_schema_for(Order)
    assert schema["type"] == "object"
    assert schema["required"] == ["id", "status", "lines"]
    assert schema["properties"]["status"] == {
        "enum": ["open", "shipped"],
        "title": "Status",
        "type": "string",
    }
    assert json_schema_for(list[int]) == {"items": {"type": "integer"}, "type": "array"}


def test_an_unsupported_type_is_a_configuration_error() -> None:
    class Opaque:
        pass

    with pytest.raises(ConfigurationError, match="cannot be used as a structured output type"):
        json_schema_for(Opaque)

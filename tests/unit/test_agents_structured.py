"""Tolerant JSON extraction from model output, validation errors written for the model."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from bosun.agents.errors import OutputParseError
from bosun.agents.structured import extract_json, json_schema_for, strict_schema, validate
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


# -- the schema as sent: strict mode, and where the instruction goes ---------------------------


class Address(BaseModel):
    street: str
    city: str | None = None


class Customer(BaseModel):
    """A customer."""

    name: str
    tags: list[str] = []
    home: Address
    work: Address | None = None
    billing: Address = Field(description="where invoices go")  # a $ref beside a keyword
    kind: Literal["person", "company"] = "person"


@pytest.mark.parametrize("model", [Customer, Address, Order])
def test_strict_schemas_are_written_as_the_openai_sdk_writes_them(model: type[BaseModel]) -> None:
    from openai.lib._pydantic import to_strict_json_schema

    schema = json_schema_for(model)
    before = json.dumps(schema, sort_keys=True)
    assert strict_schema(schema) == to_strict_json_schema(model)
    assert json.dumps(schema, sort_keys=True) == before  # the input is left as it was


def test_the_schema_instruction_goes_where_every_chat_template_accepts_it() -> None:
    from bosun.agents.llm import with_schema_instruction
    from bosun.agents.messages import Message

    schema = json_schema_for(Line)

    def written(message: Message) -> Any:
        text = message.content or ""
        return json.loads(text[text.index("{") :])

    # A leading system message takes it; nothing comes after the user's message.
    first = [Message.system("Be brief."), Message.user("Order?")]
    sent = with_schema_instruction(first, schema)
    assert [m.role for m in sent] == ["system", "user"]
    assert sent[0].content.startswith("Be brief.\n\n") and written(sent[0]) == schema
    assert sent[1] == first[1] and first[0].content == "Be brief."  # the caller's list kept
    # Without one, the last user message takes it (Gemma's and Mistral's templates reject
    # a system message anywhere but first).
    repair = [
        Message.user("Order?"),
        Message.assistant("{oops"),
        Message.user("That answer does not fit."),
    ]
    sent = with_schema_instruction(repair, schema)
    assert [m.role for m in sent] == ["user", "assistant", "user"]
    assert sent[0] == repair[0] and written(sent[2]) == schema
    # No user message at all: a system message put first.
    sent = with_schema_instruction([Message.assistant("hello")], schema)
    assert [m.role for m in sent] == ["system", "assistant"] and written(sent[0]) == schema

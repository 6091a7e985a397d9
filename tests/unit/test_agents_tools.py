"""Tool schemas from type hints and docstrings; model arguments checked before a call."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel

import bosun
from bosun.agents.errors import InvalidToolArguments
from bosun.agents.tools import call_arguments, tool_spec, wants_context
from bosun.errors import ConfigurationError


class Address(BaseModel):
    city: str
    zip: str | None = None


def lookup_order(order_id: int, include_lines: bool = False) -> dict[str, Any]:
    """Look an order up by its number.

    Use it before answering any question about an order.

    Args:
        order_id: the number printed on the
            receipt, without the leading '#'.
        include_lines (bool): also return the order's lines.

    Returns:
        The order.
    """
    return {"id": order_id, "lines": include_lines}


async def ship(
    ctx: bosun.Context,
    address: Address,
    speed: Literal["standard", "express"] = "standard",
    notes: list[str] | None = None,
) -> str:
    """Ship to an address."""
    return "ok"


def test_schema_from_hints_and_google_docstring() -> None:
    spec = tool_spec(lookup_order)
    assert spec.name == "lookup_order"
    assert spec.description == (
        "Look an order up by its number.\n\nUse it before answering any question about an order."
    )
    assert spec.parameters == {
        "additionalProperties": False,
        "properties": {
            "order_id": {
                "description": "the number printed on the receipt, without the leading '#'.",
                "type": "integer",
            },
            "include_lines": {
                "default": False,
                "description": "also return the order's lines.",
                "type": "boolean",
            },
        },
        "required": ["order_id"],
        "type": "object",
    }


def test_async_tool_skips_the_context_and_describes_nested_models() -> None:
    spec = tool_spec(ship)
    assert spec.description == "Ship to an address."
    props = spec.parameters["properties"]
    assert list(props) == ["address", "speed", "notes"]
    assert props["address"] == {"$ref": "#/$defs/Address"}
    assert props["speed"] == {
        "default": "standard",
        "enum": ["standard", "express"],
        "type": "string",
    }
    assert spec.parameters["required"] == ["address"]
    assert spec.parameters["$defs"]["Address"]["required"] == ["city"]
    assert wants_context(ship) and not wants_context(lookup_order)


def test_context_is_recognised_even_when_only_imported_for_type_checking() -> None:
    namespace: dict[str, Any] = {}
    exec(  # a module that imports Context under TYPE_CHECKING only
        "from __future__ import annotations\n"
        "def greet(ctx: Context, name: str) -> str:\n"
        "    return name\n",
        namespace,
    )
    spec = tool_spec(namespace["greet"])
    assert list(spec.parameters["properties"]) == ["name"]


def test_names_descriptions_and_awkward_parameter_names() -> None:
    def tool(json: str, schema: int = 1, model_config: bool = True, **extra: Any) -> None:
        pass

    spec = tool_spec(tool, name="my-tool", description="Does things.")
    assert (spec.name, spec.description) == ("my-tool", "Does things.")
    assert list(spec.parameters["properties"]) == ["json", "schema", "model_config"]
    assert call_arguments(tool, '{"json": "x", "schema": "2"}') == {"json": "x", "schema": 2}


@pytest.mark.parametrize("name", ["has space", "", "x" * 65, "dots.not.allowed"])
def test_invalid_tool_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="not a valid tool name"):
        tool_spec(lookup_order, name=name)


def test_unsupported_signatures_are_refused() -> None:
    def star(*items: int) -> None:
        pass

    def positional(a: int, /) -> None:
        pass

    for fn in (star, positional):
        with pytest.raises(ConfigurationError, match="passes arguments by name"):
            tool_spec(fn)

    namespace: dict[str, Any] = {}
    exec("from __future__ import annotations\ndef f(x: Missing) -> None: pass\n", namespace)
    with pytest.raises(ConfigurationError, match="cannot read the type hints"):
        tool_spec(namespace["f"])


def test_call_arguments_coerces_and_leaves_defaults_to_the_function() -> None:
    assert call_arguments(lookup_order, '{"order_id": "42"}') == {"order_id": 42}
    arguments = call_arguments(ship, '{"address": {"city": "Oslo"}, "notes": ["fragile",]}')
    assert arguments == {"address": Address(city="Oslo"), "notes": ["fragile"]}
    assert isinstance(arguments["address"], Address)


def test_call_arguments_names_each_bad_field() -> None:
    with pytest.raises(InvalidToolArguments) as caught:
        call_arguments(ship, '{"address": {}, "speed": "warp", "colour": "red"}')
    error = caught.value
    assert error.tool == "ship"
    assert [path for path, _ in error.errors] == ["address.city", "speed", "colour"]
    assert str(error) == (
        "invalid arguments for tool 'ship'; fix them and call it again:\n"
        "- address.city: Field required\n"
        "- speed: Input should be 'standard' or 'express' (got \"warp\")\n"
        "- colour: Extra inputs are not permitted"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("", r"- order_id: Field required"),
        ("{}", r"- order_id: Field required"),
        ('{"order_id": "abc"}', r"- order_id: Input should be a valid integer"),
        ("[1]", r"- \(arguments\): the arguments must be a JSON object, not list"),
        ('{"order_id": 1', r"- \(arguments\): the arguments are not valid JSON"),
    ],
)
def test_call_arguments_rejects_bad_json(arguments: str, message: str) -> None:
    with pytest.raises(InvalidToolArguments, match=message) as caught:
        call_arguments(lookup_order, arguments)
    assert isinstance(caught.value, ValueError)

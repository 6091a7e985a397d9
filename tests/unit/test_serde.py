from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from bosun import InvalidArguments, SerializationError, serde


class Order(BaseModel):
    id: str
    total: float
    placed: datetime


@dataclass
class Point:
    x: int
    y: int


def test_pydantic_models_round_trip_through_their_hint() -> None:
    order = Order(id="A1", total=9.5, placed=datetime(2026, 1, 2, tzinfo=UTC))
    text = serde.dump(order, Order, "step 'fetch'")
    back = serde.load(text, Order)
    assert isinstance(back, Order)
    assert back == order


def test_containers_of_models_and_dataclasses_round_trip() -> None:
    text = serde.dump([Point(1, 2)], list[Point], "step 'p'")
    assert serde.load(text, list[Point]) == [Point(1, 2)]


def test_plain_values_without_hints_are_json() -> None:
    assert serde.load(serde.dump({"a": [1, "x", None]}, None, "w"), None) == {"a": [1, "x", None]}


def test_unserialisable_value_names_the_step_and_type() -> None:
    class Socket:
        pass

    with pytest.raises(SerializationError) as info:
        serde.dump(Socket(), None, "step 'connect'")
    assert "step 'connect'" in str(info.value)
    assert "Socket" in str(info.value)


def test_validate_reports_where() -> None:
    with pytest.raises(InvalidArguments, match="argument 'count'"):
        serde.validate("many", int, "argument 'count'")

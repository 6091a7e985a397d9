import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from bosun import InvalidArguments, SerializationError, serde
from bosun.errors import NonFiniteNumber
from bosun.store.rows import compact_json


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


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, "x", None, True, 2.5]},
        [{"é": "ü ∑ 🙂"}, [], {}],
        {"big": 2**70, "neg": -(2**63), "tiny": 5e-324, "k": {"1": [0.1, -0.0]}},
        {"a": (1, 2), "b": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},  # not plain JSON
        [Point(1, 2)],  # a dataclass inside: pydantic writes it
    ],
)
def test_plain_data_is_written_as_pydantic_writes_it(value: object) -> None:
    """Plain dicts and lists go through the json module (pydantic stays unimported for a
    worker of plain workflows); what is written reads back as pydantic's own output does."""
    from pydantic_core import to_json

    written = serde.dump(value, None, "w")
    assert json.loads(written) == json.loads(to_json(value))
    assert "\\u" not in written  # UTF-8 as is, like pydantic, not \u escapes


def test_a_lone_surrogate_is_refused_alone_or_inside_data() -> None:
    with pytest.raises(SerializationError, match="surrogates not allowed"):
        serde.dump({"name": "\ud800"}, None, "argument 'data'")
    for hint in (str, None):  # a plain string would pass escaped as \ud800 (ASCII)
        with pytest.raises(SerializationError, match=r"argument 'name': .*not valid Unicode"):
            serde.dump("a\udc00b", hint, "argument 'name'")
    assert serde.dump("é ∑", str, "argument 'name'") == '"\\u00e9 \\u2211"'


def test_plain_data_needs_no_pydantic() -> None:
    """`import bosun` and plain JSON in and out leave pydantic unimported (~45 ms of a
    worker's cold start)."""
    import subprocess
    import sys

    code = (
        "import sys; from bosun import serde; "
        "text = serde.dump({'a': [1, 'é', None]}, None, 'w'); "
        "assert serde.load(text, None) == {'a': [1, 'é', None]}; "
        "serde.validate(3, int, 'x'); "
        "print(sorted(m for m in sys.modules if m.startswith('pydantic')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


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


# -- one JSON policy: NaN and Infinity are refused, naming where ---------------------------


class Reading(BaseModel):  # pydantic's default config writes NaN as null: it must not hide
    value: float
    extra: dict[str, float]


@dataclass
class Sample:
    label: str
    reading: Reading


@pytest.mark.parametrize(
    ("value", "hint", "path", "token"),
    [
        (float("nan"), None, "the value", "NaN"),
        ({"a": [1, {"b": float("inf")}]}, None, "a[1].b", "Infinity"),
        (Reading(value=float("nan"), extra={}), Reading, "value", "NaN"),
        (Reading(value=1, extra={"q": float("-inf")}), Reading, "extra.q", "-Infinity"),
        (
            Sample("s", Reading(value=1, extra={"q": float("nan")})),
            Sample,
            "reading.extra.q",
            "NaN",
        ),
        (
            [Sample("s", Reading(value=float("inf"), extra={}))],
            None,
            "[0].reading.value",
            "Infinity",
        ),
        (float("nan"), float, "the value", "NaN"),
    ],
)
def test_dump_refuses_non_finite_numbers_naming_their_path(
    value: object, hint: object, path: str, token: str
) -> None:
    with pytest.raises(NonFiniteNumber) as info:
        serde.dump(value, hint, "result of workflow 'w'")
    assert str(info.value).startswith(f"result of workflow 'w': {path} is {token},")
    assert isinstance(info.value, SerializationError) and isinstance(info.value, ValueError)


def test_dump_still_writes_null_and_nan_text() -> None:
    assert serde.dump({"a": None, "b": "NaN", "c": "Infinity"}, None, "w") == (
        '{"a":null,"b":"NaN","c":"Infinity"}'
    )
    assert serde.load(serde.dump(Reading(value=1.5, extra={}), Reading, "w"), Reading) == Reading(
        value=1.5, extra={}
    )


def test_dumps_is_strict_compact_json_with_paths_under_a_root() -> None:
    assert serde.dumps({"a": [1, 2.5, None]}, "w") == '{"a":[1,2.5,null]}'
    with pytest.raises(NonFiniteNumber, match=r"^session 's': metadata\.x\[0\] is NaN,"):
        serde.dumps({"x": [float("nan")]}, "session 's'", root="metadata")
    with pytest.raises(SerializationError, match="cannot store the value as JSON"):
        serde.dumps({"x": object()}, "w")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"metadata": {"score": NaN}}', "metadata.score is NaN"),
        ('{"a": [1, -Infinity]}', "a[1] is -Infinity"),
        ('{"a": Infinity}', "a is Infinity"),
        ('{"a": 1e999}', "a is Infinity"),  # too large for a float: it would be Infinity
        (b"NaN", "the value is NaN"),
    ],
)
def test_loads_refuses_non_json_numbers_naming_their_path(text: str | bytes, message: str) -> None:
    with pytest.raises(NonFiniteNumber) as info:
        serde.loads(text, "the body")
    assert str(info.value).startswith(f"the body: {message},")


def test_loads_parses_plain_json_and_reports_syntax_errors_as_such() -> None:
    assert serde.loads('{"a": 1.5, "b": "NaN", "c": [null]}', "w") == {
        "a": 1.5,
        "b": "NaN",
        "c": [None],
    }
    with pytest.raises(json.JSONDecodeError):
        serde.loads("{nope", "w")


def test_read_stored_shows_old_non_finite_numbers_as_null_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="bosun.serde"):
        value = serde.read_stored('{"a": NaN, "b": "NaN", "c": [-Infinity]}', "run r1 result")
    assert value == {"a": None, "b": "NaN", "c": [None]}
    assert "run r1 result holds -Infinity, NaN" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bosun.serde"):
        assert serde.read_stored('{"b": "NaN"}', "w") == {"b": "NaN"}
        assert serde.read_stored(None, "w") is None
    assert caplog.text == ""


def test_the_stores_own_encoder_is_strict_too() -> None:
    """Events, error dicts and progress batches are encoded by `compact_json`: a NaN there
    must fail loudly rather than write a row no reader (PostgreSQL's jsonb, a browser) parses."""
    assert compact_json({"a": [1, 2.5]}) == '{"a":[1,2.5]}'
    with pytest.raises(ValueError, match="Out of range float"):
        compact_json({"duration": float("nan")})


class _Plain:
    """A class pydantic has no schema for."""

    def __init__(self, v: int) -> None:
        self.v = v


def test_a_type_pydantic_cannot_write_is_refused_naming_where_and_what_to_use() -> None:
    with pytest.raises(SerializationError, match=r"step 'make': values of type _Plain cannot") as e:
        serde.dump(_Plain(1), _Plain, "step 'make'")
    assert "pydantic models or dataclasses" in str(e.value)
    assert "arbitrary_types_allowed" not in str(e.value)  # pydantic's advice fits models only
    with pytest.raises(SerializationError, match=r"workflow 'wf' input 't': values of type _Plain"):
        serde.validate(_Plain(1), _Plain, "workflow 'wf' input 't'")

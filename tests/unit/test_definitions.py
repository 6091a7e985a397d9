import json

import pytest
from pydantic import BaseModel

import bosun
from bosun import ConfigurationError, InvalidArguments
from bosun.engine.context import WorkflowContext


class Ticket(BaseModel):
    text: str
    urgency: int


def make_app() -> bosun.App:
    return bosun.App("t", database="sqlite:////nonexistent/never-opened.db")


def test_workflow_must_be_async_and_take_a_context() -> None:
    app = make_app()
    with pytest.raises(ConfigurationError, match="async"):
        app.workflow()(lambda ctx: None)  # type: ignore[arg-type,return-value]

    async def no_params() -> None: ...

    with pytest.raises(ConfigurationError, match="Context"):
        app.workflow()(no_params)  # type: ignore[arg-type]


def test_a_first_parameter_annotated_as_an_input_is_refused() -> None:
    """The first parameter receives the Context: one annotated `int` is a forgotten `ctx`."""
    app = make_app()

    async def forgot_ctx(x: int) -> int:
        return x

    with pytest.raises(
        ConfigurationError, match=r"'x' is annotated int; add `ctx: bosun\.Context`"
    ):
        app.workflow()(forgot_ctx)  # type: ignore[arg-type]
    assert "forgot_ctx" not in app.registry.workflows

    async def unannotated(ctx, x: int) -> int:  # type: ignore[no-untyped-def]
        return x

    async def engine_context(ctx: WorkflowContext, x: int) -> int:
        return x

    async def as_object(ctx: object, x: int) -> int:
        return x

    for fn in (unannotated, engine_context, as_object):
        registered = app.workflow(name=fn.__name__)(fn)
    assert repr(registered) == "Workflow('as_object', queue='default')"
    assert {"unannotated", "engine_context", "as_object"} <= set(app.registry.workflows)


def test_reserved_and_variadic_parameters_are_refused() -> None:
    app = make_app()

    async def reserved(ctx: bosun.Context, priority: int) -> None: ...

    async def variadic(ctx: bosun.Context, *items: int) -> None: ...

    with pytest.raises(ConfigurationError, match="reserved"):
        app.workflow()(reserved)
    with pytest.raises(ConfigurationError, match=r"\*args"):
        app.workflow()(variadic)


def test_duplicate_names_are_refused() -> None:
    app = make_app()

    @app.workflow(name="same")
    async def one(ctx: bosun.Context) -> None: ...

    async def two(ctx: bosun.Context) -> None: ...

    with pytest.raises(ConfigurationError, match="already registered"):
        app.workflow(name="same")(two)


def test_inputs_are_validated_and_encoded_by_type() -> None:
    app = make_app()

    @app.workflow()
    async def handle(ctx: bosun.Context, ticket: Ticket, retries: int = 2) -> str:
        return ticket.text

    definition = handle.definition
    text = definition.encode_json_input({"ticket": {"text": "hi", "urgency": "3"}})
    assert json.loads(text) == {"ticket": {"text": "hi", "urgency": 3}}
    decoded = definition.decode_input(text)
    assert decoded["ticket"] == Ticket(text="hi", urgency=3)
    with pytest.raises(InvalidArguments, match="urgency"):
        definition.encode_json_input({"ticket": {"text": "hi", "urgency": "very"}})
    with pytest.raises(InvalidArguments, match="unexpected keyword"):
        definition.encode_json_input({"ticket": {"text": "hi", "urgency": 1}, "colour": "red"})
    with pytest.raises(InvalidArguments, match="missing"):
        definition.encode_json_input({})
    with pytest.raises(InvalidArguments, match="JSON object"):
        definition.encode_json_input("just a string")


def test_step_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        make_app().step(timeout=0)(lambda: None)

"""The HTTP API against its own OpenAPI document, over real HTTP to a real uvicorn server with
API keys on: Schemathesis generates requests for every operation (valid and invalid ones) and
no answer may be a 5xx, and every 4xx must be an RFC 9457 problem document. Then hand-written
bad requests (broken JSON, a wrong content type, an unknown field, an oversized body) must be
refused with problem+json and leave nothing written.

The bugs these tests once found (huge or NaN deadlines, lone surrogates, chunked bodies over
the limit, deeply nested or non-JSON numbers in events) are kept at the end as regression
tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from tests.helpers.processes import APPS
from tests.helpers.serving import serve

from bosun.ids import IDENTIFIER

pytestmark = pytest.mark.timeout(120)

PROBLEM = "application/problem+json"
SMALL_BODY_LIMIT = 1024


@dataclass
class Live:
    """A running server: its base URL, an admin key's headers, and its SQLite file."""

    url: str
    headers: dict[str, str]
    db_path: Path

    def runs_written(self) -> int:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
        finally:
            conn.close()


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api")


def _serve(tmp: Path, name: str, **config: Any) -> Iterator[Live]:
    """A uvicorn server with auth on and a fresh admin key, on a fresh SQLite file."""
    from bosun.loader import load_app
    from bosun.server import ServerConfig

    db_path = tmp / f"{name}.db"
    app = load_app(str(APPS / "api_app.py"))
    app.use_database(f"sqlite:///{db_path}")
    with serve(app, ServerConfig(auth=True, rate_limit=0, **config)) as served:
        key = served.key("fuzz", "admin")
        yield Live(served.url, {"Authorization": f"Bearer {key}"}, db_path)


@pytest.fixture(scope="module")
def fuzzed(tmp_module: Path) -> Iterator[Live]:
    """The server Schemathesis fuzzes: default limits, an in-process worker."""
    yield from _serve(tmp_module, "fuzz", worker_concurrency=2)


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[Live]:
    """A server of its own per test, with a small body limit and no worker."""
    yield from _serve(tmp_path, "strict", max_body_bytes=SMALL_BODY_LIMIT)


# -- Schemathesis -----------------------------------------------------------------------------

EXAMPLES_PER_OPERATION = 25
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same requests on every run, so CI is stable
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.generate],  # report the first failure; shrinking costs time, not insight
)


def problem_details_for_4xx(ctx: Any, response: schemathesis.Response, case: Any) -> bool:
    """Every 4xx answer is an RFC 9457 problem document with a matching status."""
    if 400 <= response.status_code < 500:
        media_type = response.headers.get("content-type", [""])[0].split(";")[0].strip()
        assert media_type == PROBLEM, (
            f"answered {response.status_code} with content type {media_type!r}, not {PROBLEM}"
        )
        body = response.json()
        assert body.get("status") == response.status_code, body
        assert str(body.get("type", "")).startswith("urn:bosun:problem:"), body
    return True


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_problem_json(fuzzed: Live, mode: GenerationMode) -> None:
    """Each operation of the served /openapi.json gets generated requests that match its
    schema (positive) or break it (negative); all failures are reported together."""
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13, [op.label for op in operations]
    failures: list[str] = []
    unbreakable: list[str] = []
    for operation in operations:

        @FUZZ_SETTINGS
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=fuzzed.url,
                headers=fuzzed.headers,
                checks=[not_a_server_error, problem_details_for_4xx],
                timeout=30,
            )

        try:
            fuzz()
        except Unsatisfiable:
            # Nothing in this operation's schema can be broken (e.g. a free-form string path
            # parameter and no body): no negative request exists.
            assert mode is GenerationMode.NEGATIVE, operation.label
            unbreakable.append(operation.label)
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert len(unbreakable) < len(operations), "no operation got a negative request"


# -- submits of the registered workflows ------------------------------------------------------
# Schemathesis cannot guess workflow names, so its submits stop at 404. These draw the workflow
# from the registered ones, with inputs that fit their signatures or not.

# No lone surrogates (category Cs): test_lone_surrogate_in_input_is_refused covers them.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
FITTING_INPUTS = {
    "greet": st.fixed_dictionaries({"name": TEXT}, optional={"times": st.integers(-5, 5)}),
    "place_order": st.fixed_dictionaries(
        {
            "order": st.fixed_dictionaries(
                {"sku": TEXT.filter(bool), "quantity": st.integers(1, 100)}
            )
        },
        optional={"note": st.none() | TEXT},
    ),
    "needs_approval": st.fixed_dictionaries({"item": TEXT}),
    "on_demo_event": st.fixed_dictionaries({"event": JSON}),
}
FUTURE = st.floats(1, 10 * 365 * 86400) | st.sampled_from(["2030-01-01T00:00:00Z"])


@st.composite
def submits(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A submit body for a registered workflow, and whether its inputs fit the signature."""
    workflow = draw(st.sampled_from(sorted(FITTING_INPUTS)))
    fits = draw(st.booleans())
    inputs = draw(
        FITTING_INPUTS[workflow] if fits else st.dictionaries(TEXT, JSON) | st.lists(JSON)
    )
    body: dict[str, Any] = {"workflow": workflow, "input": inputs}
    for name, values in [
        ("priority", st.integers(-1000, 1000)),
        ("session", st.from_regex(IDENTIFIER, fullmatch=True)),  # the rule for session ids
        ("deadline", FUTURE),
        ("idempotency_key", TEXT.filter(bool)),
    ]:
        if draw(st.booleans()):
            body[name] = draw(values)
    return body, fits


def test_submits_of_registered_workflows(fuzzed: Live) -> None:
    """Fitting inputs are accepted (201, or 200 for a repeated idempotency key), the rest are
    a problem 4xx; every accepted run reads back, alone and in the list."""
    created: list[str] = []
    with httpx.Client(base_url=fuzzed.url, headers=fuzzed.headers, timeout=30) as client:

        @FUZZ_SETTINGS
        @given(submit=submits())
        def fuzz(submit: tuple[dict[str, Any], bool]) -> None:
            body, fits = submit
            response = client.post("/v1/runs", json=body)
            if response.status_code in (200, 201):
                created.append(response.json()["id"])
                return
            assert not fits or body.get("idempotency_key"), (body, response.text)
            _assert_problem(response, (400, 404, 409, 413, 422))

        fuzz()
        assert created, "no generated submit was accepted"
        for run_id in created:
            assert client.get(f"/v1/runs/{run_id}").status_code == 200, run_id
        listed = client.get("/v1/runs", params={"limit": 500})
        assert listed.status_code == 200, listed.text


# -- hand-written bad requests ----------------------------------------------------------------


def _assert_problem(response: httpx.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
    expected = (status,) if isinstance(status, int) else status
    assert response.status_code in expected, (response.status_code, response.text)
    assert response.headers["content-type"].split(";")[0] == PROBLEM, response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:bosun:problem:") and body["detail"], body
    return body


def _assert_nothing_written(live: Live) -> None:
    listed = httpx.get(f"{live.url}/v1/runs", headers=live.headers, timeout=10)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"runs": [], "next_cursor": None}
    assert live.runs_written() == 0


def _post(live: Live, path: str, content: bytes, content_type: str) -> httpx.Response:
    headers = {**live.headers, "Content-Type": content_type}
    return httpx.post(f"{live.url}{path}", content=content, headers=headers, timeout=10)


def _post_runs(
    live: Live, content: bytes, content_type: str = "application/json"
) -> httpx.Response:
    return _post(live, "/v1/runs", content, content_type)


def test_malformed_json_is_a_400(strict: Live) -> None:
    _assert_problem(_post_runs(strict, b'{"workflow": "greet", "input": {'), 400)
    _assert_nothing_written(strict)


def test_wrong_content_type_is_a_4xx(strict: Live) -> None:
    body = b'{"workflow": "greet", "input": {"name": "ada"}}'
    _assert_problem(_post_runs(strict, body, "text/plain"), (400, 415, 422))
    _assert_nothing_written(strict)


def test_unknown_field_is_a_422(strict: Live) -> None:
    body = b'{"workflow": "greet", "input": {"name": "ada"}, "priorty": 5}'
    problem = _assert_problem(_post_runs(strict, body), 422)
    assert "priorty" in problem["detail"]
    _assert_nothing_written(strict)


def test_body_over_the_limit_is_a_413(strict: Live) -> None:
    body = b'{"workflow": "greet", "input": {"name": "' + b"a" * SMALL_BODY_LIMIT + b'"}}'
    problem = _assert_problem(_post_runs(strict, body), 413)
    assert str(SMALL_BODY_LIMIT) in problem["detail"]
    _assert_nothing_written(strict)


def test_a_valid_submit_is_written(strict: Live) -> None:
    """The control for the tests above: the same server does write a good request."""
    response = _post_runs(strict, b'{"workflow": "greet", "input": {"name": "ada"}}')
    assert response.status_code == 201, response.text
    assert strict.runs_written() == 1


# -- bugs this suite found once, kept as regression tests ------------------------------------


def test_chunked_body_over_the_limit_is_a_413(strict: Live) -> None:
    """Without a Content-Length the limit must hold as the body arrives (docs: 413)."""

    def chunks() -> Iterator[bytes]:
        yield b'{"workflow": "greet", "input": {"name": "'
        yield from [b"a" * 256] * 8
        yield b'"}}'

    headers = {**strict.headers, "Content-Type": "application/json"}
    response = httpx.post(f"{strict.url}/v1/runs", content=chunks(), headers=headers, timeout=10)
    assert "content-length" not in response.request.headers
    try:
        _assert_problem(response, 413)
    finally:
        _assert_nothing_written(strict)


@pytest.mark.parametrize("deadline", [b"1e308", b"Infinity"])
def test_deadline_out_of_range_is_refused(strict: Live, deadline: bytes) -> None:
    body = b'{"workflow": "greet", "input": {"name": "ada"}, "deadline": ' + deadline + b"}"
    response = _post_runs(strict, body)
    try:
        _assert_problem(response, (400, 422))
    finally:
        _assert_nothing_written(strict)


def test_deadline_nan_is_refused(strict: Live) -> None:
    body = b'{"workflow": "greet", "input": {"name": "ada"}, "deadline": NaN}'
    try:
        _assert_problem(_post_runs(strict, body), (400, 422))
    finally:
        _assert_nothing_written(strict)


def test_lone_surrogate_in_input_is_refused(strict: Live) -> None:
    response = _post_runs(strict, b'{"workflow": "greet", "input": {"name": "\\ud800"}}')
    try:
        _assert_problem(response, 422)
    finally:
        _assert_nothing_written(strict)


def test_lone_surrogate_in_signal_payload_is_refused(strict: Live) -> None:
    created = _post_runs(strict, b'{"workflow": "needs_approval", "input": {"item": "x"}}')
    run_id = created.json()["id"]
    path = f"/v1/runs/{run_id}/signals"
    signal = _post(strict, path, b'{"name": "decision", "payload": "\\ud800"}', "application/json")
    assert strict.runs_written() == 1
    _assert_problem(signal, 422)


def test_deeply_nested_event_body_is_a_400(fuzzed: Live) -> None:
    body = b"[" * 5000 + b"]" * 5000
    _assert_problem(_post(fuzzed, "/v1/events/demo.event", body, "application/json"), 400)


@pytest.mark.parametrize("body", [b"NaN", b"[1e999]"])
def test_non_json_numbers_in_an_event_are_refused(strict: Live, body: bytes) -> None:
    try:
        _assert_problem(_post(strict, "/v1/events/demo.event", body, "application/json"), 400)
    finally:
        _assert_nothing_written(strict)

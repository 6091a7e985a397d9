"""The UI's routes over plain HTTP against a real uvicorn: how they log in, whom they
refuse (no cookie, a revoked key, another tenant, a missing scope, a cross-site request),
and the filters and paging of the runs list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from tests.e2e.ui.uiworld import served_ui, submit, wait_status
from tests.helpers.serving import Served

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def key(served: Served) -> str:
    return served.key("acme", "submit")


@pytest.fixture(scope="module")
def api(served: Served, key: str) -> Iterator[httpx.Client]:
    with served.client(key) as client:
        yield client


@pytest.fixture(scope="module")
def waiting_run(api: httpx.Client) -> str:
    run_id = submit(api, "approval", {"order": 1})
    wait_status(api, run_id, "suspended")
    return run_id


def browser(served: Served, key: str | None = None, origin: bool = True) -> httpx.Client:
    """A client that acts like the UI in a browser: the key cookie, and (for POSTs) the
    Origin header a browser sends from a page of this server."""
    headers = {"Origin": served.url} if origin else {}
    cookies = {"bosun_key": key} if key else {}
    return httpx.Client(base_url=served.url, headers=headers, cookies=cookies, timeout=30)


def run_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-run="([0-9a-f]+)"', html)


# -- logging in ---------------------------------------------------------------------------------


def test_pages_without_a_cookie_send_the_browser_to_log_in(served: Served) -> None:
    with browser(served) as client:
        root = client.get("/")
        assert root.status_code == 307 and root.headers["location"] == "/ui/runs"
        for path in ("/ui/runs?status=failed", "/ui/sessions", "/ui/queues", "/ui/workers"):
            page = client.get(path)
            assert page.status_code == 303, path
            target = page.headers["location"]
            assert target.startswith("/ui/login?next=") and unquote(target[15:]) == path
        assert client.get("/ui/runs", follow_redirects=True).url.path == "/ui/login"


def test_login_sets_a_strict_httponly_cookie_and_goes_where_it_was_asked(
    served: Served, key: str
) -> None:
    with browser(served) as client:
        answer = client.post("/ui/login", data={"key": key, "next": "/ui/queues"})
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/queues"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"bosun_key={key};")
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/ui", "Max-Age=43200"):
            assert attribute.lower() in cookie.lower(), cookie
        assert "secure" not in cookie.lower()  # plain http: a Secure cookie would be dropped
        page = client.get("/ui/queues")
        assert page.status_code == 200 and "default" in page.text


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/v1/runs", "/ui//evil.example"]
)
def test_login_never_redirects_off_the_ui(served: Served, key: str, target: str) -> None:
    with browser(served) as client:
        answer = client.post("/ui/login", data={"key": key, "next": target})
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/runs"


def test_a_wrong_key_is_refused_with_the_form_again(served: Served) -> None:
    with browser(served) as client:
        for bad in ("", "bsn_0000000000000000_" + "x" * 43, "not a key"):
            answer = client.post("/ui/login", data={"key": bad})
            assert answer.status_code == 401 and "set-cookie" not in answer.headers
            assert 'id="login-form"' in answer.text and 'data-testid="login-error"' in answer.text


def test_a_revoked_key_logs_the_browser_out(served: Served) -> None:
    key = served.key("acme", "read")
    with browser(served, key) as client:
        assert client.get("/ui/runs").status_code == 200
        assert served.call(served.app.store.revoke_api_key(key.split("_")[1]))
        answer = client.get("/ui/runs")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/login?next=%2Fui%2Fruns&expired=1"
        form = client.get(answer.headers["location"])
        assert "the API key is unknown or revoked: log in again" in form.text
        assert 'bosun_key=""' in answer.headers["set-cookie"]  # the cookie is dropped
        assert "Path=/ui" in answer.headers["set-cookie"]


def test_logout_drops_the_cookie(served: Served, key: str) -> None:
    with browser(served, key) as client:
        answer = client.post("/ui/logout")
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/login"
        assert 'bosun_key=""' in answer.headers["set-cookie"]


def test_without_auth_the_ui_needs_no_login(tmp_path: Path) -> None:
    with served_ui(tmp_path / "open.db", auth=False) as (served, _), browser(served) as client:
        assert client.get("/ui/login").headers["location"] == "/ui/runs"
        page = client.get("/ui/runs")
        assert page.status_code == 200 and 'data-testid="tenant">default<' in page.text


# -- cross-site requests (CSRF) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/ui/api/runs/{run}/cancel",
        "/ui/api/runs/{run}/signals",
        "/ui/api/runs/{run}/resume",
        "/ui/api/runs/{run}/approvals/call_1_0",
    ],
)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "https://evil.example"}, {"Origin": "null"}, {"Referer": "http://x.test/"}],
    ids=["no-origin", "other-origin", "opaque-origin", "other-referer"],
)
def test_actions_from_another_site_are_refused(
    served: Served, key: str, waiting_run: str, path: str, headers: dict[str, str]
) -> None:
    with browser(served, key, origin=False) as client:
        answer = client.post(
            path.format(run=waiting_run), json={"name": "approve"}, headers=headers
        )
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == PROBLEM
        assert "must come from the bosun UI" in answer.json()["detail"] or (
            "not from the bosun UI" in answer.json()["detail"]
        )
    with served.client(key) as api:
        assert api.get(f"/v1/runs/{waiting_run}").json()["status"] == "suspended"


def test_login_and_logout_from_another_site_are_refused(served: Served, key: str) -> None:
    with browser(served, origin=False) as client:
        forged = client.post("/ui/login", data={"key": key}, headers={"Origin": "http://evil.test"})
        assert forged.status_code == 403 and "set-cookie" not in forged.headers
        assert client.post("/ui/logout").status_code == 403


def test_the_referer_stands_in_for_a_missing_origin(
    served: Served, key: str, api: httpx.Client
) -> None:
    run_id = submit(api, "approval", {"order": 2})
    wait_status(api, run_id, "suspended")
    with browser(served, key, origin=False) as client:
        answer = client.post(
            f"/ui/api/runs/{run_id}/cancel", headers={"Referer": f"{served.url}/ui/runs/{run_id}"}
        )
        assert answer.status_code == 200 and answer.json() == {"cancelled": [run_id]}


# -- the API's own refusals, through the UI -----------------------------------------------------


def test_actions_need_the_cookie_and_the_scope(served: Served, waiting_run: str) -> None:
    with browser(served) as client:
        bare = client.post(f"/ui/api/runs/{waiting_run}/cancel")
        assert bare.status_code == 401 and bare.headers["content-type"] == PROBLEM
    with browser(served, served.key("acme", "read")) as client:
        refused = client.post(f"/ui/api/runs/{waiting_run}/cancel")
        assert refused.status_code == 403
        assert "lacks the 'submit' scope" in refused.json()["detail"]
        resume = client.post(f"/ui/api/runs/{waiting_run}/resume")
        assert resume.status_code == 403 and "'admin' scope" in resume.json()["detail"]


def test_another_tenants_run_is_a_404_everywhere(served: Served, waiting_run: str) -> None:
    with browser(served, served.key("globex", "admin")) as client:
        page = client.get(f"/ui/runs/{waiting_run}")
        assert page.status_code == 404 and f"no run with id {waiting_run!r}" in page.text.replace(
            "&#39;", "'"
        )
        assert waiting_run not in run_ids(client.get("/ui/runs").text)
        for method, path in [
            ("POST", f"/ui/api/runs/{waiting_run}/signals"),
            ("POST", f"/ui/api/runs/{waiting_run}/cancel"),
            ("GET", f"/ui/api/runs/{waiting_run}/events"),
        ]:
            answer = client.request(method, path, json={"name": "approve"})
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["title"] == "Run not found"
        assert client.get("/ui/sessions/nobody").status_code == 404


def test_signal_validation_and_state_errors_are_problem_documents(
    served: Served, key: str, api: httpx.Client
) -> None:
    run_id = submit(api, "pipeline", {"key": "http"})
    wait_status(api, run_id, "completed")
    with browser(served, key) as client:
        late = client.post(f"/ui/api/runs/{run_id}/signals", json={"name": "approve"})
        assert late.status_code == 409 and late.headers["content-type"] == PROBLEM
        shapeless = client.post(f"/ui/api/runs/{run_id}/signals", json={"payload": 1})
        assert shapeless.status_code == 422 and "name" in shapeless.json()["detail"]


def test_the_event_stream_authenticates_by_cookie(
    served: Served, key: str, api: httpx.Client
) -> None:
    run_id = submit(api, "pipeline", {"key": "sse"})
    wait_status(api, run_id, "completed")
    with browser(served, key) as client:
        with client.stream("GET", f"/ui/api/runs/{run_id}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            body = "".join(stream.iter_text())
        assert '"type": "run.completed"' in body and "id: 1\n" in body
        # Untyped, unlike /v1's: the page's `onmessage` gets every type, ctx.emit's too.
        assert "\nevent:" not in body and not body.startswith("event:")
        resumed = client.get(f"/ui/api/runs/{run_id}/events", headers={"Last-Event-ID": "3"})
        assert "id: 3\n" not in resumed.text and "id: 4\n" in resumed.text
    with browser(served) as client:
        assert client.get(f"/ui/api/runs/{run_id}/events").status_code == 401


# -- pages --------------------------------------------------------------------------------------


def test_pages_carry_a_strict_content_security_policy(served: Served, key: str) -> None:
    with browser(served, key) as client:
        page = client.get("/ui/runs")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["cache-control"] == "no-store"
        assert "<script>" not in page.text and " style=" not in page.text  # nothing inline
        script = client.get("/ui/static/ui.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert client.get("/ui/static/ui.css").headers["content-type"].startswith("text/css")


def test_run_filters_and_queue_paging(served: Served, key: str, api: httpx.Client) -> None:
    parked = [submit(api, "approval", {"order": n}, queue="ui-http-parked") for n in range(5)]
    other = submit(api, "approval", {"order": 99}, queue="ui-http-elsewhere")
    with browser(served, key) as client:
        first = client.get("/ui/runs", params={"queue": "ui-http-parked", "limit": 2})
        assert run_ids(first.text) == parked[::-1][:2]  # newest first
        seen = run_ids(first.text)
        page = first
        while (more := re.search(r'href="(/ui/runs\?[^"]*cursor=[^"]+)"', page.text)) is not None:
            page = client.get(more.group(1).replace("&amp;", "&"))
            assert page.status_code == 200
            seen += run_ids(page.text)
        assert seen == parked[::-1] and other not in seen
        queued = client.get("/ui/runs", params={"status": "queued", "workflow": "approval"})
        assert set(parked) | {other} <= set(run_ids(queued.text))
        rows = client.get("/ui/runs", params={"queue": "ui-http-elsewhere", "partial": "rows"})
        assert run_ids(rows.text) == [other] and "<html" not in rows.text
        bad = client.get("/ui/runs", params={"status": "sleepy"})
        assert bad.status_code == 400 and "status must be one of" in bad.text
        assert client.get("/ui/runs", params={"cursor": "garbage"}).status_code == 400
        too_many = client.get("/ui/runs", params={"limit": 0})
        assert too_many.status_code == 422 and "limit" in too_many.text and "<html" in too_many.text
    for run_id in [*parked, other]:
        api.post(f"/v1/runs/{run_id}/cancel")


def test_the_plan_page_needs_the_admin_scope(served: Served) -> None:
    with browser(served, served.key("acme", "submit")) as client:
        assert client.get("/ui/plan").status_code == 403

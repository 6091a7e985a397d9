"""The web UI in real Chromium (Debian's, driven by Playwright) against a real uvicorn
server with an in-process worker: log in, browse runs, sessions, queues and workers, signal,
cancel and resume runs, approve, reject or edit tool calls awaiting approval, and watch them
change without reloading.

Every page must load without console errors or uncaught exceptions; screenshots of each
page go to $BOSUN_UI_ARTIFACTS (CI keeps them as artifacts).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tests.e2e.ui.uiworld import run_of, submit, wait_status
from tests.helpers.serving import Served

from bosun.server.ui.access import login_link

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("BOSUN_CHROMIUM", "/usr/bin/chromium")
LAPTOP = {"width": 1366, "height": 768}
WAIT_MS = 15_000  # how long Playwright waits for an element to reach the expected state
# The plan page simulates every architecture before it answers: CPU-bound, about 4 s on a
# 2-core machine alone, several times that while the rest of the suite shares the cores.
PLAN_WAIT_MS = 90_000

pytestmark = pytest.mark.timeout(180)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI needs {reason}")
    pytest.skip(f"no {reason}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"Chromium at {CHROMIUM} (apt-get install chromium, or set BOSUN_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def workflows(world: tuple[Served, ModuleType]) -> ModuleType:
    return world[1]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("BOSUN_UI_ARTIFACTS")
    path = Path(where) if where else tmp_path_factory.mktemp("ui-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def admin_key(served: Served) -> str:
    return served.key("acme", "admin")


@pytest.fixture(scope="module")
def api(served: Served, admin_key: str) -> Iterator[httpx.Client]:
    with served.client(admin_key) as client:
        yield client


@dataclass
class Tab:
    """One browser context and page, recording console errors and page exceptions."""

    page: Page
    base: str
    artifacts: Path
    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def login(self, key: str) -> None:
        self.go("/ui/login")
        self.page.fill("#key", key)
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_url(re.compile(r".*/ui/runs$"))

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.artifacts / f"{name}.png"), full_page=True)

    def allow(self, pattern: str) -> None:
        """Expect console errors matching `pattern` (a request this test means to fail)."""
        self.allowed.append(pattern)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(re.search(p, e) for p in self.allowed)]

    def status(self) -> Any:
        """The run page's status badge (in the heading), as a locator."""
        return self.page.locator("#run-status .badge")


@pytest.fixture
def tab(browser: Browser, served: Served, artifacts: Path) -> Iterator[Tab]:
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    tab = Tab(page, served.url, artifacts)
    page.on(
        "console", lambda m: tab.errors.append(f"console: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda exc: tab.errors.append(f"page error: {exc}"))
    page.on("dialog", lambda dialog: dialog.accept())
    yield tab
    context.close()
    assert tab.unexpected() == [], "the page logged errors"


def expect(locator: Any) -> Any:
    """Playwright's `expect`, which waits up to WAIT_MS for the state to be reached."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=WAIT_MS)
    return playwright_expect(locator)


# -- logging in ---------------------------------------------------------------------------------


def test_login_form_then_the_runs_list_with_filters(
    tab: Tab, api: httpx.Client, admin_key: str
) -> None:
    done = submit(api, "pipeline", {"key": "list"})
    waiting = submit(api, "approval", {"order": 1})
    wait_status(api, done, "completed")
    wait_status(api, waiting, "suspended")

    tab.go("/ui/runs")
    assert "/ui/login?next=%2Fui%2Fruns" in tab.page.url  # no cookie: sent to log in
    tab.shot("01-login")
    tab.page.fill("#key", "bsn_0000000000000000_" + "x" * 43)
    tab.page.click("#login-form button[type=submit]")
    expect(tab.page.get_by_test_id("login-error")).to_contain_text("unknown or revoked")
    tab.allow(r"status of 401")  # the refused login answers 401

    tab.page.fill("#key", admin_key)
    tab.page.click("#login-form button[type=submit]")
    tab.page.wait_for_url(re.compile(r".*/ui/runs$"))
    expect(tab.page.get_by_test_id("tenant")).to_have_text("acme")
    expect(tab.page.locator(f"tr[data-run='{done}'] .badge")).to_have_text("completed")
    expect(tab.page.locator(f"tr[data-run='{waiting}'] .badge")).to_have_text("suspended")
    tab.shot("02-runs")

    tab.page.select_option("select[name=workflow]", "approval")
    tab.page.click("form.filters button[type=submit]")
    tab.page.wait_for_url(re.compile(r"workflow=approval"))
    expect(tab.page.locator(f"tr[data-run='{waiting}']")).to_be_visible()
    expect(tab.page.locator(f"tr[data-run='{done}']")).to_have_count(0)


def test_the_login_link_keeps_the_key_out_of_the_url(tab: Tab, admin_key: str) -> None:
    tab.page.goto(login_link(tab.base, admin_key))  # what `bosun dev` prints
    tab.page.wait_for_url(re.compile(r".*/ui/runs$"))
    expect(tab.page.get_by_test_id("tenant")).to_have_text("acme")
    assert admin_key not in tab.page.url
    cookie = next(c for c in tab.page.context.cookies() if c["name"] == "bosun_key")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert tab.page.evaluate("document.cookie") == ""  # not readable by scripts


# -- a run's page -------------------------------------------------------------------------------


def test_a_run_page_shows_its_timeline_journal_and_usage(
    tab: Tab, api: httpx.Client, admin_key: str
) -> None:
    run_id = submit(api, "pipeline", {"key": "timeline"})
    wait_status(api, run_id, "completed")
    tab.login(admin_key)
    tab.page.click(f"tr[data-run='{run_id}'] a[href='/ui/runs/{run_id}']")
    tab.page.wait_for_url(re.compile(rf".*/ui/runs/{run_id}$"))
    expect(tab.status()).to_have_text("completed")
    version = api.get(f"/v1/runs/{run_id}").json()["version"]
    assert version.startswith("code-")  # pinned to the worker's code version
    expect(tab.page.get_by_test_id("version")).to_have_text(version)

    timeline = tab.page.get_by_test_id("timeline")
    fetch = timeline.locator("tr[data-seq='1']")
    expect(fetch).to_contain_text("flaky_fetch")
    expect(fetch.locator("td").nth(6)).to_have_text("2")  # attempts
    expect(timeline).to_contain_text("attempt 1: ConnectionError: upstream timed out fetching")
    expect(timeline.locator("tr[data-seq='2']")).to_contain_text("transform")
    expect(timeline.locator("tr[data-seq='3']")).to_contain_text("llm:default")
    assert timeline.locator("svg.bar rect").count() == 3

    journal = tab.page.get_by_test_id("journal")
    expect(journal.locator("tbody tr")).to_have_count(4)  # 3 steps and the emitted event
    long_output = tab.page.locator("#journal-1")  # 20 rows: folded away
    assert long_output.get_attribute("open") is None
    long_output.locator("summary").click()
    expect(long_output.locator("pre")).to_contain_text('"label": "row 19"')

    usage = tab.page.get_by_test_id("usage")
    totals = api.get(f"/v1/runs/{run_id}/usage").json()
    assert totals["calls"] == 1 and totals["cost"] > 0
    for name in ("calls", "prompt_tokens", "completion_tokens", "cached_tokens"):
        expect(usage.locator(f"[data-usage={name}]")).to_have_text(str(totals[name]))
    expect(usage.locator("[data-usage=cost]")).to_have_text(f"${totals['cost']:.4f}")
    expect(tab.page.get_by_test_id("result")).to_contain_text('"total": 190')
    expect(tab.page.locator("#events-body")).to_contain_text("run.completed")
    tab.shot("03-run-timeline")


def test_a_run_page_shows_images_as_thumbnails(
    tab: Tab, api: httpx.Client, admin_key: str, workflows: ModuleType
) -> None:
    """The photo in the run's input and the drawing in a journaled LLM call are shown as
    images (data URLs, which the page's CSP allows), their base64 left out of the JSON."""
    pixel = base64.b64encode(workflows.PIXEL).decode()
    photo = {"type": "image", "data": pixel, "media_type": "image/png"}
    run_id = submit(api, "look", {"photo": photo})
    wait_status(api, run_id, "completed")
    tab.login(admin_key)
    tab.go(f"/ui/runs/{run_id}")
    expect(tab.status()).to_have_text("completed")

    source = f"data:image/png;base64,{pixel}"
    inputs = tab.page.locator("section.io [data-testid=attachments] img")
    expect(inputs).to_have_attribute("src", source)
    drawing = tab.page.get_by_test_id("journal").locator("[data-testid=attachments] img")
    expect(drawing).to_have_count(1)  # the drawer's answer; the first call's is text only
    expect(drawing).to_have_attribute("src", source)
    for image in (inputs, drawing):  # decoded and drawn: a real 1x1 image, not a broken icon
        assert image.evaluate("img => img.complete && img.naturalWidth") == 1
    assert pixel not in tab.page.locator("section.io").inner_text()  # not as text
    tab.shot("03b-run-images")


def test_a_signal_sent_from_the_ui_finishes_the_run_live(
    tab: Tab, api: httpx.Client, admin_key: str
) -> None:
    run_id = submit(api, "approval", {"order": 42})
    wait_status(api, run_id, "suspended")
    tab.login(admin_key)
    tab.go(f"/ui/runs/{run_id}")
    expect(tab.status()).to_have_text("suspended")
    tab.page.evaluate("window.stillTheSamePage = true")

    form = tab.page.locator("#signal-form")
    expect(form.locator("input[name=name]")).to_have_value("approve")  # what the run waits for
    form.locator("textarea[name=payload]").fill('{"ok": true, "by": "ui"}')
    form.locator("button[type=submit]").click()

    expect(tab.page.locator("#flash")).to_have_text("signal approve sent")
    expect(tab.status()).to_have_text("completed")
    expect(tab.page.get_by_test_id("result")).to_contain_text('"by": "ui"')
    expect(tab.page.locator("#events-body")).to_contain_text("signal.received")
    expect(tab.page.locator("#events-body")).to_contain_text("run.completed")
    expect(tab.page.locator("#events-note")).to_have_text("the run has finished")
    assert tab.page.evaluate("window.stillTheSamePage") is True  # updated, never reloaded
    assert run_of(api, run_id)["result"]["decision"] == {"ok": True, "by": "ui"}
    tab.shot("04-run-signalled")


def _awaiting_approval(tab: Tab, api: httpx.Client, admin_key: str) -> tuple[str, Any]:
    """A `refund` run waiting for approval, open in the tab; its approval form."""
    run_id = submit(api, "refund", {"message": "refund order 7"})
    wait_status(api, run_id, "suspended")
    (pending,) = run_of(api, run_id)["pending_approvals"]
    tab.login(admin_key)
    tab.go(f"/ui/runs/{run_id}")
    form = tab.page.locator(f"form.approval[data-call-id='{pending['call_id']}']")
    expect(form).to_contain_text("refund")
    expect(form).to_contain_text(pending["call_id"])
    assert '"amount": 40' in form.locator("textarea[name=arguments]").input_value()
    tab.page.evaluate("window.stillTheSamePage = true")
    return run_id, form


def _decided(tab: Tab, api: httpx.Client, run_id: str) -> str:
    expect(tab.status()).to_have_text("completed")
    expect(tab.page.get_by_test_id("approvals")).to_have_count(0)
    assert tab.page.evaluate("window.stillTheSamePage") is True  # updated, never reloaded
    return str(run_of(api, run_id)["result"])


def test_a_tool_call_approved_from_the_ui_runs(tab: Tab, api: httpx.Client, admin_key: str) -> None:
    run_id, form = _awaiting_approval(tab, api, admin_key)
    tab.shot("04a-approval-pending")
    form.get_by_role("button", name="Approve").click()
    expect(tab.page.locator("#flash")).to_contain_text("approved")
    assert _decided(tab, api, run_id) == "model saw: refunded $40.00 on order 7"


def test_a_tool_call_rejected_from_the_ui_tells_the_model_why(
    tab: Tab, api: httpx.Client, admin_key: str
) -> None:
    run_id, form = _awaiting_approval(tab, api, admin_key)
    form.locator("input[name=message]").fill("refunds over $25 need a manager")
    form.get_by_role("button", name="Reject").click()
    expect(tab.page.locator("#flash")).to_contain_text("rejected")
    result = _decided(tab, api, run_id)
    assert "rejected" in result and "refunds over $25 need a manager" in result


def test_a_tool_call_edited_from_the_ui_runs_with_checked_arguments(
    tab: Tab, api: httpx.Client, admin_key: str
) -> None:
    run_id, form = _awaiting_approval(tab, api, admin_key)
    arguments = form.locator("textarea[name=arguments]")
    arguments.fill('{"order_id": 7, "amount": "lots"}')
    tab.allow(r"status of 400")  # the refused edit answers 400
    form.get_by_role("button", name="Edit and run").click()
    expect(tab.page.locator("#flash")).to_contain_text("amount: 'lots' is not of type 'number'")
    assert run_of(api, run_id)["pending_approvals"]  # nothing was decided
    arguments.fill('{"order_id": 7, "amount": 15}')
    form.get_by_role("button", name="Edit and run").click()
    expect(tab.page.locator("#flash")).to_contain_text("edited")
    assert _decided(tab, api, run_id) == "model saw: refunded $15.00 on order 7"
    tab.shot("04b-approval-edited")


def test_llm_tokens_stream_into_the_page(tab: Tab, api: httpx.Client, admin_key: str) -> None:
    run_id = submit(api, "talk")
    wait_status(api, run_id, "suspended")
    tab.login(admin_key)
    tab.go(f"/ui/runs/{run_id}")
    expect(tab.status()).to_have_text("suspended")
    tab.page.click("#signal-form button[type=submit]")  # `start`, as the run waits for it
    expect(tab.page.locator("#llm-reasoning")).to_have_text("counting up slowly")
    expect(tab.page.locator("#llm-stream")).to_have_text("one two three four five six")
    expect(tab.status()).to_have_text("completed")


def test_the_runs_list_follows_status_changes(tab: Tab, api: httpx.Client, admin_key: str) -> None:
    run_id = submit(api, "approval", {"order": 7})
    wait_status(api, run_id, "suspended")
    tab.login(admin_key)
    tab.go("/ui/runs?workflow=approval")
    badge = tab.page.locator(f"tr[data-run='{run_id}'] .badge")
    expect(badge).to_have_text("suspended")
    tab.page.evaluate("window.stillTheSamePage = true")
    sent = api.post(f"/v1/runs/{run_id}/signals", json={"name": "approve", "payload": 1})
    assert sent.status_code == 202, sent.text
    expect(badge).to_have_text("completed")
    assert tab.page.evaluate("window.stillTheSamePage") is True


def test_cancel_from_the_ui(tab: Tab, api: httpx.Client, admin_key: str) -> None:
    run_id = submit(api, "approval", {"order": 9})
    wait_status(api, run_id, "suspended")
    tab.login(admin_key)
    tab.go(f"/ui/runs/{run_id}")
    expect(tab.status()).to_have_text("suspended")
    tab.page.click("#cancel-button")  # the confirmation dialog is accepted
    expect(tab.page.locator("#flash")).to_have_text("cancelled 1 run(s)")
    expect(tab.status()).to_have_text("cancelled")
    expect(tab.page.locator("#cancel-button")).to_be_disabled()
    assert run_of(api, run_id)["status"] == "cancelled"
    tab.shot("05-run-cancelled")


def test_resume_a_blocked_run_from_the_ui(
    tab: Tab, api: httpx.Client, admin_key: str, workflows: ModuleType
) -> None:
    run_id = submit(api, "flip")
    wait_status(api, run_id, "suspended")
    workflows.MODE["flip"] = "b"  # a deploy that changed the code under the live run
    try:
        api.post(f"/v1/runs/{run_id}/signals", json={"name": "go"})
        wait_status(api, run_id, "blocked")
    finally:
        workflows.MODE["flip"] = "a"  # the fix is deployed
    tab.login(admin_key)
    tab.go(f"/ui/runs/{run_id}")
    expect(tab.status()).to_have_text("blocked")
    expect(tab.page.locator("#resume-button")).to_be_enabled()
    tab.page.click("#resume-button")
    expect(tab.page.locator("#flash")).to_contain_text("resumed")
    expect(tab.status()).to_have_text("completed")
    assert run_of(api, run_id)["result"] == "a"


def test_refusals_from_the_api_are_shown(tab: Tab, served: Served, api: httpx.Client) -> None:
    run_id = submit(api, "approval", {"order": 3})
    wait_status(api, run_id, "suspended")
    tab.login(served.key("acme", "read"))
    tab.go(f"/ui/runs/{run_id}")
    tab.page.locator("textarea[name=payload]").fill("{not json")
    tab.page.click("#signal-form button[type=submit]")
    expect(tab.page.locator("#flash")).to_contain_text("the payload is not valid JSON")
    tab.allow(r"status of 403")  # the read-only key's refused cancel
    tab.page.click("#cancel-button")
    flash = tab.page.locator("#flash")
    expect(flash).to_contain_text("Missing scope: API key")
    expect(flash).to_contain_text("lacks the 'submit' scope")
    assert run_of(api, run_id)["status"] == "suspended"
    tab.shot("06-run-refused")


# -- sessions, queues, workers ------------------------------------------------------------------


def test_sessions_and_their_conversation(tab: Tab, api: httpx.Client, admin_key: str) -> None:
    first = submit(api, "chat", {"message": "where is my kettle?"}, session="support-17")
    wait_status(api, first, "completed")
    second = submit(api, "chat", {"message": "and my teapot?"}, session="support-17")
    wait_status(api, second, "completed")
    tab.login(admin_key)
    tab.go("/ui/sessions")
    tab.shot("07-sessions")
    tab.page.click("a[href='/ui/sessions/support-17']")
    tab.page.wait_for_url(re.compile(r".*/ui/sessions/support-17$"))
    chat = tab.page.get_by_test_id("conversation")
    expect(chat.locator("li.msg")).to_have_count(4)
    expect(chat.locator("li.msg").nth(0)).to_contain_text("where is my kettle?")
    expect(chat.locator("li.role-assistant").nth(1)).to_contain_text("ships tomorrow")
    expect(chat.locator("li.msg").nth(2)).to_contain_text("and my teapot?")
    expect(tab.page.locator(f"tr[data-run='{first}']")).to_be_visible()
    expect(tab.page.locator(f"tr[data-run='{second}']")).to_be_visible()
    tab.shot("08-session")


def test_the_plan_page_advises_from_the_live_database(
    tab: Tab, api: httpx.Client, admin_key: str
) -> None:
    run_id = submit(api, "pipeline", {"key": "plan"})
    wait_status(api, run_id, "completed")  # at least one finished run to measure
    tab.login(admin_key)
    tab.page.goto(tab.base + "/ui/plan?days=1", timeout=PLAN_WAIT_MS)
    table = tab.page.get_by_test_id("plan-table")
    expect(table.locator("tr[data-arch='kubernetes-keda']")).to_have_count(1)
    assert table.locator("tbody tr").count() >= 5
    expect(tab.page.get_by_test_id("plan-recommendation")).to_contain_text("Recommended:")
    assert tab.page.locator("img[data-chart]").count() >= 2
    tab.shot("12-plan")


def test_queues_show_depth(tab: Tab, api: httpx.Client, admin_key: str) -> None:
    parked = submit(api, "approval", {"order": 5}, queue="nobody-serves-this")
    tab.login(admin_key)
    tab.go("/ui/queues")
    row = tab.page.locator("tr[data-queue='nobody-serves-this']")
    expect(row.locator("[data-col=ready]")).to_have_text("1")
    expect(row.locator("[data-col=in_flight]")).to_have_text("0")
    expect(tab.page.locator("tr[data-queue='default']")).to_contain_text("approval")
    tab.shot("09-queues")
    assert api.post(f"/v1/runs/{parked}/cancel").status_code == 200
    # The table refreshes itself: nothing is left on the queue, which stays listed at zero
    # (its last run finished within the hour).
    expect(row.locator("[data-col=ready]")).to_have_text("0")


def test_workers_show_slots_and_leases(
    tab: Tab, api: httpx.Client, admin_key: str, workflows: ModuleType
) -> None:
    workflows.HOLD["release"] = False
    run_id = submit(api, "hold")
    try:
        wait_status(api, run_id, "running")
        tab.login(admin_key)
        tab.go("/ui/workers")
        worker = tab.page.locator("tr.worker").first
        expect(worker.locator("[data-col=slots]")).to_have_text("1 of 4")
        lease = tab.page.locator(f"tr[data-lease='{run_id}']")
        expect(lease).to_contain_text("hold")
        tab.shot("10-workers")
    finally:
        workflows.HOLD["release"] = True
    wait_status(api, run_id, "completed")
    expect(tab.page.locator(f"tr[data-lease='{run_id}']")).to_have_count(0)


# -- who sees what ------------------------------------------------------------------------------


def test_another_tenants_run_is_not_found(tab: Tab, served: Served, api: httpx.Client) -> None:
    run_id = submit(api, "approval", {"order": 11})
    tab.go(f"/ui/runs/{run_id}")
    assert f"/ui/login?next=%2Fui%2Fruns%2F{run_id}" in tab.page.url
    tab.login(served.key("globex", "admin"))
    expect(tab.page.locator(f"tr[data-run='{run_id}']")).to_have_count(0)
    tab.allow(r"status of 404")
    tab.go(f"/ui/runs/{run_id}")
    expect(tab.page.get_by_test_id("error-detail")).to_have_text(f"no run with id {run_id!r}")
    tab.shot("11-not-found")

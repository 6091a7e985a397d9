// bosun UI: live updates and actions. Plain JavaScript, no build step, no inline code
// (the pages' Content-Security-Policy allows scripts from this file only).
"use strict";

const FINAL = new Set(["run.completed", "run.failed", "run.cancelled"]);
const TERMINAL = new Set(["completed", "failed", "cancelled"]);

function banner(text) {
  const el = document.getElementById("banner");
  if (!el) return;
  el.textContent = text;
  el.hidden = false;
}

// A fetch that was sent to the login form (the key expired or was revoked) ends the page's
// live updates: say so instead of pasting the login form into a table.
function loggedOut(response) {
  if (response.redirected || response.status === 401) {
    banner("Your login has expired or the API key was revoked: reload the page to log in again.");
    return true;
  }
  return false;
}

// -- login: a `#key=bsn_…` link (what `bosun dev` prints) fills in the form and sends it.
// The fragment never reaches the server or its logs; it is removed from history at once.
function loginFromFragment() {
  const form = document.getElementById("login-form");
  if (!form || !location.hash.startsWith("#key=")) return;
  const key = decodeURIComponent(location.hash.slice("#key=".length));
  history.replaceState(null, "", location.pathname + location.search);
  form.elements.key.value = key;
  form.submit();
}

// -- tables that refresh themselves: <tbody data-poll="URL" data-poll-seconds="N">
function startPolling(el) {
  const every = 1000 * Number(el.dataset.pollSeconds || 2);
  let stopped = false;
  async function tick() {
    if (stopped) return;
    if (document.visibilityState === "visible") {
      try {
        const response = await fetch(el.dataset.poll, { credentials: "same-origin" });
        if (loggedOut(response)) { stopped = true; return; }
        if (response.ok) el.innerHTML = await response.text();
      } catch (err) {
        // The server is restarting: keep trying.
      }
    }
    setTimeout(tick, every);
  }
  setTimeout(tick, every);
}

// -- one run's page -------------------------------------------------------------------------
function runPage(root) {
  const live = document.getElementById("live");
  const statusSlot = document.getElementById("run-status");
  const events = document.getElementById("events-body");
  const stream = document.getElementById("llm-stream");
  const thinking = document.getElementById("llm-reasoning");
  let streamed = false;
  let pending = null;

  function applyStatus() {
    const marker = document.getElementById("live-status");
    if (!marker) return;
    const status = marker.dataset.status;
    const badge = live.querySelector(".facts .badge");
    if (badge && statusSlot) statusSlot.replaceChildren(badge.cloneNode(true));
    root.dataset.status = status;
    const cancel = document.getElementById("cancel-button");
    const resume = document.getElementById("resume-button");
    if (cancel) cancel.disabled = TERMINAL.has(status);
    if (resume) resume.disabled = status !== "blocked";
  }

  async function refresh() {
    pending = null;
    try {
      const response = await fetch(root.dataset.liveUrl, { credentials: "same-origin" });
      if (loggedOut(response) || !response.ok) return;
      const open = [...live.querySelectorAll("details[open][id]")].map((d) => d.id);
      live.innerHTML = await response.text();
      for (const id of open) {
        const el = document.getElementById(id);
        if (el) el.open = true;
      }
      applyStatus();
    } catch (err) {
      // Next event or action refreshes again.
    }
  }

  function refreshSoon() {
    if (pending === null) pending = setTimeout(refresh, 150);
  }

  function addEvent(event) {
    const row = document.createElement("tr");
    const cells = [
      String(event.id),
      (event.time || "").slice(11, 23),
      event.type,
      JSON.stringify(event.data),
    ];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      if (i === 0) td.className = "num";
      if (i === 1) td.className = "mono";
      if (i === 3) {
        const code = document.createElement("code");
        code.textContent = text.length > 240 ? text.slice(0, 239) + "…" : text;
        td.appendChild(code);
      } else {
        td.textContent = text;
      }
      row.appendChild(td);
    });
    events.appendChild(row);
  }

  function follow(url) {
    const source = new EventSource(url);
    source.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.id === null) {
        if (stream && event.type === "llm.delta" && event.data && typeof event.data.text === "string") {
          if (!streamed) { stream.textContent = ""; stream.classList.remove("muted"); streamed = true; }
          stream.textContent += event.data.text;
        }
        if (thinking && event.type === "llm.reasoning.delta" && event.data && typeof event.data.text === "string") {
          thinking.hidden = false;  // reasoning models only: shown apart from the answer
          thinking.textContent += event.data.text;
        }
        return;
      }
      addEvent(event);
      refreshSoon();
      if (FINAL.has(event.type)) {
        // The stream ends here; without close() EventSource would reconnect forever.
        source.close();
        document.getElementById("events-note").textContent = "the run has finished";
      }
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        banner("The live event stream was refused; reload the page.");
      }
    };
  }

  function flash(text, bad) {
    const el = document.getElementById("flash");
    el.textContent = text;
    el.classList.toggle("bad", bad);
    el.hidden = false;
  }

  function body(form) {
    if (form.dataset.kind !== "signal") return null;
    const raw = form.elements.payload.value.trim();
    let payload = null;
    if (raw) {
      try {
        payload = JSON.parse(raw);
      } catch (err) {
        throw new Error("the payload is not valid JSON: " + err.message);
      }
    }
    return { name: form.elements.name.value.trim(), payload: payload };
  }

  async function act(form) {
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    let data;
    try {
      data = body(form);
    } catch (err) {
      flash(err.message, true);
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const response = await fetch(form.dataset.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: data === null ? "{}" : JSON.stringify(data),
      });
      let answer = {};
      try { answer = await response.json(); } catch (err) { /* not JSON */ }
      if (!response.ok) {
        const title = answer.title || ("HTTP " + response.status);
        flash(title + ": " + (answer.detail || response.statusText), true);
      } else if (form.dataset.kind === "signal") {
        flash("signal " + answer.signal + " sent", false);
      } else if (form.dataset.kind === "cancel") {
        const n = (answer.cancelled || []).length;
        flash(n ? "cancelled " + n + " run(s)" : "nothing to cancel: the run had finished", false);
      } else {
        flash("resumed: the run is " + answer.status, false);
      }
    } catch (err) {
      flash("the server did not answer: " + err.message, true);
    } finally {
      button.disabled = false;
      await refresh();
    }
  }

  for (const form of root.querySelectorAll("form[data-action]")) {
    form.addEventListener("submit", (e) => { e.preventDefault(); act(form); });
  }

  // A tool call awaiting approval: its forms come and go with the live part, so the
  // listener sits on the page, not on each form.
  function decision(form, kind) {
    const data = { decision: kind };
    if (kind === "reject") {
      const message = form.elements.message.value.trim();
      if (message) data.message = message;
    } else if (kind === "edit") {
      try {
        data.arguments = JSON.parse(form.elements.arguments.value);
      } catch (err) {
        throw new Error("the arguments are not valid JSON: " + err.message);
      }
    }
    return data;
  }

  async function decide(form, kind) {
    let data;
    try {
      data = decision(form, kind);
    } catch (err) {
      flash(err.message, true);
      return;
    }
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const response = await fetch(form.dataset.approvalAction, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(data),
      });
      if (loggedOut(response)) return;
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        flash((answer.title || ("HTTP " + response.status)) + ": " + (answer.detail || response.statusText), true);
        buttons.forEach((b) => { b.disabled = false; });
        return;
      }
      const done = { approve: "approved", reject: "rejected", edit: "edited" }[kind];
      flash(answer.tool + " (" + answer.call_id + ") " + done, false);
    } catch (err) {
      flash("the server did not answer: " + err.message, true);
      buttons.forEach((b) => { b.disabled = false; });
      return;
    }
    await refresh();
  }

  root.addEventListener("submit", (e) => {
    const form = e.target.closest("form[data-approval-action]");
    if (!form) return;
    e.preventDefault();
    const kind = e.submitter && e.submitter.value ? e.submitter.value : "approve";
    decide(form, kind);
  });
  applyStatus();
  if (root.dataset.eventsUrl) follow(root.dataset.eventsUrl);
}

document.addEventListener("DOMContentLoaded", () => {
  loginFromFragment();
  document.querySelectorAll("[data-poll]").forEach(startPolling);
  const run = document.getElementById("run");
  if (run) runPage(run);
});

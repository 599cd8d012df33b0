// What both dashboard pages share: the logon, API calls with the CSRF token, event
// streams that say when they reconnect, and how states, times and stops read.
//
// The logon's id is the credential and lives only in the HttpOnly cookie the API sets;
// this script keeps the logon's role and CSRF token in sessionStorage (this tab, until
// it closes) and sends the token as X-CSRF-Token on every POST and DELETE.
"use strict";

const LOGON_KEY = "spe_host.logon";

/** The logon this tab holds ({role, csrf_token, idle_timeout}), or null. */
export function currentLogon() {
  try {
    const found = JSON.parse(sessionStorage.getItem(LOGON_KEY) || "null");
    return found && typeof found.csrf_token === "string" ? found : null;
  } catch {
    return null;
  }
}

/** Make an element: el("td", {class: "x", title: "y"}, "text", child, ...). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

let onSignedOut = () => {};

/**
 * Call the API. Resolves to {ok, status, body} (body: the parsed JSON, or null);
 * never rejects: a network failure is status 0 with a message in body.error.
 * A 401 (the logon expired or was closed) shows the login form again.
 */
export async function api(method, path, json) {
  const headers = { Accept: "application/json" };
  const logon = currentLogon();
  if (method !== "GET" && logon) headers["X-CSRF-Token"] = logon.csrf_token;
  const init = { method, headers, credentials: "same-origin" };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    return { ok: false, status: 0, body: { error: { code: "network", message: `the host did not answer (${error.message}); is it still running?` } } };
  }
  let body = null;
  if (response.status !== 204) {
    try {
      body = await response.json();
    } catch {
      body = null;
    }
  }
  if (response.status === 401) {
    sessionStorage.removeItem(LOGON_KEY);
    onSignedOut(errorText({ status: 401, body }));
  }
  return { ok: response.ok, status: response.status, body };
}

/** The sentence of a failed answer. */
export function errorText(answer) {
  const message = answer.body && answer.body.error && answer.body.error.message;
  return message || `the host answered ${answer.status}`;
}

/** Percent-encode a session or run id for a path ("etl#7" -> "etl%237"). */
export function enc(id) {
  return encodeURIComponent(id);
}

/** Show a sentence in the page's notice line (kind: "ok" or "error"). */
export function notify(text, kind = "ok") {
  const notice = document.getElementById("notice");
  notice.textContent = text;
  notice.dataset.kind = kind;
}

function renderLogin(message, main) {
  const login = document.getElementById("login");
  const input = el("input", { id: "token", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const error = el("p", { id: "login-error", class: "notice", role: "alert", "data-kind": "error" }, message || "");
  const form = el(
    "form",
    {},
    el("label", { for: "token" }, "Token"),
    input,
    el("button", { type: "submit" }, "Log on"),
  );
  login.replaceChildren(
    el("h2", { id: "login-title" }, "Log on"),
    el("p", {}, "Paste the host's admin or operator token (from the token file `spe-host serve --http` writes). It is sent once, in exchange for a session cookie this page's scripts cannot read."),
    form,
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    let response;
    try {
      response = await fetch("/api/logon?cookie=true", {
        method: "POST",
        headers: { Authorization: `Bearer ${input.value.trim()}`, Accept: "application/json" },
        credentials: "same-origin",
      });
    } catch (failure) {
      error.textContent = `the host did not answer (${failure.message})`;
      return;
    }
    const body = await response.json().catch(() => null);
    if (response.status !== 201) {
      error.textContent = errorText({ status: response.status, body });
      input.select();
      return;
    }
    input.value = "";
    sessionStorage.setItem(LOGON_KEY, JSON.stringify({ role: body.role, csrf_token: body.csrf_token, idle_timeout: body.idle_timeout }));
    window.location.reload();
  });
  document.getElementById("app").hidden = true;
  document.getElementById("account").hidden = true;
  login.hidden = false;
  input.focus();
}

function renderAccount(logon) {
  const account = document.getElementById("account");
  const logout = el("button", { type: "button", id: "logout" }, "Log out");
  logout.addEventListener("click", async () => {
    await api("DELETE", "/api/logon/current");
    sessionStorage.removeItem(LOGON_KEY);
    window.location.reload();
  });
  account.replaceChildren(el("span", { id: "role", class: "role" }, `signed in as ${logon.role}`), logout);
  account.hidden = false;
}

/**
 * Start a page: the login form until this tab has a logon, then main(logon).
 * After a 401 the login form comes back with the API's sentence.
 */
export function startPage(main) {
  let started = false;
  onSignedOut = (message) => {
    if (!started) return;
    started = false;
    renderLogin(message.endsWith(".") ? message : `${message}.`, main);
  };
  const logon = currentLogon();
  if (!logon) {
    renderLogin("", main);
    return;
  }
  started = true;
  renderAccount(logon);
  document.getElementById("login").hidden = true;
  document.getElementById("app").hidden = false;
  main(logon);
}

/**
 * Follow an event stream, saying in statusEl whether it is live or reconnecting.
 * url() gives the address of each (re)connection; handlers map event names to
 * functions of (data, event). The browser reconnects by itself after a network
 * error; a stream the host refused (closed) is probed with probe(), which shows the
 * login form after a 401, and tried again after a pause. Returns {close()}.
 */
export function follow(url, handlers, statusEl, probe) {
  let source = null;
  let closed = false;
  let retry = null;
  const status = (text, kind) => {
    statusEl.textContent = text;
    statusEl.dataset.kind = kind;
  };
  const open = () => {
    source = new EventSource(url(), { withCredentials: true });
    source.addEventListener("open", () => {
      status("live", "live");
      if (handlers.open) handlers.open();
    });
    for (const [name, handle] of Object.entries(handlers)) {
      if (name === "open") continue;
      source.addEventListener(name, (event) => handle(JSON.parse(event.data), event));
    }
    source.addEventListener("error", async () => {
      if (closed) return;
      if (source.readyState === EventSource.CONNECTING) {
        status("reconnecting…", "reconnecting");
        return;
      }
      status("disconnected; retrying…", "reconnecting");
      source.close();
      const answer = await probe();
      if (closed || answer.status === 401) return;
      if (!answer.ok && answer.status !== 0) {
        status(`stopped: ${errorText(answer)}`, "error");
        return;
      }
      retry = setTimeout(open, 2000);
    });
  };
  open();
  return {
    close() {
      closed = true;
      clearTimeout(retry);
      if (source) source.close();
    },
  };
}

const STATES = { running: "●", stopping: "◐", idle: "○", closed: "✕" };
const STATUSES = { completed: "✓", failed: "✗", aborted: "⊘" };

/** A session state as shape and text: <span class="state running">● running</span>. */
export function stateBadge(state) {
  return el("span", { class: `badge state-${state}` }, `${STATES[state] || "?"} ${state}`);
}

/** An execution status as shape and text, or an em dash for none. */
export function statusBadge(status) {
  if (!status) return el("span", { class: "muted" }, "—");
  return el("span", { class: `badge status-${status}` }, `${STATUSES[status] || "?"} ${status}`);
}

/** A time from the API (ISO 8601 UTC) in local time; the date too unless it is today. */
export function formatTime(iso) {
  if (!iso) return "—";
  const when = new Date(iso);
  const today = new Date().toDateString() === when.toDateString();
  return today ? when.toLocaleTimeString() : when.toLocaleString();
}

/** Seconds as "4.2 s", "3 min 05 s", "2 h 01 min". */
export function formatDuration(seconds) {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

/** How long the session's run has taken: till now while it runs, else till it ended. */
export function runDuration(session) {
  if (!session.run_started_at) return "—";
  const begun = Date.parse(session.run_started_at);
  const active = session.state === "running" || session.state === "stopping";
  const ended = active ? Date.now() : session.run_ended_at ? Date.parse(session.run_ended_at) : null;
  return ended === null ? "—" : formatDuration(Math.max(0, ended - begun) / 1000);
}

/** The progress bar and message of a session: <progress> (indeterminate without a percent). */
export function progressCell(session) {
  const wrap = el("span", { class: "progress" });
  const active = session.state === "running" || session.state === "stopping";
  if (session.progress_percent !== null || active) {
    const label = session.progress_percent === null ? "progress unknown" : `${Math.round(session.progress_percent)} percent`;
    const bar = el("progress", { max: "100", "aria-label": label });
    if (session.progress_percent !== null) bar.value = session.progress_percent;
    wrap.append(bar, el("span", { class: "percent" }, session.progress_percent === null ? "" : `${Math.round(session.progress_percent)}%`));
  }
  if (session.progress_message) wrap.append(el("span", { class: "message" }, session.progress_message));
  return wrap;
}

// What each stop ticket was last seen blocked in: the ticket forgets once it lands,
// the page shows it as a step it went through.
const blockedSeen = new Map();

/** The steps a stop went through, from its ticket and what this page saw of it. */
export function stopSteps(ticket, { who = false } = {}) {
  if (ticket.blocked_in) blockedSeen.set(ticket.id, ticket.blocked_in);
  const by = who ? ` by ${ticket.requested_by}` : "";
  const steps = [`stop requested${by}${ticket.reason ? `, reason “${ticket.reason}”` : ""}`];
  if (ticket.forced_at) steps.push("forced");
  if (ticket.deferred) steps.push(`deferred: ${ticket.deferred}`);
  const blocked = blockedSeen.get(ticket.id);
  if (blocked) steps.push(`blocked in ${blocked}`);
  if (ticket.landed_at) steps.push(`landed at ${ticket.landed_at}`);
  if (ticket.phase === "finished") {
    steps.push(ticket.status === "aborted" ? "aborted" : `the run ended ${ticket.status || ""} before the stop landed`);
  }
  return steps;
}

/** A stop ticket as its steps, the newest emphasised; its note below. */
export function stopCell(ticket, options) {
  const steps = stopSteps(ticket, options);
  const trail = el("span", { class: `trail phase-${ticket.phase}`, "data-phase": ticket.phase });
  steps.forEach((step, index) => {
    if (index > 0) trail.append(el("span", { class: "arrow", "aria-hidden": "true" }, " → "));
    trail.append(el(index === steps.length - 1 ? "strong" : "span", { class: "step" }, step));
  });
  if (ticket.note) trail.append(el("span", { class: "note" }, ` (${ticket.note})`));
  return trail;
}

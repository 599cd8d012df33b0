// The sessions page: a table of every session kept current by GET /api/events (no
// polling), filtered by state here and by ids or wildcards at the host, with a stop
// button per running session, "stop selected", and each stop's ticket shown live.
"use strict";

import {
  api,
  el,
  enc,
  errorText,
  follow,
  formatTime,
  notify,
  progressCell,
  runDuration,
  startPage,
  stateBadge,
  statusBadge,
  stopCell,
} from "./app.js";

const rows = new Map(); // session id -> {session, tr, cells, button, message}
const selected = new Set();
let patterns = [];
let stream = null;

const $ = (id) => document.getElementById(id);

function active(session) {
  return session.state === "running" || session.state === "stopping";
}

function stopPath(id, reason) {
  const query = reason ? `&reason=${encodeURIComponent(reason)}` : "";
  return `/api/sessions/${enc(id)}?action=stop${query}`;
}

function rowMessage(id, text, kind) {
  const row = rows.get(id);
  if (!row) return;
  row.message.textContent = text;
  row.message.dataset.kind = kind;
}

// A stop's answer: a task. One that could not stop says why; one that did seeds the
// row with its ticket until the event stream brings the session's own.
function showTask(task) {
  if (task.result && !task.result.success) {
    rowMessage(task.session, task.result.message, "error");
    return task.result.message;
  }
  const row = rows.get(task.session);
  if (row && (!row.session.stop || row.session.stop.id !== task.id)) {
    update({ ...row.session, stop: task });
  }
  rowMessage(task.session, "", "ok");
  return null;
}

async function stopOne(id) {
  const row = rows.get(id);
  row.button.disabled = true;
  const answer = await api("POST", stopPath(id, $("reason").value.trim()));
  if (!answer.ok) {
    rowMessage(id, errorText(answer), "error");
    update(row.session);
    return;
  }
  const failed = showTask(answer.body);
  notify(failed ? `${id}: ${failed}` : `stop of ${id} requested (task ${answer.body.id})`, failed ? "error" : "ok");
}

async function stopSelected(event) {
  event.preventDefault();
  const ids = [...selected].filter((id) => rows.has(id) && !rows.get(id).tr.hidden);
  if (ids.length === 0) return;
  const reason = $("reason").value.trim();
  const answer = await api("POST", "/api/sessions/stop", { ids, reason: reason || null });
  if (!answer.ok) {
    notify(errorText(answer), "error");
    return;
  }
  const failures = answer.body.tasks.map(showTask).filter(Boolean);
  const missing = answer.body.not_found.map((id) => `${id}: no such session`);
  const problems = [...failures, ...missing];
  const asked = answer.body.tasks.length - failures.length;
  notify(`stop requested for ${asked} session${asked === 1 ? "" : "s"}${problems.length ? `; ${problems.join("; ")}` : ""}`, problems.length ? "error" : "ok");
  selected.clear();
  for (const row of rows.values()) row.select.checked = false;
  syncSelection();
}

function syncSelection() {
  $("stop-selected").disabled = selected.size === 0;
  $("stop-selected").textContent = selected.size ? `Stop selected (${selected.size})` : "Stop selected";
}

function createRow(session) {
  const cells = {};
  const tr = el("tr", { "data-id": session.id });
  const select = el("input", { type: "checkbox", "aria-label": `Select ${session.id}` });
  select.addEventListener("change", () => {
    if (select.checked) selected.add(session.id);
    else selected.delete(session.id);
    syncSelection();
  });
  tr.append(el("td", {}, select));
  for (const name of ["id", "state", "run", "name", "progress", "location", "started", "duration", "last"]) {
    cells[name] = el("td", { class: `col-${name}` });
    tr.append(cells[name]);
  }
  const button = el("button", { type: "button", class: "stop" }, "Stop");
  button.addEventListener("click", () => stopOne(session.id));
  const ticket = el("span", { class: "ticket" });
  const message = el("span", { class: "row-message", role: "status" });
  cells.stop = el("td", { class: "col-stop" }, button, ticket, message);
  tr.append(cells.stop);
  const row = { session, tr, cells, select, button, ticket, message };
  rows.set(session.id, row);
  placeRow(row);
  return row;
}

// Oldest first, as the API lists them; a session that comes back keeps its place.
function placeRow(row) {
  const body = $("sessions").tBodies[0];
  const later = [...rows.values()].find((other) => other !== row && other.tr.isConnected && other.session.created_at > row.session.created_at);
  body.insertBefore(row.tr, later ? later.tr : null);
}

function update(session) {
  const row = rows.get(session.id) || createRow(session);
  row.session = session;
  const { cells } = row;
  cells.id.replaceChildren(el("a", { href: `/session/${enc(session.id)}` }, session.id));
  cells.state.replaceChildren(stateBadge(session.state));
  cells.run.textContent = session.run || "—";
  cells.name.textContent = session.name || "";
  cells.progress.replaceChildren(progressCell(session));
  cells.location.replaceChildren(session.location ? el("code", {}, session.location) : "");
  cells.started.textContent = formatTime(session.run_started_at);
  cells.duration.textContent = runDuration(session);
  cells.last.replaceChildren(statusBadge(session.last_status));
  row.button.disabled = session.state !== "running";
  row.button.textContent = session.state === "stopping" ? "Stopping" : "Stop";
  row.button.setAttribute("aria-label", `Stop ${session.id}`);
  row.ticket.replaceChildren(session.stop ? stopCell(session.stop) : "");
  row.ticket.title = session.stop ? `requested by ${session.stop.requested_by}` : "";
  row.tr.dataset.state = session.state;
  applyStateFilter(row);
  $("empty").hidden = [...rows.values()].some((other) => !other.tr.hidden);
}

function remove(id) {
  const row = rows.get(id);
  if (!row) return;
  row.tr.remove();
  rows.delete(id);
  selected.delete(id);
  syncSelection();
  $("empty").hidden = [...rows.values()].some((other) => !other.tr.hidden);
}

function applyStateFilter(row) {
  const wanted = $("state-filter").value;
  row.tr.hidden = wanted !== "" && row.session.state !== wanted;
}

function eventsUrl() {
  const query = patterns.map((pattern) => `pattern=${encodeURIComponent(pattern)}`).join("&");
  return `/api/events${query ? `?${query}` : ""}`;
}

function listen() {
  if (stream) stream.close();
  stream = follow(
    eventsUrl,
    {
      // The host sends the whole table on every (re)connection.
      open() {
        for (const id of [...rows.keys()]) remove(id);
      },
      session: update,
      removed: (data) => remove(data.id),
    },
    $("stream"),
    () => api("GET", `/api/sessions?${patterns.map((p) => `pattern=${encodeURIComponent(p)}`).join("&")}`),
  );
}

async function applyFilters(event) {
  event.preventDefault();
  for (const row of rows.values()) applyStateFilter(row);
  $("empty").hidden = [...rows.values()].some((other) => !other.tr.hidden);
  const wanted = $("pattern-filter").value.split(/[\s,]+/).filter(Boolean);
  if (wanted.join(" ") === patterns.join(" ")) return;
  // Asked once, so a bad pattern is a sentence here rather than a silent stream error.
  const query = wanted.map((pattern) => `pattern=${encodeURIComponent(pattern)}`).join("&");
  const answer = await api("GET", `/api/sessions?${query}`);
  if (!answer.ok) {
    notify(errorText(answer), "error");
    return;
  }
  patterns = wanted;
  notify(patterns.length ? `showing sessions matching ${patterns.join(", ")}` : "showing every session");
  listen();
}

startPage(() => {
  $("filters").addEventListener("submit", applyFilters);
  $("state-filter").addEventListener("change", applyFilters);
  $("stopping").addEventListener("submit", stopSelected);
  $("select-all").addEventListener("change", (event) => {
    for (const row of rows.values()) {
      const take = event.target.checked && !row.tr.hidden && row.session.state === "running";
      row.select.checked = take;
      if (take) selected.add(row.session.id);
      else selected.delete(row.session.id);
    }
    syncSelection();
  });
  // The clock of the "running for" column; the data itself comes only from events.
  setInterval(() => {
    for (const row of rows.values()) {
      if (active(row.session)) row.cells.duration.textContent = runDuration(row.session);
    }
  }, 1000);
  listen();
});

// A session's page: its output followed live over
// GET /api/sessions/{id}/output?follow=true, its state, progress, location and current
// stop over GET /api/events for its id, the runs it keeps, a stop button; for the
// admin role a code box and remove.
//
// Every line exactly once: a page load reads the output from offset 0 (the host keeps
// the newest 16 MiB by default, and says how many bytes it no longer holds); after a
// dropped connection the browser resumes by itself with Last-Event-ID, the offset
// after the last chunk shown, and a stream this page has to reopen asks for
// ?offset= of that same place. Nothing is kept across reloads but the logon.
"use strict";

import {
  api,
  el,
  enc,
  errorText,
  follow,
  formatDuration,
  formatTime,
  notify,
  progressCell,
  runDuration,
  startPage,
  stateBadge,
  statusBadge,
  stopCell,
} from "./app.js";

const $ = (id) => document.getElementById(id);
const id = decodeURIComponent(window.location.pathname.replace(/^\/session\//, ""));
const base = `/api/sessions/${enc(id)}`;

let session = null;
let end = 0; // the byte offset just past the last output shown
let stream = null;
let summary = null;
let missing = false;
let shownRun = null;
let pendingText = [];

function showSession(next) {
  session = next;
  $("f-state").replaceChildren(stateBadge(session.state));
  $("f-run").textContent = session.run || "—";
  $("f-name").textContent = session.name || "—";
  $("f-progress").replaceChildren(progressCell(session));
  $("f-location").replaceChildren(session.location ? el("code", {}, session.location) : "—");
  $("f-started").textContent = formatTime(session.run_started_at);
  $("f-duration").textContent = runDuration(session);
  $("f-last").replaceChildren(statusBadge(session.last_status));
  $("f-stop").replaceChildren(session.stop ? stopCell(session.stop, { who: true }) : "—");
  $("stop").disabled = session.state !== "running";
  const key = `${session.state} ${session.run}`;
  if (key !== shownRun) {
    shownRun = key;
    loadRuns();
  }
}

function showMissing(answer) {
  missing = true;
  session = null;
  for (const field of ["state", "run", "name", "progress", "location", "started", "duration", "last", "stop"]) {
    $(`f-${field}`).textContent = "—";
  }
  $("f-state").textContent = errorText(answer);
  $("stop").disabled = true;
}

// Output arrives in chunks of up to 64 KiB; the page draws once per frame.
function appendText(text) {
  pendingText.push(text);
  if (pendingText.length === 1) requestAnimationFrame(flushText);
}

function flushText() {
  const output = $("output");
  output.append(pendingText.join(""));
  pendingText = [];
  if ($("autoscroll").checked) output.scrollTop = output.scrollHeight;
}

function listen() {
  if (stream) stream.close();
  stream = follow(
    () => `${base}/output?follow=true&offset=${end}`,
    {
      output(chunk, event) {
        if (chunk.dropped) appendText(`[${chunk.dropped} bytes of output the host no longer holds]\n`);
        appendText(chunk.text);
        end = Number(event.lastEventId);
      },
      end() {
        stream.close();
        $("stream").textContent = "ended: the session was removed";
        $("stream").dataset.kind = "error";
        // A session made again under this id starts its output at 0.
        appendText("[the session was removed]\n");
        end = 0;
      },
    },
    $("stream"),
    probe,
  );
}

// The summary follows /api/events for this one id: every change of state, progress,
// location and stop ticket (what the output stream does not carry).
function watch() {
  if (summary) summary.close();
  summary = follow(
    () => `/api/events?pattern=${enc(id)}`,
    {
      session: showSession,
      removed: () => showMissing({ status: 404, body: { error: { message: `the session ${id} was removed` } } }),
    },
    $("live"),
    probe,
  );
}

async function probe() {
  const answer = await api("GET", base);
  if (answer.status === 404) showMissing(answer);
  return answer;
}

function runItem(result) {
  const took = (Date.parse(result.finished_at) - Date.parse(result.started_at)) / 1000;
  const item = el(
    "li",
    { class: "run", "data-run": result.run },
    el("h3", {}, `${result.run} `, statusBadge(result.status), el("span", { class: "muted" }, ` started ${formatTime(result.started_at)}, took ${formatDuration(took)}`)),
  );
  if (result.value !== null) item.append(el("p", {}, "Value: ", el("code", {}, result.value)));
  if (result.error) item.append(el("pre", { class: "traceback", tabindex: "0", "aria-label": `Traceback of ${result.run}` }, result.error));
  if (result.output) {
    // The run's output is in the stream above too; drawn only when asked for.
    const details = el("details", {}, el("summary", {}, `its output (${result.output.length} characters)`));
    details.addEventListener("toggle", () => {
      if (details.open && details.childElementCount === 1) details.append(el("pre", { class: "output" }, result.output));
    }, { once: false });
    item.append(details);
  }
  return item;
}

async function loadRuns() {
  const answer = await api("GET", `${base}/runs`);
  if (!answer.ok) {
    $("runs").replaceChildren();
    return;
  }
  const runs = answer.body.runs.slice().reverse();
  $("runs").replaceChildren(...(runs.length ? runs.map(runItem) : [el("li", { class: "muted" }, "none kept")]));
}

async function stop(event) {
  event.preventDefault();
  const reason = $("reason").value.trim();
  const answer = await api("POST", `${base}?action=stop${reason ? `&reason=${encodeURIComponent(reason)}` : ""}`);
  if (!answer.ok) {
    notify(errorText(answer), "error");
    return;
  }
  const task = answer.body;
  if (task.result && !task.result.success) notify(task.result.message, "error");
  else notify(`stop requested (task ${task.id})`);
}

async function runCode(event) {
  event.preventDefault();
  const code = $("code").value;
  const how = event.submitter ? event.submitter.value : "execute";
  const result = $("result");
  const answer = how === "start"
    ? await api("POST", `${base}?action=start`, { code, name: $("job-name").value.trim() || null })
    : await api("POST", `${base}/execute`, { code });
  if (!answer.ok) {
    notify(errorText(answer), "error");
    return;
  }
  if (how === "start") {
    notify(`started ${answer.body.run}`);
  } else {
    const outcome = answer.body;
    const lines = [`${outcome.run}: ${outcome.status}`];
    if (outcome.value !== null) lines.push(outcome.value);
    if (outcome.error) lines.push(outcome.error);
    result.textContent = lines.join("\n");
    result.hidden = false;
    notify(`${outcome.run} ${outcome.status}`, outcome.status === "completed" ? "ok" : "error");
  }
  if (missing) {
    // The code made the session: follow it now.
    missing = false;
    listen();
  }
}

async function removeSession(event) {
  event.preventDefault();
  const answer = await api("DELETE", `${base}${$("force").checked ? "?force=true" : ""}`);
  if (!answer.ok) notify(errorText(answer), "error");
  else notify(`session ${id} removed`);
}

startPage((logon) => {
  $("session-id").textContent = id;
  document.title = `${id} · spe_host`;
  $("stop-form").addEventListener("submit", stop);
  if (logon.role === "admin") {
    $("admin").hidden = false;
    $("code-form").addEventListener("submit", runCode);
    $("remove-form").addEventListener("submit", removeSession);
  } else {
    // Not hidden but absent: an operator's page has no code box at all.
    $("admin").remove();
  }
  setInterval(() => {
    if (session && (session.state === "running" || session.state === "stopping")) $("f-duration").textContent = runDuration(session);
  }, 1000);
  listen();
  watch();
});

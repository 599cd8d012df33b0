// The /api/docs page: loads /api/openapi.json and lists every operation with its
// parameters, request body and responses, and every schema with its fields.
// No framework and no build step; the document is rendered with textContent only.
"use strict";

const METHODS = ["get", "post", "put", "patch", "delete"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function refName(ref) {
  return ref.slice(ref.lastIndexOf("/") + 1);
}

// A schema as a short type expression, with links to the named schemas.
function typeOf(schema) {
  if (!schema || Object.keys(schema).length === 0) return el("span", { class: "type" }, "any");
  if (schema.$ref) {
    const name = refName(schema.$ref);
    return el("a", { class: "type", href: "#schema-" + name }, name);
  }
  const parts = [];
  if (schema.anyOf || schema.oneOf) {
    (schema.anyOf || schema.oneOf).forEach((choice, i) => {
      if (i) parts.push(" | ");
      parts.push(typeOf(choice));
    });
  } else if (schema.enum) {
    parts.push(schema.enum.map((v) => JSON.stringify(v)).join(" | "));
  } else if (Array.isArray(schema.type)) {
    parts.push(schema.type.join(" | "));
  } else if (schema.type === "array") {
    parts.push("array of ", typeOf(schema.items));
  } else if (schema.type === "object" && schema.additionalProperties) {
    parts.push("object of ", typeOf(schema.additionalProperties));
  } else {
    parts.push(schema.type || "any");
    if (schema.format) parts.push(" (" + schema.format + ")");
  }
  return el("span", { class: "type" }, ...parts);
}

function table(headings, rows) {
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c))))),
  );
}

function fields(schema) {
  const required = new Set(schema.required || []);
  const rows = Object.entries(schema.properties || {}).map(([name, field]) => [
    el("code", {}, name),
    typeOf(field),
    required.has(name) ? "required" : el("span", { class: "muted" }, "optional"),
    field.description || "",
  ]);
  return rows.length ? table(["field", "type", "", "description"], rows) : null;
}

function content(media) {
  const out = [];
  for (const [type, body] of Object.entries(media || {})) {
    out.push(el("div", {}, el("code", {}, type), ": ", typeOf(body.schema)));
    if (body["x-events"]) {
      const rows = Object.entries(body["x-events"]).map(([name, event]) => [
        el("code", {}, "event: " + name),
        typeOf(event.schema),
        event.description || "",
      ]);
      out.push(table(["event", "data", "description"], rows));
    }
  }
  return out;
}

function operation(doc, path, method, op) {
  const body = el("div", { class: "body" });
  if (op.description) body.append(el("p", {}, op.description));
  const security = op.security === undefined ? doc.security : op.security;
  body.append(
    el("p", { class: "muted" }, security && security.length
      ? "Authentication: " + security.map((s) => Object.keys(s).join(" + ")).join(", or ")
      : "No authentication."),
  );
  const params = op.parameters || [];
  if (params.length) {
    body.append(el("h3", {}, "Parameters"));
    body.append(table(["name", "in", "type", "", "description"], params.map((p) => [
      el("code", {}, p.name), p.in, typeOf(p.schema),
      p.required ? "required" : el("span", { class: "muted" }, "optional"), p.description || "",
    ])));
  }
  if (op.requestBody) {
    body.append(el("h3", {}, "Request body"), ...content(op.requestBody.content));
  }
  body.append(el("h3", {}, "Responses"));
  body.append(table(["status", "description", "body"], Object.entries(op.responses || {}).map(
    ([status, r]) => [el("span", { class: "status" }, status), r.description || "", el("div", {}, ...content(r.content))],
  )));
  const summary = el(
    "summary", {},
    el("span", { class: "method " + method }, method.toUpperCase()),
    el("span", { class: "path" }, path),
    el("span", { class: "summary" }, op.summary || ""),
  );
  const details = el("details", { class: "op", id: op.operationId || method + path }, summary, body);
  details.dataset.search = [method, path, op.summary || ""].join(" ").toLowerCase();
  return details;
}

function render(doc) {
  document.title = doc.info.title;
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  document.getElementById("description").textContent = doc.info.description || "";
  const schemes = (doc.components && doc.components.securitySchemes) || {};
  document.getElementById("auth").replaceChildren(
    el("h2", {}, "Authentication"),
    table(["scheme", "how"], Object.entries(schemes).map(([name, s]) => [
      el("code", {}, name),
      s.description || (s.type === "http" ? "Authorization: " + s.scheme : s.in + " " + s.name),
    ])),
  );
  const ops = [el("h2", {}, "Operations")];
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      if (item[method]) ops.push(operation(doc, path, method, item[method]));
    }
  }
  document.getElementById("operations").replaceChildren(...ops);
  const schemas = [el("h2", {}, "Schemas")];
  for (const [name, schema] of Object.entries((doc.components && doc.components.schemas) || {})) {
    schemas.push(el("h3", { id: "schema-" + name }, name));
    if (schema.description) schemas.push(el("p", {}, schema.description));
    schemas.push(schema.properties ? fields(schema) : el("p", {}, typeOf(schema)));
  }
  document.getElementById("schemas").replaceChildren(...schemas);
}

document.getElementById("filter").addEventListener("input", (event) => {
  const words = event.target.value.toLowerCase().split(/\s+/).filter(Boolean);
  for (const op of document.querySelectorAll("details.op")) {
    op.hidden = !words.every((w) => op.dataset.search.includes(w));
  }
});

fetch("/api/openapi.json", { headers: { Accept: "application/json" } })
  .then((response) => {
    if (!response.ok) throw new Error("GET /api/openapi.json answered " + response.status);
    return response.json();
  })
  .then(render)
  .catch((error) => {
    const description = document.getElementById("description");
    description.className = "error";
    description.textContent = "The API description could not be loaded: " + error.message + ".";
  });

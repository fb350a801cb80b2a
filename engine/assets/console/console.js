// The operator console. Every request goes to this engine with the HttpOnly session cookie; the
// CSRF token from the session answer is sent on every POST. Data is written with textContent
// only, never as HTML. A new client secret lives in the page until it is left or reloaded.
"use strict";

(function () {
  var csrf = null;
  var auditCursor = null;
  var $ = function (id) { return document.getElementById(id); };

  function status(text) { $("status").textContent = text; }
  function alertBox(text) {
    var a = $("alert");
    a.textContent = text || "";
    a.hidden = !text;
  }

  function request(method, path, body) {
    var opts = { method: method, headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    if (method !== "GET" && csrf) opts.headers["X-CSRF-Token"] = csrf;
    return fetch(path, opts).then(function (resp) {
      if (resp.status === 204) return { status: 204, body: null };
      return resp.json().then(function (b) { return { status: resp.status, body: b }; },
        function () { return { status: resp.status, body: null }; });
    });
  }

  function failure(r) {
    var msg = r.body && r.body.message ? r.body.message : "the engine answered " + r.status;
    if (r.status === 401 && csrf) {
      showLogin("Your session ended: " + msg);
      return;
    }
    alertBox(msg);
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function fill(tableId, rows, render) {
    var tbody = $(tableId).querySelector("tbody");
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      render(tr, row);
      tbody.appendChild(tr);
    });
  }

  function showLogin(message) {
    csrf = null;
    $("app").hidden = true;
    $("who").hidden = true;
    $("login").hidden = false;
    status("Not signed in.");
    alertBox(message || "");
  }

  function showApp(session) {
    csrf = session.csrf_token;
    $("login").hidden = true;
    $("app").hidden = false;
    $("who").hidden = false;
    $("who-text").textContent = "Application " + session.client_id + ", organization " + session.organization_id;
    alertBox("");
    route();
  }

  var views = ["workspaces", "connectors", "audit", "health", "secret"];

  function route() {
    if (!csrf) return;
    var name = (location.hash || "#workspaces").slice(1);
    if (views.indexOf(name) < 0) name = "workspaces";
    views.forEach(function (v) {
      $("view-" + v).hidden = v !== name;
      var tab = $("tab-" + v);
      if (v === name) tab.setAttribute("aria-current", "page"); else tab.removeAttribute("aria-current");
    });
    alertBox("");
    if (name === "workspaces") loadWorkspaces();
    if (name === "connectors") loadConnectors();
    if (name === "audit") { loadWorkspaceChoices(); loadAudit(false); }
    if (name === "health") loadHealth();
    if (name === "secret") status("Client secret.");
  }

  function loadWorkspaces() {
    status("Loading workspaces…");
    request("GET", "/console/api/workspaces").then(function (r) {
      if (r.status !== 200) return failure(r);
      fill("workspaces-table", r.body.data, function (tr, w) {
        cell(tr, w.name); cell(tr, w.id, "id"); cell(tr, w.connectors); cell(tr, w.created_at);
      });
      status(r.body.data.length + " workspace(s).");
    });
  }

  function loadConnectors() {
    status("Loading connectors…");
    request("GET", "/console/api/connectors").then(function (r) {
      if (r.status !== 200) return failure(r);
      fill("connectors-table", r.body.data, function (tr, c) {
        cell(tr, c.name); cell(tr, c.connector_type); cell(tr, c.workspace_name); cell(tr, c.id, "id"); cell(tr, c.updated_at);
      });
      status(r.body.data.length + " connector(s).");
    });
  }

  function loadWorkspaceChoices() {
    request("GET", "/console/api/workspaces").then(function (r) {
      if (r.status !== 200) return;
      var sel = $("audit-workspace");
      var keep = sel.value;
      while (sel.options.length > 1) sel.remove(1);
      r.body.data.forEach(function (w) {
        var o = document.createElement("option");
        o.value = w.id;
        o.textContent = w.name;
        sel.appendChild(o);
      });
      sel.value = keep;
    });
  }

  function auditQuery() {
    var q = new URLSearchParams();
    ["workspace", "connector", "outcome", "since", "until"].forEach(function (f) {
      var el = $("audit-" + f);
      if (el.value.trim()) q.set(el.name, el.value.trim());
    });
    q.set("limit", "50");
    return q;
  }

  function loadAudit(more) {
    var q = auditQuery();
    if (more && auditCursor) q.set("cursor", auditCursor);
    status("Loading the audit log…");
    request("GET", "/console/api/audit?" + q.toString()).then(function (r) {
      if (r.status !== 200) return failure(r);
      var tbody = $("audit-table").querySelector("tbody");
      if (!more) while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
      r.body.data.forEach(function (a) {
        var tr = document.createElement("tr");
        cell(tr, a.created_at);
        cell(tr, a.outcome, a.outcome === "success" ? "outcome-success" : "outcome-error");
        cell(tr, a.entity); cell(tr, a.action); cell(tr, a.workspace_id, "id"); cell(tr, a.connector_id, "id");
        cell(tr, a.error_code); cell(tr, a.token_kind);
        tbody.appendChild(tr);
      });
      auditCursor = r.body.next_cursor || null;
      $("audit-more").hidden = !auditCursor;
      $("audit-empty").hidden = tbody.children.length > 0;
      status(tbody.children.length + " audit record(s) shown.");
    });
  }

  function loadHealth() {
    status("Loading health…");
    request("GET", "/console/api/health").then(function (r) {
      if (r.status !== 200) return failure(r);
      var m = r.body.metrics;
      var facts = [
        ["Status", r.body.status], ["Engine version", r.body.version],
        ["Requests answered", m.requests], ["Server errors (5xx)", m.server_errors],
        ["Operations executed", m.executions], ["Operations failed", m.failed_executions],
        ["Tokens issued", m.tokens_issued], ["Audit records dropped", m.audit_dropped],
        ["Open connections", m.connections_open]
      ];
      var dl = $("health-list");
      while (dl.firstChild) dl.removeChild(dl.firstChild);
      facts.forEach(function (f) {
        var dt = document.createElement("dt");
        dt.textContent = f[0];
        var dd = document.createElement("dd");
        dd.textContent = String(f[1]);
        dl.appendChild(dt);
        dl.appendChild(dd);
      });
      status("Engine " + r.body.status + ".");
    });
  }

  function rotate() {
    var button = $("rotate");
    button.disabled = true;
    $("secret-once").hidden = true;
    $("secret-value").textContent = "";
    request("POST", "/console/api/rotate-secret").then(function (r) {
      button.disabled = false;
      if (r.status !== 200) return failure(r);
      // The rotation ended every session of the old secret; this page continues as a new one.
      csrf = r.body.csrf_token;
      $("secret-value").textContent = r.body.client_secret;
      $("secret-once").hidden = false;
      status("A new client secret was made; the old one no longer works.");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("login-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = { client_id: $("client-id").value.trim(), client_secret: $("client-secret").value };
      $("login-submit").disabled = true;
      request("POST", "/console/api/login", body).then(function (r) {
        $("login-submit").disabled = false;
        $("client-secret").value = "";
        if (r.status !== 200) {
          alertBox(r.body && r.body.message ? r.body.message : "sign-in failed (" + r.status + ")");
          return;
        }
        showApp(r.body);
      });
    });
    $("logout").addEventListener("click", function () {
      request("POST", "/console/api/logout").then(function () {
        $("secret-value").textContent = "";
        $("secret-once").hidden = true;
        showLogin("Signed out.");
      });
    });
    $("audit-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      auditCursor = null;
      loadAudit(false);
    });
    $("audit-more").addEventListener("click", function () { loadAudit(true); });
    $("rotate").addEventListener("click", rotate);
    window.addEventListener("hashchange", route);
    request("GET", "/console/api/session").then(function (r) {
      if (r.status === 200) showApp(r.body); else showLogin("");
    });
  });
})();

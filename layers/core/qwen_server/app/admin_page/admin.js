// The admin page: signs in with an admin key, reads the admin API every few seconds, and runs the account
// actions. No framework and no build step; everything is drawn with DOM calls (never HTML strings), so
// nothing an upstream or an account name says can run as code.
"use strict";

(() => {
  const STORAGE_KEY = "qwen-admin-key";
  const REFRESH_MS = 5000;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  let timer = null;
  let generation = 0; // bumped at sign-out, so a refresh already under way draws nothing afterwards

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  const refused = (error) => error instanceof ApiError && (error.status === 401 || error.status === 403);

  // ---- the admin API, relative to this page (it works behind a path prefix such as a REST API stage) ----
  async function call(method, path, body) {
    const key = sessionStorage.getItem(STORAGE_KEY);
    if (!key) throw new ApiError(401, "not signed in");
    const init = { method, cache: "no-store", credentials: "omit", headers: { Authorization: `Bearer ${key}` } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(`admin/${path}`, init);
    } catch (error) {
      throw new ApiError(0, error instanceof TypeError && /header/i.test(error.message)
        ? "the key holds characters an HTTP header cannot carry" : `the gateway did not answer (${error.message})`);
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const message = data && data.error && data.error.message ? data.error.message : `HTTP ${response.status}`;
      throw new ApiError(response.status, message);
    }
    return data;
  }

  // ---- small DOM helpers -------------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
    }
    node.append(...children.filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    return node;
  }

  const percent = (x) => `${Math.round(x * 100)}%`;
  const count = (n) => Number(n || 0).toLocaleString("en");

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
    if (seconds < 90) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  // A horizontal bar in a 100 x 10 box: the track, then the given parts (x, width in 0..100; class names).
  function bar(label, parts) {
    const box = svg("svg", { class: "bar", viewBox: "0 0 100 10", preserveAspectRatio: "none", role: "img", "aria-label": label });
    const title = svg("title", {});
    title.textContent = label;
    box.append(title, svg("rect", { class: "track", x: 0, y: 3, width: 100, height: 4 }));
    for (const part of parts) {
      const x = Math.max(0, Math.min(100, part.x));
      const width = Math.max(part.min || 0, Math.min(100 - x, part.width));
      box.append(svg("rect", { class: part.cls, x, y: part.y ?? 1, width, height: part.height ?? 8 }));
    }
    return box;
  }

  // ---- drawing -----------------------------------------------------------------------------------------
  function stateCell(row, now) {
    const names = { ok: "healthy", suspect: "suspect", cooldown: "cooling down", ejected: "ejected", disabled: "disabled" };
    const cell = el("td", {}, el("span", { class: `badge state-${row.state}` }, names[row.state] || row.state));
    let left = null;
    if (row.state === "disabled") left = row.disabled_until ? `${duration(row.disabled_until - now)} left` : "until enabled";
    else if ((row.state === "cooldown" || row.state === "ejected") && row.cooldown_until) left = `${duration(Math.max(0, row.cooldown_until - now))} left`;
    if (row.reason) cell.append(el("div", { class: "reason" }, row.reason));
    if (left) cell.append(el("div", { class: "muted" }, left));
    return cell;
  }

  function slotsCell(row) {
    const used = Number(row.in_flight || 0);
    const max = Math.max(1, Number(row.max_concurrent || 1));
    return el("td", {}, `${used} / ${max}`, bar(`${used} of ${max} slots in use`, [{ cls: "used", x: 0, width: (100 * used) / max }]));
  }

  function successCell(row) {
    const [low, high] = row.interval_90 || [0, 1];
    const mean = Number(row.posterior_mean ?? 0.5);
    const label = `${percent(mean)} (${percent(low)}–${percent(high)})`;
    const tried = `${count(row.successes)} ok, ${count(row.failures)} failed`;
    return el("td", {}, label, bar(`success probability ${label}`, [
      { cls: "interval", x: low * 100, width: (high - low) * 100, min: 1 },
      { cls: "mean", x: mean * 100 - 0.75, width: 1.5, y: 0, height: 10 },
    ]), el("div", { class: "muted" }, tried));
  }

  function latencyCell(row, slowest) {
    const ttft = row.p50_ttft;
    if (ttft === null || ttft === undefined) return el("td", { class: "muted" }, "no answers yet");
    return el("td", {}, duration(ttft), bar(`median time to first token ${duration(ttft)}`, [{ cls: "latency", x: 0, width: (100 * ttft) / slowest, min: 1 }]));
  }

  function actionsCell(row) {
    const disabled = row.state === "disabled";
    const toggle = el("button", { type: "button", "data-action": disabled ? "enable" : "disable" }, disabled ? "Enable" : "Disable");
    toggle.addEventListener("click", () => (disabled ? enable(row, toggle) : disable(row, toggle)));
    const probe = el("button", { type: "button", "data-action": "probe", class: "quiet" }, "Probe");
    probe.addEventListener("click", () => probeAccount(row, probe));
    return el("td", { class: "actions" }, toggle, probe);
  }

  function drawAccounts(listing) {
    const rows = listing.data || [];
    const slowest = Math.max(1, ...rows.map((r) => Number(r.p50_ttft || 0)));
    $("accounts").tBodies[0].replaceChildren(...(rows.length ? rows.map((row) => el("tr", { "data-account": row.name, "data-account-id": row.id, "data-state": row.state },
      el("td", {}, el("strong", {}, row.name), el("div", { class: "muted" }, row.id)),
      el("td", {}, row.kind),
      stateCell(row, listing.now),
      slotsCell(row),
      successCell(row),
      latencyCell(row, slowest),
      actionsCell(row),
    )) : [el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No accounts are configured."))]));
    const source = listing.error ? `from ${listing.source} — last reload failed: ${listing.error}` : `from ${listing.source}`;
    $("accounts-source").textContent = listing.source ? source : "";
  }

  function drawQueues(view) {
    const classes = Object.entries(view.classes || {});
    $("queues").tBodies[0].replaceChildren(...classes.map(([name, q]) => el("tr", { "data-class": name },
      el("td", {}, name),
      el("td", {}, `${count(q.queued)} of ${count(q.queue_limit)}`),
      el("td", {}, `${count(q.in_flight)} / ${count(q.limit)}`),
      el("td", {}, q.local_oldest_wait_s === null || q.local_oldest_wait_s === undefined ? "—" : duration(q.local_oldest_wait_s)),
      el("td", {}, duration((q.wait_p95_ms || 0) / 1000)),
      el("td", {}, `${count(q.queue_full)} full, ${count(q.timed_out)} timed out`),
    )));
  }

  function drawUsage(usage) {
    const tenants = new Map();
    for (const window of ["hour", "day"]) {
      for (const row of (usage[window] && usage[window].data) || []) {
        if (!tenants.has(row.tenant)) tenants.set(row.tenant, {});
        tenants.get(row.tenant)[window] = row;
      }
    }
    const figures = (row) => row
      ? [el("td", {}, count(row.requests)), el("td", {}, count(row.input_tokens + row.output_tokens)), el("td", { class: row.errors ? "bad" : "" }, count(row.errors))]
      : [el("td", { class: "muted" }, "0"), el("td", { class: "muted" }, "0"), el("td", { class: "muted" }, "0")];
    $("usage").tBodies[0].replaceChildren(...(tenants.size ? [...tenants].map(([tenant, w]) => el("tr", { "data-tenant": tenant },
      el("td", {}, el("code", {}, tenant)), ...figures(w.hour), ...figures(w.day),
    )) : [el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No requests in the last day."))]));
  }

  function drawErrors(listing) {
    const now = listing.now;
    const items = (listing.data || []).map((e) => el("li", { "data-diagnosis": e.diagnosis },
      el("div", { class: "line" },
        el("span", { class: `badge diagnosis-${e.diagnosis}` }, e.label),
        el("strong", {}, e.account),
        el("span", { class: "muted" }, `${duration(Math.max(0, now - e.at))} ago · HTTP ${e.status}${e.code ? ` · ${e.code}` : ""}`)),
      el("div", { class: "message" }, e.message),
      el("div", { class: "hint" }, "Doctor: ", e.hint, " — run ", el("code", {}, e.doctor)),
    ));
    $("errors").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "No upstream errors in the last day.")]));
  }

  // ---- refreshing --------------------------------------------------------------------------------------
  async function refresh() {
    const mine = generation;
    clearTimeout(timer);
    try {
      const [accounts, queues, usage, errors] = await Promise.all([
        call("GET", "accounts"), call("GET", "queues"), call("GET", "usage/recent"), call("GET", "errors"),
      ]);
      if (mine !== generation) return;
      drawAccounts(accounts);
      drawQueues(queues);
      drawUsage(usage);
      drawErrors(errors);
      $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (mine !== generation) return;
      if (refused(error)) {
        signOut(`The key is no longer accepted: ${error.message}`);
        return;
      }
      $("updated").textContent = `refresh failed: ${error.message}`;
    }
    if (mine === generation) {
      clearTimeout(timer); // an action's refresh and the timer's may overlap: keep one timer
      timer = setTimeout(refresh, REFRESH_MS);
    }
  }

  function showOutcome(text, ok) {
    const outcome = $("outcome");
    outcome.textContent = text;
    outcome.className = ok ? "ok" : "error";
    outcome.hidden = false;
  }

  // An action: confirmed first, then its outcome shown, then the page refreshed to show the pool as it is.
  async function act(button, question, run, describe) {
    if (!window.confirm(question)) {
      showOutcome("Cancelled: nothing was changed.", true);
      return;
    }
    button.disabled = true;
    try {
      showOutcome(describe(await run()), true);
    } catch (error) {
      showOutcome(`Failed: ${error.message}`, false);
      if (refused(error)) {
        signOut(`The key is no longer accepted: ${error.message}`);
        return;
      }
    } finally {
      button.disabled = false;
    }
    await refresh();
  }

  const path = (row, action) => `accounts/${encodeURIComponent(row.id)}/${action}`;

  function disable(row, button) {
    return act(button, `Disable ${row.name}? It leaves rotation on every instance until it is enabled again.`,
      () => call("POST", path(row, "disable"), { reason: "disabled from the admin page" }),
      (r) => `${row.name} is disabled (state: ${r.state}).`);
  }

  function enable(row, button) {
    return act(button, `Enable ${row.name}? It goes back into rotation now, its cooldown and strikes cleared.`,
      () => call("POST", path(row, "enable")),
      (r) => `${row.name} is enabled (state: ${r.state}).`);
  }

  function probeAccount(row, button) {
    const verdicts = { true: "the credential was accepted", false: "the credential was refused", null: "the check was inconclusive (timeout or WAF page)" };
    return act(button, `Probe ${row.name}? This checks its credential against the upstream now.`,
      () => call("POST", path(row, "probe")),
      (r) => `Probe of ${row.name}: ${verdicts[String(r.verified)]} (state: ${r.account.state}).`);
  }

  function reloadAccounts() {
    return act($("reload"), "Reload the account list now, from where it is configured?",
      () => call("POST", "accounts/reload"),
      (r) => (r.error ? `Reload failed, the previous list stays: ${r.error}` : `Reloaded ${r.accounts} account(s) from ${r.source}.`));
  }

  // ---- signing in and out ------------------------------------------------------------------------------
  function showSignedIn(yes) {
    $("dashboard").hidden = !yes;
    $("session").hidden = !yes;
    $("signin").hidden = yes;
  }

  function signOut(message) {
    generation += 1;
    clearTimeout(timer);
    sessionStorage.removeItem(STORAGE_KEY);
    for (const id of ["accounts", "queues", "usage"]) $(id).tBodies[0].replaceChildren();
    $("errors").replaceChildren();
    $("accounts-source").textContent = "";
    $("updated").textContent = "";
    $("outcome").hidden = true;
    showSignedIn(false);
    const error = $("signin-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("key").value = "";
    $("key").focus();
  }

  async function signIn(key) {
    sessionStorage.setItem(STORAGE_KEY, key);
    const mine = generation;
    try {
      await call("GET", "accounts"); // the key is checked before anything of the pool is shown
    } catch (error) {
      if (mine === generation) signOut(refused(error) ? `That key was refused: ${error.message}` : `Could not sign in: ${error.message}`);
      return;
    }
    if (mine !== generation) return;
    $("signin-error").hidden = true;
    showSignedIn(true);
    await refresh();
  }

  function start() {
    if (document.body.dataset.keys === "missing") return; // the page says how to set ADMIN_API_KEYS instead
    $("signin").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("key").value.trim();
      $("key").value = "";
      if (key) signIn(key);
    });
    $("signout").addEventListener("click", () => signOut(""));
    $("reload").addEventListener("click", reloadAccounts);
    const saved = sessionStorage.getItem(STORAGE_KEY);
    if (saved) signIn(saved);
  }

  start();
})();

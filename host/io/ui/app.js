// jobhost status page: the jobs API (/api/v1/...) drawn as a table and a
// job view, kept current by the live feed (GET /api/v1/events, Server-Sent
// Events) rather than by polling. Everything the page shows is set as
// text (textContent), never as markup: job ids, errors and output are the
// manifest's and the plugins'.
//
// Mutating requests (run now, pause, resume) carry the bearer token when
// the daemon wants one: asked once, kept in sessionStorage (this tab
// only), sent as an Authorization header. No cookies, hence no CSRF.
"use strict";

const state = {
  jobs: new Map(),      // id -> job, as GET /api/v1/jobs gives it, updated by events
  rows: new Map(),      // id -> <tr>
  status: null,         // GET /api/v1/status
  view: { job: null },  // the job shown, or null for the table
  hasStore: null,       // the daemon keeps run history (null: not known yet)
  feed: null,
  refreshing: null,
};

const TOKEN_KEY = "jobhost.token";
const STRIP = 20;

// --- small helpers -----------------------------------------------------------

const $ = (sel) => document.querySelector(sel);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === "data") for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = dv;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function span(ms) {
  let s = Math.round(Math.abs(ms) / 1000);
  const units = [["w", 604800], ["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  const parts = [];
  for (const [u, n] of units) {
    if (s >= n || (u === "s" && parts.length === 0)) {
      parts.push(Math.floor(s / n) + u);
      s %= n;
      if (parts.length === 2) break;
    } else if (parts.length) {
      break;
    }
  }
  return parts.join(" ");
}

function duration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1) return ms.toFixed(2) + " ms";
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  return span(ms);
}

function clock(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const now = new Date();
  const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  if (d.toDateString() === now.toDateString()) return hm;
  const day = d.toLocaleDateString([], { weekday: "short", month: "short", day: "numeric" });
  return day + " " + d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function relative(iso) {
  if (!iso) return "";
  const ms = new Date(iso).getTime() - Date.now();
  return ms >= 0 ? "in " + span(ms) : span(ms) + " ago";
}

// A time shown with its countdown, which the ticker keeps current.
function when(iso, empty) {
  if (!iso) return el("span", { class: "muted", text: empty || "-" });
  return el("span", { class: "when-at", title: new Date(iso).toString() },
    el("span", { text: clock(iso) }),
    el("span", { class: "sub rel", data: { at: iso }, text: relative(iso) }));
}

function badge(name, cls) {
  return el("span", { class: "badge " + (cls || "") + " " + name, text: name.replace("_", " ") });
}

let toastTimer = null;
function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove("show"), 4000);
}

// --- the API -----------------------------------------------------------------

async function api(method, path) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token && method !== "GET") headers.Authorization = "Bearer " + token;
  const resp = await fetch(path, { method, headers, cache: "no-store", credentials: "omit" });
  const type = resp.headers.get("Content-Type") || "";
  let body = null;
  if (type.startsWith("application/json")) body = await resp.json().catch(() => null);
  else body = await resp.text();
  return { status: resp.status, body, json: type.startsWith("application/json") };
}

function askToken() {
  const dialog = $("#token-dialog");
  const input = $("#token-input");
  input.value = "";
  return new Promise((resolve) => {
    const done = (value) => {
      dialog.close();
      resolve(value);
    };
    $("#token-form").onsubmit = (e) => {
      e.preventDefault();
      done(input.value.trim() || null);
    };
    $("#token-cancel").onclick = () => done(null);
    dialog.showModal();
    input.focus();
  });
}

// A POST that may need the token: asked once, kept for the tab.
async function act(path) {
  let r = await api("POST", path);
  if (r.status === 401) {
    const token = await askToken();
    if (!token) return r;
    sessionStorage.setItem(TOKEN_KEY, token);
    r = await api("POST", path);
    if (r.status === 401) sessionStorage.removeItem(TOKEN_KEY);
  }
  return r;
}

function refusal(r) {
  if (r.json && r.body && r.body.error) return r.body.error;
  return (typeof r.body === "string" ? r.body : "").trim() || "HTTP " + r.status;
}

async function runNow(id, button) {
  if (button) button.disabled = true;
  try {
    const r = await act("/api/v1/jobs/" + encodeURIComponent(id) + "/run");
    if (r.status === 202) toast(id + ": run " + r.body.run_id + " started");
    else toast(id + ": " + refusal(r));
  } catch (e) {
    toast(id + ": " + e.message);
  } finally {
    if (button) button.disabled = false;
  }
}

async function setPaused(id, pause) {
  const r = await act("/api/v1/jobs/" + encodeURIComponent(id) + (pause ? "/pause" : "/resume"));
  if (r.status === 200 && r.body) {
    merge(r.body);
    toast(id + (pause ? ": paused" : ": resumed"));
  } else {
    toast(id + ": " + refusal(r));
  }
}

// --- the daemon --------------------------------------------------------------

function renderDaemon() {
  const s = state.status;
  const d = $("#daemon");
  d.replaceChildren();
  if (!s) return;
  $("#node").textContent = "on " + s.node;
  const item = (label, value, title) =>
    el("div", { title: title || null }, el("dt", { text: label }), el("dd", {}, value));
  d.append(item("version", s.version));
  d.append(item("up", el("span", { data: { since: s.started }, class: "uptime", text: span(s.uptime_seconds * 1000) }),
    "since " + new Date(s.started).toString()));
  d.append(item("manifest", el("span", { class: "mono", text: s.manifest })));
  const r = s.last_reload;
  if (r) {
    const note = el("span", {}, badge(r.result), " ", el("span", { text: clock(r.time) + " (" + r.source + ")" }));
    d.append(item("last reload", note, new Date(r.time).toString()));
  } else {
    d.append(item("last reload", "none since the start"));
  }
  const n = $("#reload-note");
  if (r && r.result === "refused") {
    n.hidden = false;
    n.className = "note bad";
    n.replaceChildren(el("strong", { text: "The last reload was refused; the jobs below run as before." }),
      el("pre", { text: (r.errors || []).join("\n") }));
  } else {
    n.hidden = true;
  }
}

// --- the table of jobs -------------------------------------------------------

function strip(job) {
  const s = el("span", { class: "strip", title: "last " + STRIP + " results, oldest first" });
  const recent = job.recent || [];
  for (let i = 0; i < STRIP - recent.length; i++) s.append(el("i", {}));
  for (const r of recent) s.append(el("i", { class: r, title: r }));
  return s;
}

function schedule(job) {
  const tz = job.timezone && !job.trigger.includes(job.timezone) ? " (" + job.timezone + ")" : "";
  return el("span", { class: "mono", text: job.trigger + tz });
}

function lastRun(job) {
  const last = job.last_run;
  if (!last) return el("span", { class: "muted", text: "never" });
  return el("span", {},
    badge(last.result, "result"), " ",
    el("span", { class: "dur", text: duration(last.duration_ms) }),
    el("span", { class: "sub rel", data: { at: last.started }, title: last.error || null, text: relative(last.started) }));
}

function actions(job) {
  const run = el("button", {
    class: "run primary", type: "button", title: "run " + job.id + " now",
    on: { click: (e) => { e.stopPropagation(); runNow(job.id, e.currentTarget); } },
  }, "Run now");
  const pause = el("button", {
    class: job.paused ? "resume" : "pause", type: "button",
    on: { click: (e) => { e.stopPropagation(); setPaused(job.id, !job.paused); } },
  }, job.paused ? "Resume" : "Pause");
  return el("span", { class: "actions" }, run, pause);
}

function row(job) {
  return el("tr", { data: { job: job.id } },
    el("td", { class: "job" },
      el("a", { href: "#/jobs/" + encodeURIComponent(job.id), text: job.id }),
      el("span", { class: "sub", text: job.plugin + " " + job.plugin_version })),
    el("td", { class: "schedule" }, schedule(job)),
    el("td", {}, badge(job.state, "state")),
    el("td", { class: "when next" }, job.enabled ? when(job.next_run) : el("span", { class: "muted", text: "-" })),
    el("td", { class: "when last" }, lastRun(job)),
    el("td", {}, strip(job)),
    el("td", {}, actions(job)));
}

function matches(job) {
  const f = $("#filter").value.trim().toLowerCase();
  if (!f) return true;
  return [job.id, job.plugin, job.trigger, job.state].some((v) => (v || "").toLowerCase().includes(f));
}

function renderRow(id) {
  const job = state.jobs.get(id);
  const old = state.rows.get(id);
  if (!job) return;
  const fresh = row(job);
  fresh.hidden = !matches(job);
  if (old) old.replaceWith(fresh);
  state.rows.set(id, fresh);
  renderCounts();
}

function renderJobs() {
  const body = $("#jobs tbody");
  const rows = [];
  state.rows.clear();
  for (const job of state.jobs.values()) {
    const r = row(job);
    r.hidden = !matches(job);
    state.rows.set(job.id, r);
    rows.push(r);
  }
  body.replaceChildren(...rows);
  $("#empty").hidden = state.jobs.size > 0;
  renderCounts();
}

function renderCounts() {
  const by = {};
  for (const j of state.jobs.values()) by[j.state] = (by[j.state] || 0) + 1;
  const parts = [state.jobs.size + (state.jobs.size === 1 ? " job" : " jobs")];
  for (const s of ["running", "failing", "missed", "paused", "disabled"]) if (by[s]) parts.push(by[s] + " " + s);
  $("#counts").textContent = parts.join(" \u00b7 ");
}

function merge(job) {
  const old = state.jobs.get(job.id) || {};
  state.jobs.set(job.id, Object.assign(old, job));
  renderRow(job.id);
  if (state.view.job === job.id) renderJobHead(state.jobs.get(job.id));
}

// --- the live feed -----------------------------------------------------------

function onEvent(name, data) {
  if (name === "reload" || name === "resync") {
    refresh();
    return;
  }
  const job = state.jobs.get(data.job);
  if (!job) {
    refresh(); // a job this page has not seen: the configuration changed
    return;
  }
  job.running = data.running;
  job.next_run = data.next_run;
  if (data.state) job.state = data.state;
  if (name === "finished") {
    job.last_run = {
      run_id: data.run_id, result: data.result, started: data.started,
      duration_ms: data.duration_ms, error: data.error,
    };
    job.recent = (job.recent || []).concat([data.result]).slice(-STRIP);
  }
  renderRow(data.job);
  if (state.view.job === data.job) {
    renderJobHead(job);
    if (name === "finished" || name === "started") loadRuns(data.job);
  }
}

function connect() {
  const live = $("#live");
  const feed = new EventSource("/api/v1/events");
  state.feed = feed;
  feed.addEventListener("hello", () => {
    live.classList.remove("off");
    live.title = "live: updates as they happen";
    refresh(); // after hello, so that nothing falls between the fetch and the feed
  });
  for (const name of ["started", "finished", "skipped", "reload", "resync"]) {
    feed.addEventListener(name, (e) => onEvent(name, JSON.parse(e.data)));
  }
  feed.onerror = () => {
    live.classList.add("off");
    live.title = "the live feed is down; reconnecting";
  };
}

async function refresh() {
  if (state.refreshing) return state.refreshing;
  state.refreshing = (async () => {
    try {
      const [s, j] = await Promise.all([api("GET", "/api/v1/status"), api("GET", "/api/v1/jobs")]);
      if (s.status === 200) state.status = s.body;
      if (j.status === 200) {
        state.jobs = new Map(j.body.jobs.map((job) => [job.id, job]));
        renderJobs();
      }
      renderDaemon();
      if (state.view.job) showJob(state.view.job);
    } catch (e) {
      toast("cannot reach the daemon: " + e.message);
    } finally {
      state.refreshing = null;
    }
  })();
  return state.refreshing;
}

// --- the job view ------------------------------------------------------------

function renderJobHead(job) {
  $("#job-title").textContent = job.id;
  const st = $("#job-state");
  st.className = "badge " + job.state;
  st.textContent = job.state;
  $("#job-actions").replaceChildren(actions(job));
}

function spec(job) {
  const dl = $("#job-spec");
  const s = job.spec || {};
  const rows = [
    ["plugin", job.plugin + " " + job.plugin_version],
    ["schedule", schedule(job)],
    ["enabled", job.enabled ? "yes" : "no"],
    ["running", job.running + " of at most " + job.max_instances],
    ["timeout", s.timeout_seconds ? span(s.timeout_seconds * 1000) : "none"],
    ["misfire grace", s.misfire_grace_seconds ? span(s.misfire_grace_seconds * 1000) : "no limit"],
    ["coalesce", s.coalesce ? "yes" : "no"],
    ["isolation", s.isolation || "thread"],
    ["params", (s.params || []).length ? s.params.join(", ") + " (values in the manifest)" : "none"],
    ["manifest", el("span", { class: "mono", text: s.file + ":" + s.line })],
  ];
  if (s.jitter_seconds) rows.splice(5, 0, ["jitter", span(s.jitter_seconds * 1000)]);
  dl.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));
  const next = $("#job-next");
  next.replaceChildren(...(job.next_runs || []).map((t) => el("li", {}, when(t))));
  if (!(job.next_runs || []).length) next.replaceChildren(el("li", { class: "muted", text: "none" }));
}

async function showJob(id) {
  const r = await api("GET", "/api/v1/jobs/" + encodeURIComponent(id) + "?next=5");
  if (state.view.job !== id) return;
  if (r.status !== 200) {
    $("#job-title").textContent = id;
    $("#job-spec").replaceChildren(el("dd", { text: refusal(r) }));
    return;
  }
  merge(r.body);
  renderJobHead(state.jobs.get(id));
  spec(r.body);
  loadRuns(id);
}

function runRow(run, id) {
  const result = run.result || "running";
  const started = run.started || run.scheduled;
  const tr = el("tr", { class: "clickable", data: { run: run.run_id },
    on: { click: () => showOutput(id, run.run_id, tr) } },
    el("td", { class: "mono", text: run.run_id }),
    el("td", { class: "when" }, when(started)),
    el("td", { text: run.duration_seconds !== null && run.duration_seconds !== undefined ? duration(run.duration_seconds * 1000) : "" }),
    el("td", {}, badge(result, "result")),
    el("td", { text: run.trigger || "" }),
    el("td", { text: run.error || run.reason || "" }));
  return tr;
}

async function loadRuns(id) {
  const note = $("#history-note");
  const body = $("#runs tbody");
  const r = await api("GET", "/api/v1/jobs/" + encodeURIComponent(id) + "/runs?limit=50");
  if (state.view.job !== id) return;
  if (r.status === 200 && r.json) {
    state.hasStore = true;
    note.hidden = true;
    body.replaceChildren(...r.body.runs.map((run) => runRow(run, id)));
    if (!r.body.runs.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted", text: "no runs recorded yet" })));
    return;
  }
  // No run store: the last run is all the daemon knows.
  state.hasStore = false;
  note.hidden = false;
  note.className = "note";
  note.textContent = r.status === 404 && !r.json
    ? "This daemon keeps no run history (no run store): the last run is shown."
    : refusal(r);
  const job = state.jobs.get(id);
  const last = job && job.last_run;
  body.replaceChildren(last
    ? runRow({ run_id: last.run_id, started: last.started, duration_seconds: last.duration_ms / 1000,
      result: last.result, trigger: "", error: last.error }, id)
    : el("tr", {}, el("td", { colspan: 6, class: "muted", text: "no run yet" })));
}

function formatRecord(rec) {
  const pairs = Object.entries(rec.pairs || {}).map(([k, v]) => {
    const s = String(v);
    return k + "=" + (/[\s"=\\]/.test(s) || s === "" ? JSON.stringify(s) : s);
  });
  return [rec.ts, rec.level, rec.event].concat(pairs).join(" ");
}

async function showOutput(id, runId, tr) {
  for (const r of document.querySelectorAll("#runs tr.chosen")) r.classList.remove("chosen");
  tr.classList.add("chosen");
  const box = $("#output");
  box.hidden = false;
  $("#output-title").textContent = "Output of run " + runId;
  const pre = $("#output-text");
  pre.textContent = "…";
  if (state.hasStore === false) {
    pre.textContent = "The output of runs is kept by the run store, which this daemon does not have.";
    return;
  }
  const r = await api("GET", "/api/v1/runs/" + encodeURIComponent(runId));
  if (r.status === 200 && r.json) {
    const lines = (r.body.output || []).map(formatRecord);
    pre.textContent = lines.length ? lines.join("\n") : "(no records)";
  } else {
    pre.textContent = refusal(r);
  }
}

// --- routes and the clock ----------------------------------------------------

function route() {
  const m = location.hash.match(/^#\/jobs\/(.+)$/);
  const id = m ? decodeURIComponent(m[1]) : null;
  state.view.job = id;
  $("#jobs-view").hidden = !!id;
  $("#job-view").hidden = !id;
  $("#output").hidden = true;
  if (id) {
    $("#job-title").textContent = id;
    $("#runs tbody").replaceChildren();
    showJob(id);
  }
  document.title = id ? id + " \u2014 jobhost" : "jobhost";
}

function tick() {
  for (const e of document.querySelectorAll(".rel[data-at]")) e.textContent = relative(e.dataset.at);
  const up = document.querySelector(".uptime[data-since]");
  if (up) up.textContent = span(Date.now() - new Date(up.dataset.since).getTime());
}

function start() {
  $("#filter").addEventListener("input", () => {
    for (const [id, tr] of state.rows) tr.hidden = !matches(state.jobs.get(id));
  });
  window.addEventListener("hashchange", route);
  route();
  connect();
  setInterval(tick, 1000);
}

document.addEventListener("DOMContentLoaded", start);

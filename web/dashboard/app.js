// clusterd dashboard: plain JavaScript, no build step. Every piece of text
// that comes from the cluster is set with textContent, never innerHTML.
"use strict";

(function () {
  const PAGE_SIZE = 200;
  const NODE_PAGE_SIZE = 100;   // nodes per page: 1,000 nodes stay 10 pages of cheap rows
  const REFRESH_GAP_MS = 500;   // at most one refresh per this interval
  const LOG_POLL_MS = 1000;
  const LOG_TAIL_BYTES = 64 * 1024;
  const LOG_KEEP_CHARS = 256 * 1024;
  const STATE_ORDER = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING",
    "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR"];
  const TERMINAL = new Set(["TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR"]);

  const RECENT_ROWS = 5;         // deployments or runs shown in a job's detail
  const JOB_COLS = 9;

  const state = {
    status: null, nodes: [], jobs: [], tasks: [],
    page: 0, filterText: "", filterState: "",
    // Per job id: whether its detail is open, what was typed into its
    // scale field, and the outcome of the last action on it. They live
    // here because a job's rows are rebuilt whenever the job changes.
    openJobs: new Set(), scaleDraft: {}, jobNote: {},
    nodePage: 0, nodeFilter: "",
    // roles is GET /v1/roles (the leader's allocator); rolesError why it
    // could not be read.
    roles: null, rolesError: "",
    // editing is the job whose spec the editor holds for an update
    // ({id, version}), null for a new job.
    editing: null,
  };

  const $ = (id) => document.getElementById(id);

  // el builds an element: attrs are properties or attributes, children are
  // nodes or strings (as text).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // ---- formatting ----

  // Number formats by fraction digits: toLocaleString builds a new
  // formatter per call, which costs tens of ms over a page of 1,000 nodes.
  const numFormats = new Map();
  function fmtNum(n, digits) {
    if (n === undefined || n === null || isNaN(n)) return "–";
    const d = digits === undefined ? 2 : digits;
    let f = numFormats.get(d);
    if (!f) { f = new Intl.NumberFormat(undefined, { maximumFractionDigits: d }); numFormats.set(d, f); }
    return f.format(Number(n));
  }
  function fmtCPU(n) { return fmtNum(n, 2); }
  function fmtMem(mib) {
    if (mib === undefined || mib === null) return "–";
    if (mib >= 1024 * 1024) return fmtNum(mib / (1024 * 1024), 1) + " TiB";
    if (mib >= 1024) return fmtNum(mib / 1024, 1) + " GiB";
    return fmtNum(mib, 0) + " MiB";
  }
  function pct(part, total) {
    if (!total) return 0;
    return Math.max(0, Math.min(100, (100 * part) / total));
  }
  function shortState(s) { return (s || "").replace(/^TASK_/, "").toLowerCase(); }
  function ago(ts) {
    if (!ts) return "";
    const t = Date.parse(ts);
    if (isNaN(t) || t <= 0) return "";
    const s = Math.round((Date.now() - t) / 1000);
    if (s < 0) return "just now";
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    if (s < 86400) return Math.floor(s / 3600) + "h ago";
    return Math.floor(s / 86400) + "d ago";
  }
  function absTime(ts) {
    const t = Date.parse(ts);
    return isNaN(t) ? "" : new Date(t).toLocaleString();
  }

  // until is how long until ts: "in 5h"; "due now" once it passed.
  function until(ts) {
    const t = Date.parse(ts);
    if (!ts || isNaN(t) || t <= 0) return "";
    return t <= Date.now() ? "due now" : "in " + span((t - Date.now()) / 1000);
  }
  // span prints seconds as ps does: 42s, 5m, 3h, 2d.
  function span(s) {
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m";
    if (s < 172800) return Math.floor(s / 3600) + "h";
    return Math.floor(s / 86400) + "d";
  }
  // took is how long from a to b, "" while b is not set.
  function took(a, b) {
    const x = Date.parse(a), y = Date.parse(b);
    if (!a || !b || isNaN(x) || isNaN(y)) return "";
    return span((y - x) / 1000);
  }
  // secs prints a number of seconds as the shortest exact duration.
  function secs(n) {
    if (n === undefined || n === null) return "";
    if (n >= 3600 && n % 3600 === 0) return n / 3600 + "h";
    if (n >= 60 && n % 60 === 0) return n / 60 + "m";
    return n + "s";
  }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  // shortTime is the time of day for today, the date and time otherwise.
  function shortTime(ts) {
    const t = Date.parse(ts);
    if (isNaN(t)) return "";
    const d = new Date(t);
    return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
  }

  function stateBadge(s) {
    return el("span", { class: "st st-" + shortState(s), text: shortState(s) || "?" });
  }
  function bar(part, total, cls) {
    const fill = el("div", { class: "fill" });
    const p = pct(part, total);
    fill.style.width = p.toFixed(1) + "%";
    if (p >= 90) fill.classList.add("hot");
    return el("div", { class: "bar " + (cls || "") }, fill);
  }
  function chip(label, value, cls) {
    return el("span", { class: "chip " + (cls || "") }, label, " ", el("b", { text: String(value) }));
  }
  function emptyRow(cols, text) {
    return el("tr", { class: "empty" }, el("td", { colspan: cols, text: text }));
  }
  // progressBar shows how much of a whole is done (a roll-out's healthy
  // instances), unlike bar, which warns as it fills.
  function progressBar(part, total) {
    const fill = el("div", { class: "fill" });
    fill.style.width = (total ? pct(part, total) : 100).toFixed(1) + "%";
    return el("div", { class: "bar progress" }, fill);
  }
  function healthBadge(h) {
    if (h === undefined || h === null) return el("span", { class: "muted", title: "no health checks, or no result yet", text: "–" });
    return el("span", { class: "hl hl-" + (h ? "healthy" : "unhealthy"), text: h ? "healthy" : "unhealthy" });
  }

  // ---- what a job is and does, as text ----

  function commandText(j) {
    if (j.cmd) return j.cmd;
    return (j.args || []).map((a) => /^[A-Za-z0-9_@%+=:,.\/-]+$/.test(a) ? a : JSON.stringify(a)).join(" ");
  }
  // constraintText is Marathon's form: "hostname UNIQUE", "zone GROUP_BY 3 (soft)".
  function constraintText(c) {
    return [c.field, (c.operator || "").toUpperCase(), c.value].filter(Boolean).join(" ") + (c.soft ? " (soft)" : "");
  }
  // healthCheckText: "HTTP :PORT0/health every 10s, timeout 5s, grace 30s, 3 failures in a row".
  function healthCheckText(hc) {
    const p = (hc.protocol || "").toUpperCase();
    let what = p === "COMMAND" ? "COMMAND " + JSON.stringify(hc.command || "") :
      p + " :PORT" + (hc.port_index || 0) + (p === "TCP" ? "" : (hc.path || ""));
    const parts = [];
    if (hc.interval_seconds !== undefined) parts.push("every " + secs(hc.interval_seconds));
    if (hc.timeout_seconds !== undefined) parts.push("timeout " + secs(hc.timeout_seconds));
    if (hc.grace_period_seconds !== undefined) parts.push("grace " + secs(hc.grace_period_seconds));
    const f = hc.max_consecutive_failures;
    if (f === 0) parts.push("never unhealthy");
    else if (f !== undefined) parts.push(f === 1 ? "unhealthy after 1 failure" : f + " failures in a row");
    return parts.length ? what + " " + parts.join(", ") : what;
  }
  function deploymentText(d) {
    return "version " + d.version + ": " + d.updated + "/" + d.instances + " updated, " + d.healthy + " healthy, " + d.old + " old";
  }
  function latestRun(j) { return j.runs && j.runs.length ? j.runs[j.runs.length - 1] : null; }
  function hostReasonsText(hosts) {
    return Object.entries(hosts || {}).sort((a, b) => b[1] - a[1]).map(([r, n]) => r + " on " + plural(n, "host")).join(", ");
  }

  // ---- talking to the server ----

  class APIError extends Error {
    constructor(status, message, field) { super(message); this.status = status; this.field = field || ""; }
  }

  // PROXY asks a follower to pass the request to the leader (web/proxy.go):
  // a browser cannot follow a 307 to another origin, so without it the
  // dashboard of a follower would stop at the first redirect.
  const PROXY = { "X-Clusterd-Proxy": "1" };

  async function api(path, opts) {
    opts = Object.assign({}, opts || {});
    opts.headers = Object.assign({ "Accept": "application/json" }, PROXY, opts.headers || {});
    const resp = await fetch(path, opts);
    // A session that ended (signed out elsewhere, token revoked or expired)
    // asks for a token again rather than showing errors everywhere.
    if (resp.status === 401 && path !== "/v1/login") askSignIn();
    if (resp.status === 204 || resp.status === 202) return null;
    let body = null;
    const text = await resp.text();
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    if (!resp.ok) {
      // The /v1 API answers JSON; the Mesos operator API (drain) plain text.
      const msg = body && body.error ? body.error : (text.trim() || resp.status + " " + resp.statusText);
      throw new APIError(resp.status, msg, body && body.field);
    }
    return body;
  }

  function showBanner(msg) {
    const b = $("banner");
    if (!msg) { b.hidden = true; b.textContent = ""; return; }
    b.textContent = msg;
    b.hidden = false;
  }

  let toastTimer = 0;
  function toast(msg, bad) {
    const t = $("toast");
    t.textContent = msg;
    t.className = "toast" + (bad ? " bad" : "");
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
  }

  // ---- signing in ----

  // The dashboard signs in by trading a token for an HttpOnly session
  // cookie (POST /v1/login): the token is never kept where page scripts
  // could read it back.
  let signedIn = false;

  function askSignIn(msg) {
    signedIn = false;
    if (es) { es.close(); es = null; }
    $("who").hidden = true;
    $("logout").hidden = true;
    const err = $("login-error");
    err.textContent = msg || "";
    err.hidden = !msg;
    if ($("login").hidden) {
      $("login").hidden = false;
      $("login-token").focus();
    }
  }

  function showWho(who) {
    signedIn = true;
    $("login").hidden = true;
    // A node that checks no tokens (--dev) has nobody to show.
    $("who").hidden = !who.auth;
    $("logout").hidden = !who.auth;
    $("who").textContent = who.auth ? (who.name || who.token_id) + " · " + who.scope : "";
    $("who").title = who.auth ? "token " + who.token_id + ", scope " + who.scope : "";
  }

  async function signIn(e) {
    e.preventDefault();
    const token = $("login-token").value.trim();
    $("login-submit").disabled = true;
    try {
      const who = await api("/v1/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }) });
      $("login-token").value = "";
      showWho(who);
      connect();
      scheduleRefresh();
    } catch (err) {
      $("login-error").textContent = err.message;
      $("login-error").hidden = false;
    } finally {
      $("login-submit").disabled = false;
    }
  }

  async function signOut() {
    try { await api("/v1/logout", { method: "POST" }); } catch (e) { /* the cookie is gone either way */ }
    askSignIn();
  }

  // start reads who the browser is signed in as, then opens the stream.
  async function start() {
    try {
      showWho(await api("/v1/whoami"));
    } catch (e) {
      if (e.status === 401) return; // askSignIn is showing
      showBanner("Cannot reach this node: " + e.message);
    }
    connect();
  }

  // ---- refresh, debounced ----

  let refreshing = false, again = false, lastRefresh = 0, timer = 0;

  // scheduleRefresh asks for a refresh; bursts of events collapse into at
  // most one refresh per REFRESH_GAP_MS, and none overlap.
  function scheduleRefresh() {
    if (refreshing) { again = true; return; }
    if (timer) return;
    const wait = Math.max(0, lastRefresh + REFRESH_GAP_MS - Date.now());
    timer = setTimeout(() => { timer = 0; refresh(); }, wait);
  }

  async function refresh() {
    if (!signedIn) return;
    refreshing = true;
    lastRefresh = Date.now();
    try {
      const [status, nodes, jobs, tasks] = await Promise.all([
        api("/v1/status"), api("/v1/nodes"), api("/v1/jobs"), api("/v1/tasks"),
      ]);
      state.status = status; state.nodes = nodes || []; state.jobs = jobs || []; state.tasks = tasks || [];
      showBanner("");
      render();
      refreshUtil();
      refreshAutoscale();
      refreshRoles();
      // An open task panel follows the task (a kill shows as KILLED).
      if (openTaskID) loadTask();
    } catch (e) {
      showBanner("Cannot read the cluster state: " + e.message);
    } finally {
      refreshing = false;
      if (again) { again = false; scheduleRefresh(); }
    }
  }

  function render() {
    renderHeader();
    renderOverview();
    renderJobs();
    renderDag();
    renderNodes();
    renderTasks();
  }

  // ---- utilization over the last hour (the leader's samples, uPlot) ----

  // The leader samples every interval_seconds and no event announces a
  // sample, so the history is read again only once a new one is due.
  let util = null, utilNextDue = 0, utilPlot = null, utilLoading = false, utilWindowEnd = 0;

  async function refreshUtil() {
    if (utilLoading || Date.now() < utilNextDue) return;
    utilLoading = true;
    try {
      util = await api("/v1/utilization");
      const iv = (util && util.interval_seconds ? util.interval_seconds : 10) * 1000;
      const samples = (util && util.samples) || [];
      const last = samples.length ? Date.parse(samples[samples.length - 1].time) : Date.now();
      utilNextDue = Math.max(Date.now() + 1000, last + iv + 500);
      renderUtil();
    } catch (e) {
      utilNextDue = Date.now() + 10000;
      $("ov-util-note").textContent = "No utilization history: " + e.message;
    } finally {
      utilLoading = false;
    }
  }

  // ---- autoscaling: the leader's groups and last decisions ----

  // Decisions come every evaluation, not as state events: read at most
  // every 5 s, and show nothing when autoscaling is off.
  let asNextDue = 0;
  async function refreshAutoscale() {
    if (Date.now() < asNextDue) return;
    asNextDue = Date.now() + 5000;
    let st;
    try { st = await api("/v1/autoscale"); } catch (e) { return; }
    const box = $("ov-autoscale");
    box.hidden = !(st && st.enabled);
    if (box.hidden) return;
    $("ov-as-groups").replaceChildren(...(st.groups || []).map((g) =>
      el("span", { class: "chip", title: g.actuator + (st.dry_run ? " (dry run)" : "") },
        g.name + ": ", el("b", { text: String(g.ready + g.booting) }),
        " of " + g.rules.min_size + ".." + g.rules.max_size +
        (g.booting ? ", " + g.booting + " booting" : "") + (g.draining ? ", " + g.draining + " draining" : "") +
        (g.shortfall ? ", short " + g.shortfall : ""))));
    const rows = (st.decisions || []).slice(-10).reverse();
    $("ov-as-decisions").replaceChildren(...(rows.length ? rows.map((d) => el("tr", {},
      el("td", { title: absTime(d.at), text: ago(d.at) }), el("td", { text: d.group }),
      el("td", { class: d.error ? "warn" : "", text: d.kind + (d.count ? " " + d.count : "") + (d.dry_run ? " (dry run)" : "") }),
      el("td", { text: d.reason + (d.hosts && d.hosts.length ? " [" + d.hosts.join(", ") + "]" : "") + (d.error ? " — failed: " + d.error : "") })))
      : [el("tr", {}, el("td", { colspan: 4, class: "muted", text: "No decision has done anything yet." }))]));
  }

  // utilData is uPlot's columns: time (s) and percentages of capacity.
  function utilData(samples) {
    const cols = [[], [], [], [], []];
    for (const x of samples) {
      const cap = x.capacity || {}, a = x.allocated || {}, u = x.used || {};
      cols[0].push(Date.parse(x.time) / 1000);
      cols[1].push(pct(a.cpus, cap.cpus));
      cols[2].push(pct(u.cpus, cap.cpus));
      cols[3].push(pct(a.mem, cap.mem));
      cols[4].push(pct(u.mem, cap.mem));
    }
    return cols;
  }

  function renderUtil() {
    const box = $("ov-util"), samples = (util && util.samples) || [];
    $("ov-util-note").textContent = samples.length
      ? plural(samples.length, "sample") + ", every " + secs(util.interval_seconds || 10) + ", % of capacity"
      : "No samples yet: the leader takes one every " + secs((util && util.interval_seconds) || 10) + ".";
    if (typeof uPlot === "undefined") { $("ov-util-note").textContent = "The plot library did not load."; return; }
    const data = utilData(samples);
    // The plot always spans the hour up to the newest sample, however
    // few samples there are (a new leader has one).
    utilWindowEnd = data[0].length ? data[0][data[0].length - 1] : Date.now() / 1000;
    if (utilPlot) { utilPlot.setData(data); utilPlot.setScale("x", { min: utilWindowEnd - 3600, max: utilWindowEnd }); return; }
    const width = Math.max(240, box.clientWidth || 480);
    utilPlot = new uPlot({
      width: width, height: 160,
      scales: { x: { time: true, range: () => [utilWindowEnd - 3600, utilWindowEnd] }, y: { range: [0, 100] } },
      axes: [{}, { values: (u, vals) => vals.map((v) => v + "%") }],
      series: [{},
        { label: "CPU allocated", stroke: "#2f6feb", width: 2 },
        { label: "CPU used", stroke: "#2f6feb", dash: [4, 4] },
        { label: "memory allocated", stroke: "#b35c00", width: 2 },
        { label: "memory used", stroke: "#b35c00", dash: [4, 4] }],
    }, data, box);
    // Follow the card's width; uPlot sizes its canvas only when told.
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(() => {
        const w = Math.max(240, box.clientWidth);
        if (utilPlot && Math.abs(w - utilPlot.width) > 4) utilPlot.setSize({ width: w, height: 160 });
      }).observe(box);
    }
  }

  function renderHeader() {
    const s = state.status || {};
    $("h-cluster").textContent = s.cluster_id || "–";
    const leader = state.nodes.find((n) => n.id === s.leader);
    $("h-leader").textContent = leader ? leader.name : (s.leader || "none elected");
    $("h-leader").title = s.leader_addr || "";
    $("h-nodes").textContent = String(state.nodes.length);
    $("h-self").textContent = [s.node_name, s.raft_state].filter(Boolean).join(" · ") || "–";
    $("h-self").title = s.version ? "clusterd " + s.version : "";
    document.title = "clusterd" + (s.cluster_id ? " · " + s.cluster_id : "");
  }

  function renderOverview() {
    const s = state.status || {};
    const cap = s.capacity || {}, alloc = s.allocated || {};
    $("ov-cpu-text").textContent = fmtCPU(alloc.cpus) + " / " + fmtCPU(cap.cpus) + " cores (" + fmtNum(pct(alloc.cpus, cap.cpus), 0) + "%)";
    $("ov-mem-text").textContent = fmtMem(alloc.mem) + " / " + fmtMem(cap.mem) + " (" + fmtNum(pct(alloc.mem, cap.mem), 0) + "%)";
    for (const [id, a, c] of [["ov-cpu-bar", alloc.cpus, cap.cpus], ["ov-mem-bar", alloc.mem, cap.mem]]) {
      const p = pct(a, c);
      $(id).style.width = p.toFixed(1) + "%";
      $(id).classList.toggle("hot", p >= 90);
    }
    // Count from the task list when we have it (it is what the table shows).
    const counts = {};
    for (const t of state.tasks) counts[t.state] = (counts[t.state] || 0) + 1;
    const src = state.tasks.length ? counts : (s.tasks || {});
    const chips = STATE_ORDER.filter((st) => src[st]).map((st) =>
      chip(shortState(st), src[st], "st-" + shortState(st)));
    $("ov-tasks").replaceChildren(...(chips.length ? chips : [el("span", { class: "muted", text: "no tasks" })]));

    const byState = {};
    let pending = 0;
    for (const j of state.jobs) {
      byState[j.state] = (byState[j.state] || 0) + 1;
      if (j.pending && j.pending.instances) pending++;
    }
    const jc = Object.keys(byState).sort().map((k) => chip(k || "?", byState[k]));
    if (pending) jc.push(chip("pending placement", pending, "warn"));
    $("ov-jobs").replaceChildren(...(jc.length ? jc : [el("span", { class: "muted", text: "no jobs" })]));

    // The voters by name, the leader marked; ids the node list lacks as they are.
    const names = new Map(state.nodes.map((n) => [n.id, n.name || n.id]));
    const voters = (s.voters || []).map((id) => el("span", { class: "chip" + (id === s.leader ? " leader" : ""), dataset: { voter: id } },
      names.get(id) || id, id === s.leader ? el("b", { text: " leader" }) : null));
    $("ov-voters").replaceChildren(...(voters.length ? voters : [el("span", { class: "muted", text: "none known" })]));
  }

  // jobRowCache keeps each job's rows with a signature of what they show:
  // a refresh that changed nothing about a job leaves its rows (and the
  // focus, text typed and hover in them) alone.
  const jobRowCache = new Map();

  function renderJobs() {
    const tb = $("jobs-table").tBodies[0];
    $("jobs-count").textContent = state.jobs.length ? String(state.jobs.length) : "";
    if (!state.jobs.length) {
      jobRowCache.clear();
      tb.replaceChildren(emptyRow(JOB_COLS, "No jobs. Submit one with the form above or `clusterd run job.json`."));
      return;
    }
    // Rows that are rebuilt lose the focus: keep that of a scale field.
    const active = document.activeElement;
    const focusID = active && tb.contains(active) && active.id ? active.id : "";
    const minute = Math.floor(Date.now() / 60000); // "5m ago" and "next run in 5h" age
    const rows = [], seen = new Set();
    for (const j of state.jobs) {
      const sig = JSON.stringify([j, state.openJobs.has(j.id), state.jobNote[j.id] || null, minute]);
      let c = jobRowCache.get(j.id);
      if (!c || c.sig !== sig) {
        c = { sig: sig, rows: jobRows(j) };
        jobRowCache.set(j.id, c);
      }
      rows.push(...c.rows);
      seen.add(j.id);
    }
    for (const id of jobRowCache.keys()) if (!seen.has(id)) jobRowCache.delete(id);
    const current = Array.from(tb.rows);
    if (current.length === rows.length && current.every((r, i) => r === rows[i])) return;
    tb.replaceChildren(...rows);
    const again = focusID && document.getElementById(focusID);
    if (again && again !== document.activeElement) again.focus();
  }

  // jobRows are a job's rows in the jobs table: the job, its pending
  // reason if any, and its detail when open.
  function jobRows(j) {
    const taskChips = STATE_ORDER.filter((s) => j.tasks && j.tasks[s]).map((s) =>
      chip(shortState(s), j.tasks[s], "st-" + shortState(s)));
    const res = [fmtCPU(j.cpus) + " cpu", fmtMem(j.mem)];
    if (j.gpus) res.push(j.gpus + " gpu");
    if (j.ports) res.push(j.ports + " port" + (j.ports > 1 ? "s" : ""));
    const actions = [];
    if (j.type === "service") {
      actions.push(el("button", {
        type: "button", class: "small", text: "Scale", "aria-label": "Scale job " + j.id,
        onclick: (ev) => { ev.stopPropagation(); openJob(j.id, true); },
      }));
    } else {
      actions.push(el("button", {
        type: "button", class: "small", text: "Run now", "aria-label": "Start a run of job " + j.id,
        onclick: (ev) => { ev.stopPropagation(); startRun(j.id); },
      }));
    }
    actions.push(el("button", {
      type: "button", class: "small danger", text: "Delete", "aria-label": "Delete job " + j.id,
      onclick: (ev) => { ev.stopPropagation(); deleteJob(j.id); },
    }));
    const pend = j.pending && (j.pending.message || j.pending.instances);
    const open = state.openJobs.has(j.id);
    // A row followed by more rows of the same job is "continued".
    const cls = [pend ? "has-pending" : "", pend || open ? "continued" : "", open ? "open" : ""].filter(Boolean).join(" ");
    const rows = [el("tr", { dataset: { job: j.id }, class: cls, "aria-expanded": open ? "true" : "false" },
      el("td", { class: "mono strong nowrap job-id", text: j.id }),
      el("td", { text: j.type }),
      el("td", { class: "num", text: String(j.instances) }),
      el("td", { class: "state-cell" }, el("span", { class: "js js-" + j.state, text: j.state || "?" }), jobProgress(j)),
      el("td", {}, el("div", { class: "chips" }, taskChips.length ? taskChips : el("span", { class: "muted", text: "none" }))),
      el("td", { class: "num", text: String(j.version) }),
      el("td", { text: res.join(", ") }),
      el("td", { class: "mono cmd", title: commandText(j), text: commandText(j) }),
      el("td", { class: "actions" }, actions))];
    if (pend) rows.push(pendingRow(j.pending, open));
    if (open) rows.push(jobDetail(j));
    return rows;
  }

  // jobProgress is the line under a job's state: a service's roll-out, a
  // batch or cron job's latest run and a cron job's next run.
  function jobProgress(j) {
    const lines = [];
    const d = j.deployment;
    if (d) {
      lines.push(el("div", { class: "deploy", title: deploymentText(d) },
        progressBar(d.healthy, d.instances),
        el("span", { text: d.updated + "/" + d.instances + " updated, " + d.healthy + " healthy" + (d.old ? ", " + d.old + " old" : "") })));
    }
    const r = latestRun(j);
    if (r) {
      lines.push(el("div", { class: "sub", title: r.message || "" }, "run " + r.number + " ",
        el("span", { class: "rs rs-" + r.state, text: r.state })));
    }
    if (j.type === "cron" && j.next_run) {
      lines.push(el("div", { class: "sub", title: absTime(j.next_run) + " (" + (j.time_zone || "UTC") + " schedule " + (j.schedule || "") + ")",
        text: "next run " + until(j.next_run) }));
    }
    return lines;
  }

  function openJob(id, focusScale) {
    state.openJobs.add(id);
    renderJobs();
    if (focusScale) {
      const f = document.getElementById("scale-" + id);
      if (f) { f.focus(); f.select(); }
    }
  }

  function toggleJob(id) {
    if (state.openJobs.has(id)) state.openJobs.delete(id);
    else state.openJobs.add(id);
    renderJobs();
  }

  // jobDetail is the row under an open job: its settings, its roll-outs
  // or runs, and what can be done to it.
  function jobDetail(j) {
    const facts = [];
    const fact = (k, v) => { if (v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && !v.length)) facts.push([k, v]); };
    fact(j.cmd ? "command" : "args", el("code", { text: commandText(j) }));
    fact("role", j.role);
    if (j.priority) fact("priority", String(j.priority));
    // One line each; .kv makes its divs display: contents, so spans.
    fact("constraints", (j.constraints || []).map((c) => el("span", { class: "mono line", text: constraintText(c) })));
    fact("health checks", (j.health_checks || []).map((hc) => el("span", { class: "mono line", text: healthCheckText(hc) })));
    if (j.type === "service") {
      const u = j.upgrade_strategy;
      if (u) fact("upgrade strategy", "min health capacity " + Math.round(100 * u.minimum_health_capacity) + "%, max over capacity " + Math.round(100 * u.maximum_over_capacity) + "%");
      if (j.backoff_seconds !== undefined) fact("restart backoff", secs(j.backoff_seconds) + ", " + j.backoff_factor + "x per failure, at most " + secs(j.max_launch_delay_seconds));
      if (j.deployment) fact("deployment", deploymentText(j.deployment));
    } else {
      if (j.retries !== undefined) fact("retries", String(j.retries));
      if (j.max_completion_seconds) fact("max completion", secs(j.max_completion_seconds) + " per task");
    }
    if (j.type === "cron") {
      fact("schedule", el("span", {}, el("code", { text: j.schedule || "" }), " (" + (j.time_zone || "UTC") + ")"));
      fact("concurrency", j.concurrency_policy);
      fact("next run", j.next_run ? absTime(j.next_run) + " (" + until(j.next_run) + ")" : "none: the schedule has no more runs");
    }
    fact("parents", (j.parents || []).join(", "));
    const dl = el("dl", { class: "kv" }, facts.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", {}, v))));

    const note = state.jobNote[j.id];
    const noteEl = el("div", { class: "job-note" + (note ? (note.bad ? " bad" : " ok") : ""), role: "status", id: "note-" + j.id },
      note && note.field ? el("span", { class: "field", text: note.field }) : null, note ? " " + note.text : "");
    let control;
    if (j.type === "service") {
      const input = el("input", {
        type: "number", min: "0", step: "1", id: "scale-" + j.id, class: "scale-input", "aria-label": "Instances of " + j.id,
        value: state.scaleDraft[j.id] !== undefined ? state.scaleDraft[j.id] : String(j.instances),
        oninput: (ev) => { state.scaleDraft[j.id] = ev.target.value; },
      });
      control = el("form", { class: "job-action", onsubmit: (ev) => { ev.preventDefault(); scaleJob(j.id, input.value); } },
        el("label", { for: "scale-" + j.id, text: "Instances" }), input,
        el("button", { type: "submit", class: "primary small", id: "scale-submit-" + j.id, text: "Scale" }));
    } else {
      control = el("div", { class: "job-action" },
        el("button", { type: "button", class: "primary small", id: "start-" + j.id, text: "Start a run now", onclick: () => startRun(j.id) }));
    }
    control.append(el("button", { type: "button", class: "small", id: "edit-" + j.id, text: "Edit spec",
      "aria-label": "Edit the spec of job " + j.id, onclick: () => editJob(j.id) }));
    const recent = j.type === "service" ? deploymentsTable(j.deployments || []) : runsTable(j.runs || []);
    return el("tr", { class: "job-detail", dataset: { detail: j.id } },
      el("td", { colspan: JOB_COLS },
        el("div", { class: "detail" },
          el("div", { class: "detail-facts" }, dl),
          el("div", { class: "detail-side" }, control, noteEl, recent))));
  }

  function deploymentsTable(ds) {
    if (!ds.length) return null;
    const rows = ds.slice(-RECENT_ROWS).reverse().map((d) => el("tr", {},
      el("td", { class: "num", text: String(d.version) }),
      el("td", {}, el("span", { class: "rs rs-" + d.state, text: d.state })),
      el("td", { title: absTime(d.started_at), text: ago(d.started_at) }),
      el("td", { text: took(d.started_at, d.finished_at) })));
    return el("table", { class: "recent deployments" },
      el("thead", {}, el("tr", {}, el("th", { class: "num", text: "Version" }), el("th", { text: "Deployment" }), el("th", { text: "Started" }), el("th", { text: "Took" }))),
      el("tbody", {}, rows));
  }

  function runsTable(runs) {
    if (!runs.length) return el("div", { class: "muted", text: "No runs yet." });
    const rows = runs.slice(-RECENT_ROWS).reverse().map((r) => el("tr", {},
      el("td", { class: "num", text: String(r.number) }),
      el("td", { text: r.trigger || "" }),
      el("td", {}, el("span", { class: "rs rs-" + r.state, text: r.state })),
      el("td", { title: absTime(r.started_at), text: ago(r.started_at) }),
      el("td", { text: took(r.started_at, r.finished_at) }),
      el("td", { class: "run-msg", text: r.message || "" })));
    return el("table", { class: "recent runs" },
      el("thead", {}, el("tr", {}, ["Run", "Trigger", "State", "Started", "Took", "Message"].map((h, i) => el("th", { class: i === 0 ? "num" : "", text: h })))),
      el("tbody", {}, rows));
  }

  function pendingRow(p, open) {
    const hosts = Object.entries(p.hosts || {}).sort((a, b) => b[1] - a[1]).map(([reason, n]) =>
      chip(reason, plural(n, "host"), "reason"));
    const head = p.unplaceable ? "Unplaceable" : "Pending";
    const what = (p.instances ? p.instances + " instance" + (p.instances === 1 ? "" : "s") + " waiting" : "");
    return el("tr", { class: "pending-row" + (p.unplaceable ? " unplaceable" : "") + (open ? " continued" : "") },
      el("td", { colspan: JOB_COLS },
        el("div", { class: "pending" },
          el("span", { class: "pending-tag", text: head }),
          what ? el("span", { class: "pending-count", text: what }) : null,
          el("span", { class: "pending-msg", title: hostReasonsText(p.hosts), text: p.message || "" }),
          hosts.length ? el("span", { class: "chips" }, hosts) : null)));
  }

  // ---- nodes: capacity, allocation and use; paged; drain ----

  function filteredNodes() {
    const q = state.nodeFilter.trim().toLowerCase();
    const out = !q ? state.nodes.slice() : state.nodes.filter((n) =>
      [n.name, n.id, n.address, n.state, n.isolator].some((v) => (v || "").toLowerCase().includes(q)) ||
      Object.entries(n.attributes || {}).some(([k, v]) => (k + "=" + v).toLowerCase().includes(q)));
    out.sort((a, b) => ((a.name || a.id) < (b.name || b.id) ? -1 : (a.name || a.id) > (b.name || b.id) ? 1 : 0));
    return out;
  }

  // capacityCell shows one resource of a node: a bar of the total with
  // what is allocated (light) and what tasks actually use (dark) on it.
  function capacityCell(alloc, used, total, fmt, unit) {
    const fill = el("div", { class: "fill" }), use = el("div", { class: "used" });
    const pa = pct(alloc, total);
    fill.style.width = pa.toFixed(1) + "%";
    if (pa >= 90) fill.classList.add("hot");
    const hasUse = used !== undefined && used !== null;
    if (hasUse) use.style.width = pct(used, total).toFixed(1) + "%";
    const title = "allocated " + fmt(alloc || 0) + unit + " of " + fmt(total) + unit + " (" + fmtNum(pa, 0) + "%)" +
      (hasUse ? ", used " + fmt(used) + unit + " (" + fmtNum(pct(used, total), 0) + "%)" : ", use not reported");
    return el("div", { class: "alloc", title: title },
      el("div", { class: "bar cap" }, fill, hasUse ? use : null),
      el("span", { text: fmt(alloc || 0) + " / " + fmt(total) }),
      el("span", { class: "muted used-text", text: hasUse ? "used " + fmt(used) : "" }));
  }

  function renderNodes() {
    const tb = $("nodes-table").tBodies[0];
    $("nodes-count").textContent = state.nodes.length ? String(state.nodes.length) : "";
    const pg = pageOf(filteredNodes(), state.nodes.length, state.nodePage, NODE_PAGE_SIZE, "node-page-info", "node-prev", "node-next");
    state.nodePage = pg.page;
    const shown = pg.shown;
    if (!shown.length) {
      tb.replaceChildren(emptyRow(9, state.nodes.length ? "No node matches the filter." : "No nodes registered."));
      return;
    }
    const frag = document.createDocumentFragment();
    for (const n of shown) {
      const t = n.total || {}, a = n.allocated || {}, u = n.used || null;
      const attrs = Object.entries(n.attributes || {}).sort().map(([k, v]) =>
        el("span", { class: "attr" }, el("span", { class: "muted", text: k + "=" }), v));
      const actions = [];
      // ready and inactive nodes can be drained; draining and inactive
      // ones put back in service. Down and left nodes are not reachable.
      if (n.state === "ready" || n.state === "inactive") {
        actions.push(el("button", { type: "button", class: "small danger", text: "Drain", "aria-label": "Drain node " + (n.name || n.id),
          onclick: () => drainNode(n) }));
      }
      if (n.state === "draining" || n.state === "inactive") {
        actions.push(el("button", { type: "button", class: "small", text: "Reactivate", "aria-label": "Reactivate node " + (n.name || n.id),
          onclick: () => reactivateNode(n) }));
      }
      frag.append(el("tr", { dataset: { node: n.id } },
        el("td", { class: "strong nowrap" }, n.name || n.id, n.leader ? el("span", { class: "badge", text: "leader" }) : null),
        el("td", { class: "mono", text: n.address }),
        el("td", {}, el("span", { class: "ns ns-" + n.state, text: n.state })),
        el("td", { text: n.isolator }),
        el("td", {}, capacityCell(a.cpus, u ? u.cpus : null, t.cpus, fmtCPU, " cores")),
        el("td", {}, capacityCell(a.mem, u ? u.mem : null, t.mem, fmtMem, "")),
        el("td", { class: "num", text: String(n.tasks || 0) }),
        el("td", { class: "attrs" }, attrs),
        el("td", { class: "actions" }, actions)));
    }
    tb.replaceChildren(frag);
  }

  // ---- frameworks and roles (the leader's allocator) ----

  function resText(r) {
    if (!r) return "–";
    const parts = [];
    if (r.cpus) parts.push(fmtCPU(r.cpus) + " cpu");
    if (r.mem) parts.push(fmtMem(r.mem));
    if (r.gpus) parts.push(r.gpus + " gpu");
    if (r.disk) parts.push(fmtMem(r.disk) + " disk");
    return parts.length ? parts.join(", ") : "–";
  }
  // shareCell draws a dominant share (0..1) as a bar and a percentage.
  function shareCell(share) {
    const p = 100 * (share || 0);
    return el("div", { class: "alloc share" }, bar(p, 100), el("span", { text: fmtNum(p, 1) + "%" }));
  }

  let rolesLoading = false;
  async function refreshRoles() {
    if (rolesLoading) return;
    rolesLoading = true;
    try {
      state.roles = (await api("/v1/roles")) || [];
      state.rolesError = "";
    } catch (e) {
      state.rolesError = e.message;
    } finally {
      rolesLoading = false;
    }
    renderRoles();
  }

  function renderRoles() {
    const roles = state.roles || [];
    $("roles-note").textContent = state.rolesError ? "Cannot read the roles: " + state.rolesError :
      "shares are weighted (share ÷ weight); the lowest is offered first";
    $("roles-note").classList.toggle("bad", !!state.rolesError);
    const rt = $("roles-table").tBodies[0], ft = $("frameworks-table").tBodies[0];
    if (!roles.length) {
      rt.replaceChildren(emptyRow(8, state.roles ? "No roles yet: they appear when a framework registers." : "Loading…"));
      ft.replaceChildren(emptyRow(8, "No frameworks."));
      return;
    }
    rt.replaceChildren(...roles.map((r) => el("tr", { dataset: { role: r.name } },
      el("td", { class: "strong mono", text: r.name }),
      el("td", { class: "num", text: fmtNum(r.weight, 2) }),
      el("td", { text: r.quota ? resText(r.quota) : "none" }),
      el("td", {}, shareCell(r.dominant_share)),
      el("td", { text: resText(r.allocated) }),
      el("td", { text: resText(r.offered) }),
      el("td", { text: resText(r.reserved) }),
      el("td", { class: "num", text: String((r.frameworks || []).length) }))));
    const fws = [];
    for (const r of roles) for (const f of r.frameworks || []) fws.push([r, f]);
    ft.replaceChildren(...(fws.length ? fws.map(([r, f]) => el("tr", { dataset: { framework: f.id } },
      el("td", { title: f.id }, el("span", { class: "strong", text: f.name || f.id }), el("div", { class: "sub mono muted", text: f.id })),
      el("td", { class: "mono", text: r.name }),
      el("td", {}, el("span", { class: "ns ns-" + (f.connected ? "ready" : "down"), text: f.connected ? "connected" : "disconnected" })),
      el("td", {}, shareCell(f.dominant_share)),
      el("td", { class: "num", text: String(f.tasks || 0) }),
      el("td", { class: "num", text: String(f.offers || 0) }),
      el("td", { text: resText(f.offered) }),
      el("td", { text: resText(f.allocated) }))) : [emptyRow(8, "No frameworks.")]));
  }

  // ---- the DAG of dependent jobs: layered SVG, built with the DOM ----

  const SVGNS = "http://www.w3.org/2000/svg";
  const DAG = { w: 170, h: 40, gapX: 56, gapY: 14, pad: 10 };

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
    for (const c of children.flat()) if (c) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  // dagLayout places the jobs that have parents or children in layers by
  // their longest path from a root (a job's layer is one more than its
  // deepest parent), orders each layer by the mean position of its parents
  // (fewer crossings), and returns the boxes and edges. Parents that are
  // not jobs (deleted, or misspelt) are drawn as missing.
  function dagLayout(jobs) {
    const byID = new Map(jobs.map((j) => [j.id, j]));
    const edges = [], ids = new Set();
    for (const j of jobs) for (const p of j.parents || []) { edges.push([p, j.id]); ids.add(p); ids.add(j.id); }
    if (!edges.length) return null;
    const level = new Map(), visiting = new Set();
    const levelOf = (id) => {
      if (level.has(id)) return level.get(id);
      if (visiting.has(id)) return 0; // a cycle (the server refuses them): cut it
      visiting.add(id);
      let l = 0;
      for (const p of (byID.get(id) || {}).parents || []) l = Math.max(l, levelOf(p) + 1);
      visiting.delete(id);
      level.set(id, l);
      return l;
    };
    const layers = [];
    for (const id of Array.from(ids).sort()) {
      const l = levelOf(id);
      (layers[l] = layers[l] || []).push(id);
    }
    const pos = new Map();
    layers.forEach((layer) => layer.forEach((id, i) => pos.set(id, i)));
    for (let l = 1; l < layers.length; l++) {
      const mean = (id) => {
        const ps = ((byID.get(id) || {}).parents || []).filter((p) => pos.has(p));
        return ps.length ? ps.reduce((s, p) => s + pos.get(p), 0) / ps.length : pos.get(id);
      };
      const m = new Map(layers[l].map((id) => [id, mean(id)]));
      layers[l].sort((a, b) => m.get(a) - m.get(b) || (a < b ? -1 : 1));
      layers[l].forEach((id, i) => pos.set(id, i));
    }
    const rows = Math.max(...layers.map((l) => l.length));
    const boxes = new Map();
    layers.forEach((layer, l) => layer.forEach((id, i) => {
      // Center short layers against the tallest.
      const off = (rows - layer.length) * (DAG.h + DAG.gapY) / 2;
      boxes.set(id, { id: id, job: byID.get(id) || null, x: DAG.pad + l * (DAG.w + DAG.gapX), y: DAG.pad + off + i * (DAG.h + DAG.gapY) });
    }));
    return {
      boxes: Array.from(boxes.values()), edges: edges.map(([p, c]) => ({ from: boxes.get(p), to: boxes.get(c) })),
      width: 2 * DAG.pad + layers.length * DAG.w + (layers.length - 1) * DAG.gapX,
      height: 2 * DAG.pad + rows * DAG.h + (rows - 1) * DAG.gapY,
    };
  }

  let dagSig = "";
  function renderDag() {
    const withDeps = state.jobs.filter((j) => j.parents && j.parents.length);
    const sig = JSON.stringify(state.jobs.filter((j) => withDeps.includes(j) || withDeps.some((c) => c.parents.includes(j.id)))
      .map((j) => [j.id, j.parents || [], j.state, (latestRun(j) || {}).state || ""]));
    if (sig === dagSig) return;
    dagSig = sig;
    const g = dagLayout(state.jobs);
    $("dag-wrap").hidden = !g;
    if (!g) { $("jobs-dag").replaceChildren(); return; }
    const defs = svg("defs", {}, svg("marker", { id: "dag-arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", class: "dag-arrowhead" })));
    const edges = g.edges.map((e) => {
      const x1 = e.from.x + DAG.w, y1 = e.from.y + DAG.h / 2, x2 = e.to.x, y2 = e.to.y + DAG.h / 2, dx = (x2 - x1) / 2;
      const parentRun = e.from.job ? (latestRun(e.from.job) || {}).state : "";
      return svg("path", { class: "dag-edge" + (parentRun === "succeeded" ? " done" : ""), "data-from": e.from.id, "data-to": e.to.id,
        d: "M" + x1 + "," + y1 + " C" + (x1 + dx) + "," + y1 + " " + (x2 - dx) + "," + y2 + " " + x2 + "," + y2, "marker-end": "url(#dag-arrow)" },
      svg("title", {}, e.from.id + " → " + e.to.id + (parentRun ? " (parent's latest run " + parentRun + ")" : "")));
    });
    const nodes = g.boxes.map((b) => {
      const j = b.job, st = j ? j.state || "" : "missing";
      const label = b.id.length > 22 ? b.id.slice(0, 21) + "…" : b.id;
      const open = () => { if (j) { openJob(b.id); scrollToJob(b.id); } };
      return svg("g", { class: "dag-node js-" + st + (j ? "" : " missing"), "data-job": b.id, transform: "translate(" + b.x + "," + b.y + ")",
        tabindex: j ? 0 : null, role: j ? "button" : null, "aria-label": j ? "Open job " + b.id + " (" + st + ")" : null,
        onclick: open, onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } } },
      svg("title", {}, j ? b.id + ": " + st : b.id + ": no such job (a parent that was deleted?)"),
      svg("rect", { width: DAG.w, height: DAG.h, rx: 6 }),
      svg("text", { x: 10, y: 16, class: "dag-id" }, label),
      svg("text", { x: 10, y: 31, class: "dag-state" }, j ? st + (latestRun(j) ? " · run " + latestRun(j).number + " " + latestRun(j).state : "") : "missing"));
    });
    $("jobs-dag").replaceChildren(svg("svg", { width: g.width, height: g.height, viewBox: "0 0 " + g.width + " " + g.height, role: "img" },
      defs, svg("g", { class: "dag-edges" }, edges), svg("g", { class: "dag-nodes" }, nodes)));
  }

  function scrollToJob(id) {
    const tr = document.querySelector('#jobs-table tr[data-job="' + CSS.escape(id) + '"]');
    if (tr) tr.scrollIntoView({ block: "nearest" });
  }

  // ---- tasks: filtered, sorted, paged ----

  function filteredTasks() {
    const q = state.filterText.trim().toLowerCase();
    const st = state.filterState;
    const out = state.tasks.filter((t) => {
      if (st === "active" && TERMINAL.has(t.state)) return false;
      if (st && st !== "active" && t.state !== st) return false;
      if (!q) return true;
      return (t.id || "").toLowerCase().includes(q) || (t.job || "").toLowerCase().includes(q) ||
        (t.node_name || "").toLowerCase().includes(q) || (t.node || "").toLowerCase().includes(q) ||
        shortState(t.state).includes(q);
    });
    // Active tasks first, then most recently updated.
    out.sort((a, b) => (TERMINAL.has(a.state) - TERMINAL.has(b.state)) ||
      ((b.updated_at || "") < (a.updated_at || "") ? -1 : (b.updated_at || "") > (a.updated_at || "") ? 1 : 0) ||
      (a.id < b.id ? -1 : 1));
    return out;
  }

  // pageOf cuts page `page` (kept in range) of `size` items out of `items`
  // (the filtered ones, of `total`), and updates the pager's info line and
  // buttons.
  function pageOf(items, total, page, size, infoID, prevID, nextID) {
    const pages = Math.max(1, Math.ceil(items.length / size));
    page = Math.min(page, pages - 1);
    const start = page * size;
    const shown = items.slice(start, start + size);
    $(infoID).textContent = items.length
      ? fmtNum(start + 1, 0) + "–" + fmtNum(start + shown.length, 0) + " of " + fmtNum(items.length, 0) +
        (items.length !== total ? " (of " + fmtNum(total, 0) + ")" : "")
      : "0 of " + fmtNum(total, 0);
    $(prevID).disabled = page === 0;
    $(nextID).disabled = page >= pages - 1;
    return { page: page, shown: shown };
  }

  function renderTasks() {
    const pg = pageOf(filteredTasks(), state.tasks.length, state.page, PAGE_SIZE, "page-info", "page-prev", "page-next");
    state.page = pg.page;
    const shown = pg.shown;

    const tb = $("tasks-table").tBodies[0];
    if (!shown.length) {
      tb.replaceChildren(emptyRow(9, state.tasks.length ? "No task matches the filter." : "No tasks."));
      return;
    }
    const frag = document.createDocumentFragment();
    for (const t of shown) {
      const kill = TERMINAL.has(t.state) ? null : el("button", {
        type: "button", class: "small danger", text: "Kill", "aria-label": "Kill task " + t.id,
        onclick: (ev) => { ev.stopPropagation(); killTask(t.id); },
      });
      frag.append(el("tr", { dataset: { id: t.id }, class: t.id === openTaskID ? "selected" : "" },
        el("td", { class: "mono nowrap", text: t.id }),
        el("td", { text: t.job }),
        el("td", { text: t.node_name || t.node || "–" }),
        el("td", {}, stateBadge(t.state), t.kill_requested && !TERMINAL.has(t.state) ? el("span", { class: "muted", text: " kill requested" }) : null),
        el("td", {}, healthBadge(t.healthy)),
        el("td", { class: "num", text: t.exit_code === undefined || t.exit_code === null ? "" : String(t.exit_code) }),
        el("td", { class: "num nowrap", title: "measured use / allocated", text: t.used ? fmtCPU(t.used.cpus) + " / " + fmtCPU((t.resources || {}).cpus) + " cpu · " + fmtMem(t.used.mem) : "" }),
        el("td", { title: absTime(t.updated_at), text: ago(t.updated_at) }),
        el("td", { class: "actions" }, kill)));
    }
    tb.replaceChildren(frag);
  }

  // ---- actions ----

  async function deleteJob(id) {
    if (!confirm("Delete job " + id + "? Its tasks will be killed.")) return;
    try { await api("/v1/jobs/" + encodeURIComponent(id), { method: "DELETE" }); toast("Job " + id + " deleted"); }
    catch (e) { toast("Delete " + id + ": " + e.message, true); }
    scheduleRefresh();
  }

  function setNote(id, text, bad, field) {
    state.jobNote[id] = { text: text, bad: !!bad, field: field || "" };
    renderJobs();
  }

  async function scaleJob(id, value) {
    const n = Number(value);
    if (value === "" || !Number.isInteger(n) || n < 0) {
      setNote(id, "Give the number of instances: a whole number, 0 or more (0 suspends the service).", true);
      return;
    }
    const cur = (state.jobs.find((j) => j.id === id) || {}).instances;
    if (!confirm("Scale service " + id + (cur !== undefined ? " from " + cur : "") + " to " + plural(n, "instance") + "?" +
      (n === 0 ? " 0 suspends it: every task is killed." : ""))) {
      setNote(id, "Not scaled.");
      return;
    }
    const btn = document.getElementById("scale-submit-" + id);
    if (btn) btn.disabled = true;
    try {
      const job = await api("/v1/jobs/" + encodeURIComponent(id) + "/scale", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ instances: n }),
      });
      delete state.scaleDraft[id];
      setNote(id, "Scaled " + id + " to " + plural(job.instances, "instance") + " (version " + job.version + " kept).");
      toast("Scaled " + id + " to " + plural(job.instances, "instance"));
    } catch (e) {
      let msg = e.message;
      if (e.field && msg.startsWith(e.field + ": ")) msg = msg.slice(e.field.length + 2);
      setNote(id, "Scale " + id + ": " + msg, true, e.field);
      toast("Scale " + id + ": " + e.message, true);
    } finally {
      if (btn) btn.disabled = false;
    }
    scheduleRefresh();
  }

  async function startRun(id) {
    if (!confirm("Start a run of " + id + " now, whatever its schedule or parents?")) return;
    try {
      const job = await api("/v1/jobs/" + encodeURIComponent(id) + "/runs", { method: "POST" });
      const r = latestRun(job);
      const msg = "Started run " + (r ? r.number : "") + " of " + id + ".";
      setNote(id, msg);
      toast(msg);
    } catch (e) {
      setNote(id, "Start a run of " + id + ": " + e.message, true);
      toast("Start a run of " + id + ": " + e.message, true);
    }
    scheduleRefresh();
  }

  // operatorCall sends a Mesos v1 operator call (POST /api/v1): node
  // drain and reactivation live there, as in Mesos, and the CLI uses it too.
  function operatorCall(call) {
    return api("/api/v1", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(call) });
  }

  async function drainNode(n) {
    const name = n.name || n.id;
    if (!confirm("Drain node " + name + "? No new tasks will be placed on it, and its " + plural(n.tasks || 0, "task") +
      " will be killed (their frameworks place them elsewhere). Reactivate it to undo.")) return;
    try {
      await operatorCall({ type: "DRAIN_AGENT", drain_agent: { agent_id: { value: n.id } } });
      toast("Node " + name + " is draining");
    } catch (e) { toast("Drain " + name + ": " + e.message, true); }
    scheduleRefresh();
  }

  async function reactivateNode(n) {
    const name = n.name || n.id;
    if (!confirm("Put node " + name + " back in service? New tasks may be placed on it again.")) return;
    try {
      await operatorCall({ type: "REACTIVATE_AGENT", reactivate_agent: { agent_id: { value: n.id } } });
      toast("Node " + name + " is back in service");
    } catch (e) { toast("Reactivate " + name + ": " + e.message, true); }
    scheduleRefresh();
  }

  async function killTask(id) {
    if (!confirm("Kill task " + id + "?")) return;
    try { await api("/v1/tasks/" + encodeURIComponent(id) + "/kill", { method: "POST" }); toast("Kill requested for " + id); }
    catch (e) { toast("Kill " + id + ": " + e.message, true); }
    scheduleRefresh();
  }

  // ---- the job editor: submit a new job or update one ----

  // checkJSON finds the first syntax error in s and where it is, or returns
  // null. The browser's JSON.parse messages do not always give a position,
  // so the dashboard scans the text itself.
  function checkJSON(s) {
    let i = 0, depth = 0;
    const fail = (msg) => { throw { pos: Math.min(i, s.length), msg: msg }; };
    const show = (c) => c === undefined ? "end of text" : c === "\n" ? "line break" : JSON.stringify(c);
    const ws = () => { while (i < s.length && (s[i] === " " || s[i] === "\t" || s[i] === "\n" || s[i] === "\r")) i++; };
    const NUM = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    function value() {
      ws();
      const c = s[i];
      if (c === "{") return container("}");
      if (c === "[") return container("]");
      if (c === '"') return string();
      if (c === "-" || (c >= "0" && c <= "9")) {
        NUM.lastIndex = i;
        const m = NUM.exec(s);
        if (!m) fail("malformed number");
        i += m[0].length;
        return;
      }
      for (const w of ["true", "false", "null"]) if (s.startsWith(w, i)) { i += w.length; return; }
      if (c === "'") fail("strings and field names take double quotes, not single");
      fail(c === undefined ? "the text ends where a value should be" : "unexpected " + show(c) + ": expected a value (a string, number, object, array, true, false or null)");
    }
    function container(close) {
      if (++depth > 200) fail("nested too deeply");
      i++;
      ws();
      if (s[i] === close) { i++; depth--; return; }
      for (;;) {
        ws();
        if (close === "}") {
          if (s[i] !== '"') fail(s[i] === "}" ? "a comma before } has no field after it" : "expected a field name in double quotes, found " + show(s[i]));
          string();
          ws();
          if (s[i] !== ":") fail("expected ':' after the field name, found " + show(s[i]));
          i++;
        } else if (s[i] === "]") {
          fail("a comma before ] has no value after it");
        }
        value();
        ws();
        if (s[i] === ",") { i++; continue; }
        if (s[i] === close) { i++; depth--; return; }
        fail(s[i] === undefined ? "the text ends before the closing " + close : "expected ',' or '" + close + "', found " + show(s[i]) + (s[i] === '"' ? " (a comma is missing?)" : ""));
      }
    }
    function string() {
      i++;
      while (i < s.length) {
        const c = s[i];
        if (c === '"') { i++; return; }
        if (c === "\\") {
          const e = s[i + 1];
          if (e !== undefined && '"\\/bfnrt'.includes(e)) { i += 2; continue; }
          if (e === "u" && /^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) { i += 6; continue; }
          fail("invalid escape \\" + (e || "") + " in a string");
        }
        if (c < " ") fail(c === "\n" ? "the string is not closed before the end of the line" : "a control character in a string: escape it");
        i++;
      }
      fail("the string is not closed");
    }
    try {
      value();
      ws();
      if (i < s.length) fail("unexpected " + show(s[i]) + " after the end of the job object");
      return null;
    } catch (e) {
      if (e && typeof e.pos === "number") return Object.assign(e, lineCol(s, e.pos));
      throw e;
    }
  }

  function lineCol(s, pos) {
    const before = s.slice(0, pos);
    const nl = before.lastIndexOf("\n");
    return { line: before.split("\n").length, col: pos - nl };
  }

  // fieldPos finds where the field an error names ("health_checks[0].path")
  // is in the text: each name in turn, after the previous one. -1 if not.
  function fieldPos(text, field) {
    let at = 0, found = -1;
    for (const part of field.split(".")) {
      const name = part.replace(/\[\d+\]$/, "");
      if (!name) continue;
      const re = new RegExp('"' + name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + '"\\s*:', "g");
      re.lastIndex = at;
      const m = re.exec(text);
      if (!m) return found;
      found = m.index;
      at = m.index + m[0].length;
    }
    return found;
  }

  // The gutter numbers the editor's lines and marks the one with an error.
  let gutterLines = 0, gutterMark = 0;
  function renderGutter(mark) {
    const ta = $("run-spec");
    const lines = ta.value.split("\n").length;
    mark = mark || 0;
    if (lines === gutterLines && mark === gutterMark) return;
    gutterLines = lines; gutterMark = mark;
    const parts = [];
    let plain = "";
    for (let n = 1; n <= lines; n++) {
      if (n === mark) {
        if (plain) parts.push(plain);
        parts.push(el("span", { class: "err", title: "the error is on this line", text: String(n) }), "\n");
        plain = "";
      } else plain += n + "\n";
    }
    if (plain) parts.push(plain);
    $("run-gutter").replaceChildren(...parts);
    $("run-gutter").scrollTop = ta.scrollTop;
  }

  // showEditorError shows an error inline under the editor, marks its line
  // in the gutter and selects where it is; field is the server's.
  function showEditorError(kind, message, pos, field) {
    const out = $("run-result"), ta = $("run-spec");
    out.replaceChildren();
    out.className = "run-result bad";
    out.dataset.kind = kind;
    ta.classList.add("invalid");
    let loc = null;
    if (pos >= 0) loc = lineCol(ta.value, pos);
    if (kind === "syntax") out.append(el("span", { class: "kind", text: "JSON syntax error" }), " ");
    if (field) out.append(el("span", { class: "field", text: field }), " ");
    if (loc) out.append(el("span", { class: "loc", text: "line " + loc.line + (kind === "syntax" ? ", column " + loc.col : "") }), " ");
    out.append(el("span", { class: "msg", text: message }));
    renderGutter(loc ? loc.line : 0);
    if (loc) {
      // Select the spot (a field's name, or the character the parser
      // stopped at) so the user sees it at once.
      const end = kind === "field" ? pos + field.split(".").pop().replace(/\[\d+\]$/, "").length + 2 : pos + 1;
      ta.setSelectionRange(pos, Math.min(end, ta.value.length));
    }
  }

  function clearEditorError() {
    const out = $("run-result");
    out.replaceChildren();
    out.className = "run-result";
    delete out.dataset.kind;
    $("run-spec").classList.remove("invalid");
    renderGutter(0);
  }

  // checkEditor runs as the user types: a syntax error shows as soon as
  // typing pauses, and goes once it is fixed.
  let editorTimer = 0;
  function checkEditorSoon() {
    clearTimeout(editorTimer);
    renderGutter(gutterMark);
    editorTimer = setTimeout(() => {
      const err = checkJSON($("run-spec").value);
      const shown = $("run-result").dataset.kind;
      if (err) showEditorError("syntax", err.msg, err.pos);
      else if (shown === "syntax") clearEditorError();
    }, 300);
  }

  function setEditing(job) {
    state.editing = job ? { id: job.id, version: job.version } : null;
    $("run-title").textContent = job ? "Update job " + job.id : "Run job";
    $("run-submit").textContent = job ? "Update" : "Submit";
    $("run-new").hidden = !job;
  }

  // STATUS_FIELDS are what GET /v1/jobs/{id} adds to the submitted spec;
  // the spec is the rest (POST /v1/jobs refuses unknown fields).
  const STATUS_FIELDS = ["version", "state", "created_at", "updated_at", "tasks", "pending", "deployment", "deployments", "runs", "next_run"];

  async function editJob(id) {
    let job;
    try { job = await api("/v1/jobs/" + encodeURIComponent(id)); }
    catch (e) { setNote(id, "Read the spec of " + id + ": " + e.message, true); return; }
    const spec = Object.assign({}, job);
    for (const k of STATUS_FIELDS) delete spec[k];
    const ta = $("run-spec");
    ta.value = JSON.stringify(spec, null, 2);
    setEditing(job);
    clearEditorError();
    $("run-result").textContent = "Editing version " + job.version + " of " + id + ". Update submits it as a new version.";
    ta.scrollTop = 0;
    ta.focus();
    ta.setSelectionRange(0, 0);
    ta.closest(".card").scrollIntoView({ block: "nearest" });
  }

  async function submitJob(ev) {
    ev.preventDefault();
    const out = $("run-result"), ta = $("run-spec"), btn = $("run-submit");
    const syntax = checkJSON(ta.value);
    if (syntax) {
      showEditorError("syntax", syntax.msg, syntax.pos);
      ta.focus();
      return;
    }
    const spec = JSON.parse(ta.value);
    if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
      showEditorError("syntax", "a job spec is one JSON object: {\"id\": …, \"type\": …}", 0);
      return;
    }
    const id = typeof spec.id === "string" ? spec.id : "";
    const existing = id ? state.jobs.find((j) => j.id === id) : null;
    const question = existing
      ? "Update job " + id + " (now version " + existing.version + ")? " + (existing.type === "service"
        ? "Its tasks are replaced by a rolling update to the new spec."
        : "Its next runs use the new spec.")
      : "Submit " + (id ? "new job " + id : "this job") + "?";
    if (!confirm(question)) {
      clearEditorError();
      out.textContent = "Not submitted.";
      return;
    }
    clearEditorError();
    btn.disabled = true;
    try {
      const job = await api("/v1/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: ta.value });
      out.classList.add("ok");
      out.textContent = existing
        ? "Updated job " + job.id + " to version " + job.version + "."
        : "Submitted job " + job.id + " (version " + job.version + ").";
      if (state.editing) setEditing(job);
      scheduleRefresh();
    } catch (e) {
      let msg = e.message;
      if (e.field && msg.startsWith(e.field + ": ")) msg = msg.slice(e.field.length + 2);
      showEditorError("field", msg, e.field ? fieldPos(ta.value, e.field) : -1, e.field);
    } finally {
      btn.disabled = false;
    }
  }

  // ---- task panel with a live log tail ----

  let openTaskID = null, logStream = "stdout", logOffset = -1, logTimer = 0, logGen = 0, logDecoder = null, logDone = false;

  async function openTask(id) {
    openTaskID = id;
    $("panel").hidden = false;
    document.body.classList.add("panel-open");
    $("panel-title").textContent = id;
    for (const tr of $("tasks-table").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.id === id);
    await loadTask();
    startLog(logStream);
  }

  function closeTask() {
    openTaskID = null;
    logGen++;
    clearTimeout(logTimer);
    $("panel").hidden = true;
    document.body.classList.remove("panel-open");
    for (const tr of $("tasks-table").tBodies[0].rows) tr.classList.remove("selected");
  }

  let panelTask = null;

  async function loadTask() {
    const id = openTaskID;
    if (!id) return;
    let t;
    try { t = await api("/v1/tasks/" + encodeURIComponent(id)); }
    catch (e) { $("panel-facts").replaceChildren(el("div", { class: "bad", text: e.message })); return; }
    if (id !== openTaskID) return;
    panelTask = t;
    const res = t.resources || {};
    const facts = [
      ["state", stateBadge(t.state)],
      ["job", (t.job || "–") + (t.job_version ? " v" + t.job_version : "") + " · instance " + t.instance],
      ["node", t.node_name || t.node || "–"],
      ["resources", fmtCPU(res.cpus) + " cpu, " + fmtMem(res.mem) + (res.ports && res.ports.length ? ", ports " + res.ports.map((p) => p.begin === p.end ? p.begin : p.begin + "-" + p.end).join(",") : "")],
      ["command", el("code", { text: t.cmd || "" })],
      ["created", absTime(t.created_at)],
      ["updated", absTime(t.updated_at)],
    ];
    if (t.exit_code !== undefined && t.exit_code !== null) facts.splice(1, 0, ["exit code", String(t.exit_code)]);
    if (t.healthy !== undefined && t.healthy !== null) facts.splice(1, 0, ["health", healthBadge(t.healthy)]);
    if (t.run) facts.splice(2, 0, ["run", String(t.run)]);
    if (t.message) facts.splice(1, 0, ["message", t.message + (t.reason ? " (" + t.reason + ")" : "")]);
    if (t.used) facts.splice(1, 0, ["used", fmtCPU(t.used.cpus) + " cpu, " + fmtMem(t.used.mem) + (t.used.mem_peak ? " (peak " + fmtMem(t.used.mem_peak) + ")" : "")]);
    $("panel-facts").replaceChildren(...facts.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", {}, v))));
    $("panel-kill").hidden = TERMINAL.has(t.state);
    // Newest first; "after" is the time since the status before it.
    const hist = (t.history || []).map((h, i, all) => [h, i ? took(all[i - 1].time, h.time) : ""]).reverse();
    $("panel-history").tBodies[0].replaceChildren(...(hist.length ? hist.map(([h, after]) => el("tr", { dataset: { state: h.state } },
      el("td", { class: "nowrap", title: absTime(h.time), text: shortTime(h.time) }),
      el("td", {}, stateBadge(h.state), h.healthy === undefined || h.healthy === null ? null : [" ", healthBadge(h.healthy)]),
      el("td", { class: "num muted", text: after ? "+" + after : "" }),
      el("td", { class: "num", text: h.exit_code === undefined || h.exit_code === null ? "" : String(h.exit_code) }),
      el("td", { text: [h.message, h.reason ? "(" + h.reason + ")" : ""].filter(Boolean).join(" ") }))) : [emptyRow(5, "No status updates recorded.")]));
  }

  function startLog(stream) {
    logStream = stream;
    logGen++;
    clearTimeout(logTimer);
    logOffset = -1;
    logDone = false;
    logDecoder = new TextDecoder();
    $("log").textContent = "";
    $("log-state").textContent = "loading…";
    for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.stream === stream);
    pollLog(logGen);
  }

  // pollLog reads the log from where the last read stopped (the first read
  // takes the last 64 KiB), appends it, and polls again every second while
  // the panel is open and the task may still write.
  async function pollLog(gen) {
    const id = openTaskID;
    if (!id || gen !== logGen) return;
    const q = logOffset < 0 ? "tail=" + LOG_TAIL_BYTES : "offset=" + logOffset;
    try {
      const resp = await fetch("/v1/tasks/" + encodeURIComponent(id) + "/logs?stream=" + logStream + "&" + q, { headers: PROXY });
      if (gen !== logGen) return;
      if (!resp.ok) {
        let msg = resp.status + "";
        try { msg = (await resp.json()).error || msg; } catch (e) { /* not JSON */ }
        $("log-state").textContent = "cannot read log: " + msg;
      } else {
        const buf = await resp.arrayBuffer();
        if (gen !== logGen) return;
        const start = parseInt(resp.headers.get("X-Log-Offset") || "0", 10);
        logOffset = (logOffset < 0 ? start : logOffset) + buf.byteLength;
        appendLog(logDecoder.decode(buf, { stream: true }));
        const ended = panelTask && panelTask.id === id && TERMINAL.has(panelTask.state);
        if (ended && buf.byteLength === 0) logDone = true;
        $("log-state").textContent = (logDone ? "task ended · " : "live · ") + fmtNum(logOffset, 0) + " bytes";
      }
    } catch (e) {
      if (gen === logGen) $("log-state").textContent = "cannot read log: " + e.message;
    }
    if (gen !== logGen || logDone) return;
    logTimer = setTimeout(() => { loadTaskQuietly(); pollLog(gen); }, LOG_POLL_MS);
  }

  let lastTaskLoad = 0;
  function loadTaskQuietly() {
    // The task's state decides when the log is complete; re-read it now and then.
    if (Date.now() - lastTaskLoad < 3000) return;
    lastTaskLoad = Date.now();
    loadTask();
  }

  function appendLog(text) {
    if (!text) {
      if (!$("log").textContent) $("log").textContent = "";
      return;
    }
    const pre = $("log");
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    let all = pre.textContent + text;
    if (all.length > LOG_KEEP_CHARS) all = all.slice(all.length - LOG_KEEP_CHARS);
    pre.textContent = all;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  // ---- live updates ----

  let es = null, fallbackTimer = 0;

  function setConn(kind) {
    const c = $("conn");
    c.className = "conn conn-" + kind;
    c.textContent = kind === "live" ? "live" : kind === "reconnecting" ? "reconnecting…" : "connecting…";
  }

  function connect() {
    if (es) es.close();
    es = new EventSource("/v1/events");
    es.onopen = () => { setConn("live"); scheduleRefresh(); };
    es.onmessage = () => scheduleRefresh();
    es.onerror = () => {
      setConn("reconnecting");
      // The browser retries by itself unless the server answered with an
      // error status; then start over after a pause.
      if (es.readyState === EventSource.CLOSED) setTimeout(() => { if (signedIn) connect(); }, 3000);
    };
  }

  // While the stream is down, poll so the page does not go stale.
  function fallbackPoll() {
    if (signedIn && (!es || es.readyState !== EventSource.OPEN)) scheduleRefresh();
    fallbackTimer = setTimeout(fallbackPoll, 5000);
  }

  // ---- wiring ----

  function init() {
    $("run-form").addEventListener("submit", submitJob);
    $("run-spec").addEventListener("input", checkEditorSoon);
    $("run-spec").addEventListener("scroll", () => { $("run-gutter").scrollTop = $("run-spec").scrollTop; });
    const template = $("run-spec").value;
    $("run-new").addEventListener("click", () => { setEditing(null); $("run-spec").value = template; clearEditorError(); });
    renderGutter(0);
    $("node-filter").addEventListener("input", (e) => { state.nodeFilter = e.target.value; state.nodePage = 0; renderNodes(); });
    $("node-prev").addEventListener("click", () => { state.nodePage = Math.max(0, state.nodePage - 1); renderNodes(); });
    $("node-next").addEventListener("click", () => { state.nodePage++; renderNodes(); });
    $("task-filter").addEventListener("input", (e) => { state.filterText = e.target.value; state.page = 0; renderTasks(); });
    $("task-state").addEventListener("change", (e) => { state.filterState = e.target.value; state.page = 0; renderTasks(); });
    $("page-prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); renderTasks(); });
    $("page-next").addEventListener("click", () => { state.page++; renderTasks(); });
    $("jobs-table").tBodies[0].addEventListener("click", (e) => {
      const tr = e.target.closest("tr[data-job]");
      if (tr && !e.target.closest("button, input, form, a")) toggleJob(tr.dataset.job);
    });
    $("tasks-table").tBodies[0].addEventListener("click", (e) => {
      const tr = e.target.closest("tr[data-id]");
      if (tr) openTask(tr.dataset.id);
    });
    $("panel-close").addEventListener("click", closeTask);
    $("panel-kill").addEventListener("click", () => { if (openTaskID) killTask(openTaskID); });
    for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => startLog(b.dataset.stream));
    document.addEventListener("keydown", (e) => { if (e.key === "Escape" && openTaskID) closeTask(); });
    // Keep the "updated … ago" column honest without a server round trip.
    setInterval(() => { if (!refreshing) renderTasks(); }, 15000);
    // The first read waits for the event stream to open (its onopen
    // refreshes), so that no change falls between the two and the state is
    // not read twice; a stream that does not open within a second does
    // not hold the page back.
    $("login-form").addEventListener("submit", signIn);
    $("logout").addEventListener("click", signOut);
    start();
    setTimeout(() => { if (!lastRefresh) scheduleRefresh(); }, 1000);
    fallbackTimer = setTimeout(fallbackPoll, 5000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

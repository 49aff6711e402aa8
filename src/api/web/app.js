// hivebt's web page: the torrent list, live from the daemon's native API.
//
// Everything is read from api/v1 through relative URLs (the page may sit under a
// reverse proxy's sub-path). The list is read once, then kept live by the event
// stream (api/v1/events: `rates` carries only the torrents whose figures changed,
// `added`, `removed`, `state`, `completed`) and re-read every few seconds for the
// rest. Any number of changes between two frames make one render
// (requestAnimationFrame), and only the rows in sight exist in the DOM (virtual
// scrolling with a fixed row height), their clicks handled by one listener.
// Torrent names come from the network: they are only ever set as text, never as HTML.
"use strict";

(() => {
  const ROW_H = 26;
  const HISTORY = 600; // points of the throughput charts: 10 minutes of rates events
  const DETAIL_EVERY = 2000; // ms between refreshes of the open detail pane
  const TORRENT_HISTORIES = 16; // torrents whose rate history is kept (recently opened)
  const MAX_DETAIL_ROWS = 2000; // files or peers listed at most in the pane

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------------------
  // Units

  const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

  function fmtBytes(n) {
    if (n == null || !isFinite(n)) return "–";
    let i = 0;
    while (n >= 1024 && i < UNITS.length - 1) {
      n /= 1024;
      i++;
    }
    const digits = i === 0 ? 0 : n < 10 ? 2 : n < 100 ? 1 : 0;
    return n.toFixed(digits) + " " + UNITS[i];
  }

  function fmtRate(n) {
    return n > 0 ? fmtBytes(n) + "/s" : "–";
  }

  function fmtDuration(s) {
    if (s == null || !isFinite(s)) return "∞";
    s = Math.max(0, Math.round(s));
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d > 0) return h ? `${d}d ${h}h` : `${d}d`;
    if (h > 0) return m ? `${h}h ${m}m` : `${h}h`;
    if (m > 0) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
    return `${s}s`;
  }

  function fmtEta(t) {
    if (t.progress >= 1) return "–";
    if (t.state !== "downloading") return "–";
    return fmtDuration(t.eta);
  }

  function fmtPct(p) {
    if (p >= 1) return "100%";
    return (Math.floor(p * 1000) / 10).toFixed(1) + "%";
  }

  function fmtDate(unix) {
    return unix ? new Date(unix * 1000).toLocaleString() : "–";
  }

  // "512" (KiB/s), "512K", "10M", "1.5G" -> bytes/s; "" -> null (no limit).
  function parseRate(text) {
    const s = text.trim();
    if (!s) return null;
    const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?(?:\/s)?$/i.exec(s);
    if (!m) throw new Error(`${s}: not a rate (KiB/s, or 512K, 10M, 1.5G)`);
    const scale = { "": 1024, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase()];
    const n = Math.round(parseFloat(m[1]) * scale);
    if (n <= 0) throw new Error(`${s}: a limit is more than 0 (leave it empty for none)`);
    return n;
  }

  function showRate(n) {
    if (n == null) return "";
    if (n % 1024 ** 2 === 0) return `${n / 1024 ** 2}M`;
    return `${Math.round((n / 1024) * 10) / 10}`;
  }

  // "90m", "12h", "7d", "1w", "30s" or seconds -> seconds; "" -> null.
  function parseDuration(text) {
    const s = text.trim();
    if (!s) return null;
    const m = /^(\d+)\s*([smhdw]?)$/i.exec(s);
    if (!m) throw new Error(`${s}: not a duration (30s, 90m, 12h, 7d, 1w)`);
    return parseInt(m[1], 10) * { "": 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2].toLowerCase()];
  }

  function showDuration(s) {
    if (s == null) return "";
    for (const [unit, n] of [["w", 604800], ["d", 86400], ["h", 3600], ["m", 60]]) {
      if (s % n === 0) return `${s / n}${unit}`;
    }
    return `${s}s`;
  }

  function parseCount(text, what) {
    const s = text.trim();
    if (!s) return null;
    if (!/^\d+$/.test(s) || parseInt(s, 10) < 1) throw new Error(`${what}: a whole number of 1 or more`);
    return parseInt(s, 10);
  }

  function parseRatio(text) {
    const s = text.trim();
    if (!s) return null;
    const n = Number(s);
    if (!isFinite(n) || n < 0) throw new Error(`${s}: a ratio is a number of 0 or more`);
    return n;
  }

  function splitLabels(text) {
    return text.split(",").map((l) => l.trim()).filter((l) => l);
  }

  // ------------------------------------------------------------------------------
  // The API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
    toString() {
      return this.code ? `${this.message} (${this.code})` : this.message;
    }
  }

  // One API call: the parsed JSON answer, or an ApiError with the API's own message.
  async function api(method, path, body, contentType) {
    const opts = { method, headers: {}, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = contentType || "application/json";
      opts.body = contentType ? body : JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(0, "unreachable", `cannot reach the daemon: ${e.message}`);
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = null;
    }
    if (!res.ok) {
      const err = new ApiError(
        res.status,
        (data && data.code) || `http_${res.status}`,
        (data && data.error) || text.trim() || res.statusText,
      );
      if (res.status === 401 && path !== "api/v1/login") onUnauthorized();
      throw err;
    }
    return data;
  }

  const torrentPath = (hash, rest) => `api/v1/torrents/${hash}${rest ? "/" + rest : ""}`;

  // ------------------------------------------------------------------------------
  // State

  // A ring of the last HISTORY download and upload rates.
  class Ring {
    constructor() {
      this.down = new Float64Array(HISTORY);
      this.up = new Float64Array(HISTORY);
      this.len = 0;
      this.head = 0;
    }
    push(down, up) {
      this.down[this.head] = down;
      this.up[this.head] = up;
      this.head = (this.head + 1) % HISTORY;
      this.len = Math.min(this.len + 1, HISTORY);
    }
    // The i-th point, oldest first.
    index(i) {
      return (this.head - this.len + i + HISTORY) % HISTORY;
    }
  }

  const S = {
    torrents: new Map(), // info_hash -> torrent object (kept, updated in place)
    view: [], // torrent objects shown, filtered and sorted
    counts: {}, // state -> torrents
    labels: "", // the label filter's options, joined
    sortKey: null, // null: the API's order (added, then name)
    sortDir: 1,
    filterState: "",
    filterLabel: "",
    search: "",
    selected: new Set(),
    anchor: null, // the row a shift-click extends from
    detail: null, // the hash whose pane is open
    tab: "general",
    total: new Ring(),
    histories: new Map(), // hash -> Ring, the recently opened torrents
    session: null,
    rates: { down: 0, up: 0 },
    events: null, // the EventSource
    pollTimer: 0,
    detailTimer: 0,
    detailBusy: false,
    dropped: [], // files dropped on the page, waiting in the add dialog
    loggedIn: false, // went through the login form
    running: false,
  };

  // What a frame has to redo.
  const VIEW = 1; // filter and sort again
  const ROWS = 2; // refill the rows in sight
  const CHARTS = 4;
  const TOTALS = 8;
  const GENERAL = 16; // the detail pane's general facts
  let dirty = 0;
  let frame = 0;

  function schedule(what) {
    dirty |= what;
    if (!frame) frame = requestAnimationFrame(flush);
  }

  function flush() {
    frame = 0;
    const d = dirty;
    dirty = 0;
    if (d & VIEW) rebuildView();
    if (d & (VIEW | ROWS)) renderRows();
    if (d & TOTALS) renderTotals();
    if (d & CHARTS) drawCharts();
    if (d & GENERAL) renderGeneral();
  }

  function normalize(t) {
    t._lname = (t.name || "").toLowerCase();
    if (!t.labels) t.labels = [];
    return t;
  }

  function upsert(o) {
    const t = S.torrents.get(o.info_hash);
    if (t) return normalize(Object.assign(t, o));
    const n = normalize(o);
    S.torrents.set(o.info_hash, n);
    return n;
  }

  function forget(hash) {
    S.torrents.delete(hash);
    S.selected.delete(hash);
    S.histories.delete(hash);
    if (S.detail === hash) closeDetail();
  }

  // ------------------------------------------------------------------------------
  // The list: filter, sort, and the rows in sight

  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

  function sortValue(t, key) {
    if (key === "eta") return t.progress >= 1 || t.eta == null ? Infinity : t.eta;
    return t[key];
  }

  function compare(a, b) {
    const key = S.sortKey;
    if (key) {
      let c;
      if (key === "name" || key === "state") c = collator.compare(a[key], b[key]);
      else c = sortValue(a, key) - sortValue(b, key) || 0;
      if (c) return c * S.sortDir;
    }
    return a.added_at - b.added_at || collator.compare(a.name, b.name);
  }

  function rebuildView() {
    const q = S.search.trim().toLowerCase();
    const counts = { "": 0 };
    const labels = new Set();
    const view = [];
    for (const t of S.torrents.values()) {
      counts[""]++;
      counts[t.state] = (counts[t.state] || 0) + 1;
      for (const l of t.labels) labels.add(l);
      if (S.filterState && t.state !== S.filterState) continue;
      if (S.filterLabel && !t.labels.includes(S.filterLabel)) continue;
      if (q && !t._lname.includes(q) && !t.info_hash.startsWith(q)) continue;
      view.push(t);
    }
    view.sort(compare);
    S.view = view;
    for (const h of S.selected) if (!S.torrents.has(h)) S.selected.delete(h);
    updateFilters(counts, labels);
    updateToolbar();
    $("empty").hidden = view.length > 0;
    if (!view.length) $("empty").textContent = counts[""] ? "No torrent matches the filter." : EMPTY_TEXT;
  }

  const EMPTY_TEXT = "No torrents yet. Add one with Add, or drop .torrent files on the page.";

  function updateFilters(counts, labels) {
    for (const opt of $("filter-state").options) {
      const base = opt.dataset.base || (opt.dataset.base = opt.textContent);
      const n = counts[opt.value] || 0;
      const text = `${base} (${n})`;
      if (opt.textContent !== text) opt.textContent = text;
    }
    const sorted = [...labels].sort(collator.compare);
    const key = sorted.join("\n");
    if (key === S.labels) return;
    S.labels = key;
    const sel = $("filter-label");
    while (sel.options.length > 1) sel.remove(1);
    for (const l of sorted) sel.add(new Option(l, l));
    if (S.filterLabel && !labels.has(S.filterLabel)) S.filterLabel = "";
    sel.value = S.filterLabel;
  }

  const pool = []; // row elements, reused

  function makeRow() {
    const row = document.createElement("div");
    row.className = "row row-grid";
    const cell = (cls) => {
      const c = document.createElement("div");
      c.className = "cell " + cls;
      row.appendChild(c);
      return c;
    };
    const name = cell("name");
    const state = cell("st");
    const prog = cell("prog");
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("div");
    fill.className = "fill";
    const pct = document.createElement("span");
    bar.append(fill, pct);
    prog.appendChild(bar);
    row._c = {
      name,
      state,
      bar,
      fill,
      pct,
      size: cell("num size"),
      down: cell("num down"),
      up: cell("num up"),
      peers: cell("num peers"),
      ratio: cell("num ratio"),
      eta: cell("num eta"),
      key: {},
    };
    $("rows").appendChild(row);
    return row;
  }

  // Sets `el`'s text only when it changed (most rows change little between frames).
  function text(row, slot, el, value) {
    if (row._c.key[slot] !== value) {
      row._c.key[slot] = value;
      el.textContent = value;
    }
  }

  function fillRow(row, t, i) {
    const c = row._c;
    row.hidden = false;
    if (row._i !== i) {
      row._i = i;
      row.style.transform = `translateY(${i * ROW_H}px)`;
    }
    if (row.dataset.hash !== t.info_hash) row.dataset.hash = t.info_hash;
    row.classList.toggle("sel", S.selected.has(t.info_hash));
    const nameKey = t.name + "\u0000" + t.labels.join("\u0000");
    if (c.key.name !== nameKey) {
      c.key.name = nameKey;
      c.name.textContent = t.name;
      c.name.title = t.name;
      for (const l of t.labels) {
        const s = document.createElement("span");
        s.className = "label";
        s.textContent = l;
        c.name.appendChild(s);
      }
    }
    if (c.key.stateClass !== t.state) {
      c.key.stateClass = t.state;
      c.state.className = "cell st st-" + t.state;
      c.state.textContent = t.state;
      c.state.title = t.error || "";
    }
    const pct = fmtPct(t.progress);
    if (c.key.pct !== pct) {
      c.key.pct = pct;
      c.pct.textContent = pct;
      c.fill.style.width = Math.min(100, t.progress * 100) + "%";
      c.bar.classList.toggle("done", t.progress >= 1);
    }
    c.bar.classList.toggle("paused", t.state === "paused" || t.state === "queued");
    text(row, "size", c.size, fmtBytes(t.size));
    text(row, "down", c.down, fmtRate(t.download_rate));
    text(row, "up", c.up, fmtRate(t.upload_rate));
    c.down.classList.toggle("zero", !t.download_rate);
    c.up.classList.toggle("zero", !t.upload_rate);
    text(row, "peers", c.peers, t.peers ? `${t.peers}` : "–");
    text(row, "ratio", c.ratio, t.ratio.toFixed(2));
    text(row, "eta", c.eta, fmtEta(t));
  }

  function renderRows() {
    const vp = $("viewport");
    const n = S.view.length;
    $("spacer").style.height = n * ROW_H + "px";
    const first = Math.max(0, Math.floor(vp.scrollTop / ROW_H) - 2);
    const last = Math.min(n, Math.ceil((vp.scrollTop + vp.clientHeight) / ROW_H) + 2);
    while (pool.length < last - first) pool.push(makeRow());
    for (let i = first; i < last; i++) fillRow(pool[i - first], S.view[i], i);
    for (let k = Math.max(0, last - first); k < pool.length; k++) pool[k].hidden = true;
  }

  function renderHeader() {
    for (const th of $("thead").children) {
      th.classList.toggle("asc", th.dataset.key === S.sortKey && S.sortDir > 0);
      th.classList.toggle("desc", th.dataset.key === S.sortKey && S.sortDir < 0);
    }
  }

  function renderTotals() {
    $("total-down").textContent = fmtBytes(S.rates.down) + "/s";
    $("total-up").textContent = fmtBytes(S.rates.up) + "/s";
    const s = S.session;
    if (!s) return;
    $("total-downloaded").textContent = fmtBytes(s.downloaded);
    $("total-uploaded").textContent = fmtBytes(s.uploaded);
    const b = s.by_state || {};
    $("total-count").textContent = `${s.torrents}  (${b.downloading || 0} down, ${b.seeding || 0} seed)`;
    $("total-peers").textContent = `${s.peers}`;
    const l = s.limits || {};
    const lim = (n) => (n ? fmtBytes(n) + "/s" : "∞");
    $("total-limits").textContent = `↓ ${lim(l.max_download_rate)}  ↑ ${lim(l.max_upload_rate)}`;
  }

  // ------------------------------------------------------------------------------
  // Selection and actions

  function selectedHashes() {
    return [...S.selected].filter((h) => S.torrents.has(h));
  }

  function updateToolbar() {
    const none = selectedHashes().length === 0;
    for (const id of ["btn-resume", "btn-pause", "btn-recheck", "btn-reannounce", "btn-remove"]) {
      $(id).disabled = none;
    }
  }

  function select(hash, how) {
    const idx = (h) => S.view.findIndex((t) => t.info_hash === h);
    if (how === "toggle") {
      if (S.selected.has(hash)) S.selected.delete(hash);
      else S.selected.add(hash);
      S.anchor = hash;
    } else if (how === "range" && S.anchor) {
      const a = idx(S.anchor);
      const b = idx(hash);
      if (a >= 0 && b >= 0) {
        S.selected.clear();
        for (let i = Math.min(a, b); i <= Math.max(a, b); i++) S.selected.add(S.view[i].info_hash);
      }
    } else {
      S.selected.clear();
      S.selected.add(hash);
      S.anchor = hash;
      openDetail(hash);
    }
    updateToolbar();
    schedule(ROWS);
  }

  function nameOf(hash) {
    const t = S.torrents.get(hash);
    return t ? t.name : hash.slice(0, 8);
  }

  async function act(action) {
    const hashes = selectedHashes();
    await Promise.all(
      hashes.map(async (h) => {
        try {
          const t = await api("POST", torrentPath(h, action));
          if (t) upsert(t);
        } catch (e) {
          notice(`${action} ${nameOf(h)}: ${e}`, true);
        }
      }),
    );
    schedule(VIEW);
    if (S.detail && hashes.includes(S.detail)) schedule(GENERAL);
  }

  function openRemove() {
    const hashes = selectedHashes();
    if (!hashes.length) return;
    $("remove-what").textContent =
      hashes.length === 1 ? `Remove “${nameOf(hashes[0])}”?` : `Remove ${hashes.length} torrents?`;
    $("remove-data").checked = false;
    $("remove-dialog").showModal();
  }

  async function removeSelected() {
    const hashes = selectedHashes();
    const data = $("remove-data").checked;
    $("remove-dialog").close();
    await Promise.all(
      hashes.map(async (h) => {
        const name = nameOf(h);
        try {
          await api("DELETE", `${torrentPath(h)}?delete_data=${data}`);
          forget(h);
        } catch (e) {
          notice(`Remove ${name}: ${e}`, true);
        }
      }),
    );
    schedule(VIEW);
  }

  // ------------------------------------------------------------------------------
  // Adding

  let addMode = "file";

  function setAddMode(mode) {
    addMode = mode;
    for (const b of $("add-tabs").children) b.classList.toggle("on", b.dataset.mode === mode);
    for (const el of document.querySelectorAll("#add-form [data-for]")) el.hidden = el.dataset.for !== mode;
    $("add-submit").textContent = mode === "create" ? "Create and seed" : "Add";
  }

  function openAdd(files) {
    S.dropped = files || [];
    $("add-error").hidden = true;
    $("add-file").value = "";
    $("add-dropped").textContent = S.dropped.length
      ? `Dropped: ${S.dropped.map((f) => f.name).join(", ")}`
      : "";
    setAddMode("file");
    if (!$("add-dialog").open) $("add-dialog").showModal();
  }

  function addError(msg) {
    $("add-error").textContent = msg;
    $("add-error").hidden = false;
  }

  async function submitAdd() {
    const save = $("add-save").value.trim();
    const labels = splitLabels($("add-labels").value);
    const paused = $("add-paused").checked;
    const button = $("add-submit");
    $("add-error").hidden = true;
    const added = [];
    const failed = [];
    const json = (extra) => {
      const body = Object.assign({ labels, paused }, extra);
      if (save) body.save_path = save;
      return body;
    };
    button.disabled = true;
    try {
      if (addMode === "file") {
        const files = S.dropped.length ? S.dropped : [...$("add-file").files];
        if (!files.length) return addError("Choose a .torrent file first.");
        const q = new URLSearchParams();
        if (save) q.set("save_path", save);
        if (labels.length) q.set("labels", labels.join(","));
        if (paused) q.set("paused", "true");
        const path = "api/v1/torrents" + (q.toString() ? "?" + q : "");
        for (const f of files) {
          try {
            added.push(await api("POST", path, f, "application/x-bittorrent"));
          } catch (e) {
            failed.push(`${f.name}: ${e}`);
          }
        }
      } else if (addMode === "magnet") {
        const magnet = $("add-magnet").value.trim();
        if (!magnet) return addError("Paste a magnet link first.");
        try {
          added.push(await api("POST", "api/v1/torrents", json({ magnet })));
        } catch (e) {
          failed.push(`${e}`);
        }
      } else {
        const from = $("add-create").value.trim();
        if (!from) return addError("Give the path of the file or directory to seed.");
        button.textContent = "Creating…";
        try {
          added.push(await api("POST", "api/v1/torrents", json({ create_from: from })));
        } catch (e) {
          failed.push(`${e}`);
        }
      }
    } finally {
      button.disabled = false;
      setAddMode(addMode);
    }
    for (const t of added) {
      delete t.torrent; // the new .torrent in base64, when one was created
      upsert(t);
    }
    if (added.length) {
      notice(added.length === 1 ? `Added ${added[0].name}` : `Added ${added.length} torrents`);
      schedule(VIEW);
    }
    if (failed.length) return addError(failed.join("\n"));
    $("add-dialog").close();
  }

  // ------------------------------------------------------------------------------
  // The detail pane

  function openDetail(hash) {
    const same = S.detail === hash;
    S.detail = hash;
    $("detail").hidden = false;
    const t = S.torrents.get(hash);
    $("detail-name").textContent = t ? t.name : "";
    $("detail-name").title = t ? t.name : "";
    $("detail-hash").textContent = hash;
    if (!S.histories.has(hash)) {
      S.histories.set(hash, new Ring());
      if (S.histories.size > TORRENT_HISTORIES) {
        for (const h of S.histories.keys()) {
          if (h !== hash) {
            S.histories.delete(h);
            break;
          }
        }
      }
    }
    if (!same) {
      fillLimits();
      clearTables();
    }
    schedule(ROWS | CHARTS | GENERAL);
    refreshDetail();
    clearInterval(S.detailTimer);
    S.detailTimer = setInterval(refreshDetail, DETAIL_EVERY);
  }

  function closeDetail() {
    S.detail = null;
    clearInterval(S.detailTimer);
    $("detail").hidden = true;
    schedule(ROWS);
  }

  function setTab(tab) {
    S.tab = tab;
    for (const b of $("tabs").children) b.classList.toggle("on", b.dataset.tab === tab);
    for (const p of document.querySelectorAll(".pane")) p.classList.toggle("on", p.dataset.pane === tab);
    if (tab === "limits") fillLimits();
    schedule(CHARTS);
    refreshDetail();
  }

  function clearTables() {
    for (const id of ["files", "peers", "trackers"]) $(id).replaceChildren();
    const ctx = $("pieces").getContext("2d");
    ctx.clearRect(0, 0, $("pieces").width, $("pieces").height);
    $("pieces-legend").textContent = "";
  }

  // Reads the open torrent, its piece map and the open tab's table.
  async function refreshDetail() {
    const hash = S.detail;
    if (!hash || S.detailBusy || document.hidden) return;
    S.detailBusy = true;
    try {
      const tab = S.tab;
      const extra = { files: "files", peers: "peers", trackers: "trackers" }[tab];
      const [t, pieces, rows] = await Promise.all([
        api("GET", torrentPath(hash)),
        api("GET", torrentPath(hash, "pieces")),
        extra ? api("GET", torrentPath(hash, extra)) : null,
      ]);
      if (S.detail !== hash) return;
      upsert(t);
      drawPieces(pieces);
      if (extra && S.tab === tab) renderTable(tab, rows);
      schedule(ROWS | GENERAL);
    } catch (e) {
      if (e.status === 404) {
        forget(hash);
        schedule(VIEW);
      } else if (e.status !== 401) {
        notice(`${nameOf(hash)}: ${e}`, true);
      }
    } finally {
      S.detailBusy = false;
    }
  }

  function fact(dl, name, value, cls) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dd.title = value;
    if (cls) dd.className = cls;
    dl.append(dt, dd);
  }

  function renderGeneral() {
    const t = S.detail && S.torrents.get(S.detail);
    if (!t) return;
    $("detail-name").textContent = t.name;
    const dl = document.createElement("dl");
    dl.className = "facts";
    dl.id = "general";
    const l = t.limits || {};
    const lim = [];
    if (l.max_download_rate) lim.push(`↓ ${fmtBytes(l.max_download_rate)}/s`);
    if (l.max_upload_rate) lim.push(`↑ ${fmtBytes(l.max_upload_rate)}/s`);
    if (l.max_connections) lim.push(`${l.max_connections} peers`);
    if (l.ratio_limit != null) lim.push(`ratio ${l.ratio_limit}`);
    if (l.seed_time_limit != null) lim.push(`seed ${fmtDuration(l.seed_time_limit)}`);
    fact(dl, "State", t.state);
    fact(dl, "Progress", fmtPct(t.progress));
    fact(dl, "Size", fmtBytes(t.size));
    fact(dl, "ETA", fmtEta(t));
    fact(dl, "Downloaded", fmtBytes(t.downloaded));
    fact(dl, "Uploaded", fmtBytes(t.uploaded));
    fact(dl, "Down rate", fmtRate(t.download_rate));
    fact(dl, "Up rate", fmtRate(t.upload_rate));
    fact(dl, "Ratio", t.ratio.toFixed(3));
    fact(dl, "Peers", `${t.peers} (${t.seeds} seeds)`);
    fact(dl, "Added", fmtDate(t.added_at));
    fact(dl, "Completed", fmtDate(t.completed_at));
    fact(dl, "Seeding time", fmtDuration(t.seeding_time));
    fact(dl, "Labels", t.labels.join(", ") || "–");
    fact(dl, "Save path", t.save_path);
    fact(dl, "Limits", lim.join(", ") || "none of its own");
    if (t.error) fact(dl, "Error", t.error, "err");
    $("general").replaceWith(dl);
  }

  function td(tr, value, cls) {
    const c = document.createElement("td");
    if (cls) c.className = cls;
    if (value instanceof Node) c.appendChild(value);
    else c.textContent = value;
    tr.appendChild(c);
    return c;
  }

  function miniBar(p) {
    const bar = document.createElement("div");
    bar.className = "bar" + (p >= 1 ? " done" : "");
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = Math.min(100, p * 100) + "%";
    const s = document.createElement("span");
    s.textContent = fmtPct(p);
    bar.append(fill, s);
    return bar;
  }

  const TABLES = {
    files: (tr, f) => {
      td(tr, f.path, "wrap");
      td(tr, fmtBytes(f.size), "num");
      td(tr, miniBar(f.progress));
    },
    peers: (tr, p) => {
      td(tr, p.address, "mono");
      td(tr, p.client || "–");
      td(tr, p.flags, "mono").title = "D/d: downloading from it / choked by it; U/u: uploading to it / it is choked; O: dialled; I: it dialled; S: snubbed";
      td(tr, fmtRate(p.download_rate), "num");
      td(tr, fmtRate(p.upload_rate), "num");
      td(tr, miniBar(p.progress));
    },
    trackers: (tr, t) => {
      td(tr, t.url, "wrap mono");
      td(tr, `${t.tier}`, "num");
      td(tr, t.status.replace("_", " "));
      td(tr, t.seeders == null ? "–" : `${t.seeders}`, "num");
      td(tr, t.leechers == null ? "–" : `${t.leechers}`, "num");
      td(tr, t.next_announce == null ? "–" : fmtDuration(t.next_announce), "num");
      td(tr, t.last_error || "", "err");
    },
  };

  const NONE = { files: "No files.", peers: "No peers connected.", trackers: "No trackers." };

  function renderTable(tab, rows) {
    const body = document.createElement("tbody");
    body.id = tab;
    for (const r of rows.slice(0, MAX_DETAIL_ROWS)) TABLES[tab](body.insertRow(), r);
    const cols = $(tab).closest("table").tHead.rows[0].cells.length;
    const note = (msg) => {
      const tr = body.insertRow();
      tr.className = "none";
      td(tr, msg).colSpan = cols;
    };
    if (!rows.length) note(NONE[tab]);
    if (rows.length > MAX_DETAIL_ROWS) note(`… and ${rows.length - MAX_DETAIL_ROWS} more`);
    $(tab).replaceWith(body);
  }

  function fillLimits() {
    const t = S.detail && S.torrents.get(S.detail);
    if (!t) return;
    const l = t.limits || {};
    $("l-up").value = showRate(l.max_upload_rate);
    $("l-down").value = showRate(l.max_download_rate);
    $("l-conn").value = l.max_connections == null ? "" : `${l.max_connections}`;
    $("l-ratio").value = l.ratio_limit == null ? "" : `${l.ratio_limit}`;
    $("l-time").value = showDuration(l.seed_time_limit);
    $("l-labels").value = t.labels.join(", ");
  }

  async function submitLimits() {
    const hash = S.detail;
    if (!hash) return;
    let body;
    try {
      body = {
        limits: {
          max_upload_rate: parseRate($("l-up").value),
          max_download_rate: parseRate($("l-down").value),
          max_connections: parseCount($("l-conn").value, "connections"),
          ratio_limit: parseRatio($("l-ratio").value),
          seed_time_limit: parseDuration($("l-time").value),
        },
        labels: splitLabels($("l-labels").value),
      };
    } catch (e) {
      return notice(e.message, true);
    }
    try {
      upsert(await api("PATCH", torrentPath(hash), body));
      notice(`Limits set for ${nameOf(hash)}`);
      fillLimits();
      schedule(VIEW | GENERAL);
    } catch (e) {
      notice(`Limits of ${nameOf(hash)}: ${e}`, true);
    }
  }

  async function openGlobal() {
    $("global-error").hidden = true;
    const l = (S.session && S.session.limits) || {};
    $("g-up").value = showRate(l.max_upload_rate);
    $("g-down").value = showRate(l.max_download_rate);
    $("global-dialog").showModal();
  }

  async function submitGlobal() {
    const err = $("global-error");
    try {
      const limits = {
        max_upload_rate: parseRate($("g-up").value),
        max_download_rate: parseRate($("g-down").value),
      };
      S.session = await api("PATCH", "api/v1/session", { limits });
      schedule(TOTALS);
      $("global-dialog").close();
    } catch (e) {
      err.textContent = e instanceof ApiError ? `${e}` : e.message;
      err.hidden = false;
    }
  }

  // ------------------------------------------------------------------------------
  // Canvases: the piece map and the throughput charts

  let colors = {};

  function readColors() {
    const css = getComputedStyle(document.documentElement);
    for (const k of ["have", "busy", "miss", "down", "up", "line", "muted", "panel"]) {
      colors[k] = css.getPropertyValue("--" + k).trim();
    }
  }

  // Sizes `canvas` to its box in device pixels; its 2D context, or null when hidden.
  function fit(canvas) {
    const r = canvas.getBoundingClientRect();
    if (!r.width || !r.height) return null;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(r.width * dpr);
    const h = Math.round(r.height * dpr);
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    return canvas.getContext("2d");
  }

  // `states`: a digit a piece, 0 missing, 1 downloading, 2 verified. When there are
  // more pieces than pixels, a column shows the share of its pieces verified, and
  // any piece downloading in it.
  function drawPieces(p) {
    const canvas = $("pieces");
    const ctx = fit(canvas);
    const states = p.states || "";
    const n = states.length;
    let have = 0;
    let busy = 0;
    for (let i = 0; i < n; i++) {
      const c = states.charCodeAt(i);
      if (c === 50) have++;
      else if (c === 49) busy++;
    }
    $("pieces-legend").textContent =
      `${n} pieces · ${have} verified` + (busy ? ` · ${busy} downloading` : "") + ` · ${n - have - busy} missing`;
    if (!ctx) return;
    const w = canvas.width;
    const h = canvas.height;
    ctx.globalAlpha = 1;
    ctx.fillStyle = colors.miss;
    ctx.fillRect(0, 0, w, h);
    if (!n) return;
    const cols = Math.min(w, n);
    const colW = w / cols;
    for (let x = 0; x < cols; x++) {
      const from = Math.floor((x * n) / cols);
      const to = Math.max(from + 1, Math.floor(((x + 1) * n) / cols));
      let v = 0;
      let b = false;
      for (let i = from; i < to; i++) {
        const c = states.charCodeAt(i);
        if (c === 50) v++;
        else if (c === 49) b = true;
      }
      const left = Math.floor(x * colW);
      const width = Math.max(1, Math.floor((x + 1) * colW) - left);
      if (b) {
        ctx.globalAlpha = 1;
        ctx.fillStyle = colors.busy;
      } else if (v) {
        ctx.globalAlpha = v / (to - from);
        ctx.fillStyle = colors.have;
      } else continue;
      ctx.fillRect(left, 0, width, h);
    }
    ctx.globalAlpha = 1;
  }

  function drawChart(canvas, ring, legend) {
    const ctx = fit(canvas);
    if (!ctx) return;
    const w = canvas.width;
    const h = canvas.height;
    const dpr = window.devicePixelRatio || 1;
    ctx.clearRect(0, 0, w, h);
    let max = 1024;
    for (let i = 0; i < ring.len; i++) {
      const k = ring.index(i);
      max = Math.max(max, ring.down[k], ring.up[k]);
    }
    max *= 1.15;
    const top = 4 * dpr;
    const plotH = h - top - 14 * dpr;
    const yOf = (v) => top + plotH - (v / max) * plotH;
    const xOf = (i) => w - ((ring.len - 1 - i) / (HISTORY - 1)) * w;
    ctx.strokeStyle = colors.line;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (const f of [0, 0.5, 1]) {
      const y = Math.round(yOf(max * f)) + 0.5;
      ctx.moveTo(0, y);
      ctx.lineTo(w, y);
    }
    ctx.stroke();
    for (const [series, color] of [[ring.down, colors.down], [ring.up, colors.up]]) {
      if (ring.len < 1) break;
      ctx.beginPath();
      for (let i = 0; i < ring.len; i++) {
        const x = xOf(i);
        const y = yOf(series[ring.index(i)]);
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      }
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5 * dpr;
      ctx.stroke();
      ctx.lineTo(xOf(ring.len - 1), yOf(0));
      ctx.lineTo(xOf(0), yOf(0));
      ctx.closePath();
      ctx.globalAlpha = 0.12;
      ctx.fillStyle = color;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
    ctx.fillStyle = colors.muted;
    ctx.font = `${11 * dpr}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    ctx.fillText(fmtBytes(max) + "/s", 4 * dpr, top);
    ctx.textBaseline = "bottom";
    let x = 4 * dpr;
    for (const [label, color] of [[legend, colors.muted], ["↓ down", colors.down], ["↑ up", colors.up]]) {
      ctx.fillStyle = color;
      ctx.fillText(label, x, h);
      x += ctx.measureText(label).width + 10 * dpr;
    }
    ctx.fillStyle = colors.muted;
    ctx.textAlign = "right";
    ctx.fillText("now", w - 4 * dpr, h);
    ctx.textAlign = "left";
  }

  function drawCharts() {
    drawChart($("chart"), S.total, "last 10 minutes");
    const ring = S.detail && S.histories.get(S.detail);
    if (ring && S.tab === "general") drawChart($("tchart"), ring, "since opened");
  }

  // ------------------------------------------------------------------------------
  // The event stream and the polls

  function onRates(r) {
    S.rates = { down: r.download_rate, up: r.upload_rate };
    S.total.push(r.download_rate, r.upload_rate);
    for (const o of r.torrents || []) {
      const t = S.torrents.get(o.info_hash);
      if (!t) continue;
      t.download_rate = o.download_rate;
      t.upload_rate = o.upload_rate;
      t.progress = o.progress;
      t.peers = o.peers;
      const left = t.size * (1 - t.progress);
      t.eta = left > 0 && t.download_rate > 0 ? left / t.download_rate : null;
    }
    // Unchanged torrents were left out: the open ones keep their last known rates.
    for (const [h, ring] of S.histories) {
      const t = S.torrents.get(h);
      if (t) ring.push(t.download_rate, t.upload_rate);
    }
    const sorted = ["download_rate", "upload_rate", "progress", "peers", "eta"].includes(S.sortKey);
    schedule((sorted ? VIEW : ROWS) | CHARTS | TOTALS | (S.detail ? GENERAL : 0));
  }

  function setLive(state) {
    const el = $("live");
    el.textContent = { on: "live", off: "reconnecting…", wait: "connecting" }[state];
    el.className = "v live " + state;
  }

  function connectEvents() {
    if (S.events) S.events.close();
    const es = new EventSource("api/v1/events");
    S.events = es;
    let dropped = false;
    es.onopen = () => {
      setLive("on");
      if (dropped) loadList().catch(() => {}); // what happened while it was down
    };
    es.onerror = () => {
      dropped = true;
      setLive("off");
      // A refused stream (401, 503) is not retried by the browser: retry here.
      if (es.readyState === EventSource.CLOSED && S.running) {
        setTimeout(() => S.running && S.events === es && connectEvents(), 5000);
      }
    };
    const on = (name, fn) => es.addEventListener(name, (e) => fn(JSON.parse(e.data)));
    on("rates", onRates);
    on("added", (t) => {
      upsert(t);
      schedule(VIEW);
    });
    on("removed", (d) => {
      forget(d.info_hash);
      schedule(VIEW);
    });
    on("state", (d) => {
      const t = S.torrents.get(d.info_hash);
      if (!t) return;
      t.state = d.state;
      schedule(VIEW | (S.detail === d.info_hash ? GENERAL : 0));
    });
    on("completed", (d) => notice(`Completed: ${nameOf(d.info_hash)}`));
  }

  async function loadList() {
    const list = await api("GET", "api/v1/torrents");
    const seen = new Set();
    for (const o of list) {
      upsert(o);
      seen.add(o.info_hash);
    }
    for (const h of [...S.torrents.keys()]) if (!seen.has(h)) forget(h);
    schedule(VIEW | GENERAL);
  }

  async function loadSession() {
    S.session = await api("GET", "api/v1/session");
    schedule(TOTALS);
  }

  // The list and the session every few seconds (less often for a long list).
  function poll() {
    clearTimeout(S.pollTimer);
    const every = S.torrents.size > 2000 ? 10000 : 3000;
    S.pollTimer = setTimeout(async () => {
      if (!S.running) return;
      if (!document.hidden) {
        try {
          await Promise.all([loadList(), loadSession()]);
        } catch (e) {
          if (e.status !== 401) notice(`${e}`, true, 4000);
        }
      }
      if (S.running) poll();
    }, every);
  }

  // ------------------------------------------------------------------------------
  // Start, login and notices

  async function start() {
    try {
      await Promise.all([loadList(), loadSession()]);
    } catch (e) {
      if (e.status === 401) return; // the login form is up
      $("boot").textContent = `The daemon did not answer: ${e}. Retrying…`;
      setTimeout(start, 3000);
      return;
    }
    $("boot").hidden = true;
    $("login").hidden = true;
    $("app").hidden = false;
    $("btn-logout").hidden = !S.loggedIn;
    S.running = true;
    setLive("wait");
    connectEvents();
    poll();
    schedule(VIEW | TOTALS | CHARTS);
  }

  function stop() {
    S.running = false;
    clearTimeout(S.pollTimer);
    clearInterval(S.detailTimer);
    if (S.events) S.events.close();
    S.events = null;
  }

  function onUnauthorized() {
    if (!$("login").hidden) return;
    stop();
    $("boot").hidden = true;
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").hidden = true;
    $("login-password").value = "";
    $("login-password").focus();
  }

  async function submitLogin() {
    const err = $("login-error");
    err.hidden = true;
    $("login-submit").disabled = true;
    try {
      await api("POST", "api/v1/login", { password: $("login-password").value });
      S.loggedIn = true;
      $("login").hidden = true;
      $("boot").hidden = false;
      await start();
    } catch (e) {
      err.textContent = e.status === 401 ? "Wrong password." : `${e}`;
      err.hidden = false;
      $("login-password").select();
    } finally {
      $("login-submit").disabled = false;
    }
  }

  async function logout() {
    try {
      await api("POST", "api/v1/logout");
    } catch (e) {
      // Logged out either way below.
    }
    S.loggedIn = false;
    S.torrents.clear();
    closeDetail();
    onUnauthorized();
  }

  function notice(msg, bad, ms) {
    const el = document.createElement("div");
    el.className = "notice" + (bad ? " bad" : "");
    el.setAttribute("role", bad ? "alert" : "status");
    const b = document.createElement("b");
    b.textContent = bad ? "Error: " : "";
    const close = document.createElement("button");
    close.type = "button";
    close.className = "icon";
    close.textContent = "×";
    close.title = "Dismiss";
    el.append(b, document.createTextNode(msg), close);
    $("notices").appendChild(el);
    while ($("notices").children.length > 5) $("notices").firstChild.remove();
    setTimeout(() => el.remove(), ms || (bad ? 12000 : 4000));
  }

  // ------------------------------------------------------------------------------
  // Wiring: one listener per kind of input

  function inField(e) {
    return e.target.closest("input, select, textarea, dialog");
  }

  function moveSelection(step) {
    if (!S.view.length) return;
    const cur = S.view.findIndex((t) => t.info_hash === S.anchor);
    const i = Math.max(0, Math.min(S.view.length - 1, cur < 0 ? 0 : cur + step));
    select(S.view[i].info_hash, "one");
    const vp = $("viewport");
    if (i * ROW_H < vp.scrollTop) vp.scrollTop = i * ROW_H;
    else if ((i + 1) * ROW_H > vp.scrollTop + vp.clientHeight) vp.scrollTop = (i + 1) * ROW_H - vp.clientHeight;
  }

  function wire() {
    $("rows").addEventListener("click", (e) => {
      const row = e.target.closest(".row");
      if (!row) return;
      const how = e.ctrlKey || e.metaKey ? "toggle" : e.shiftKey ? "range" : "one";
      select(row.dataset.hash, how);
    });
    $("viewport").addEventListener("scroll", () => schedule(ROWS), { passive: true });
    window.addEventListener("resize", () => schedule(ROWS | CHARTS));
    $("thead").addEventListener("click", (e) => {
      const th = e.target.closest(".th");
      if (!th) return;
      const key = th.dataset.key;
      if (S.sortKey === key) S.sortDir = -S.sortDir;
      else {
        S.sortKey = key;
        S.sortDir = key === "name" || key === "state" || key === "eta" ? 1 : -1;
      }
      renderHeader();
      schedule(VIEW);
    });
    $("filter-state").addEventListener("change", (e) => {
      S.filterState = e.target.value;
      schedule(VIEW);
    });
    $("filter-label").addEventListener("change", (e) => {
      S.filterLabel = e.target.value;
      schedule(VIEW);
    });
    $("search").addEventListener("input", (e) => {
      S.search = e.target.value;
      schedule(VIEW);
    });
    document.querySelector(".toolbar").addEventListener("click", (e) => {
      const b = e.target.closest("button[data-action]");
      if (b) act(b.dataset.action);
    });
    $("btn-add").addEventListener("click", () => openAdd());
    $("btn-remove").addEventListener("click", openRemove);
    $("btn-limits").addEventListener("click", openGlobal);
    $("btn-logout").addEventListener("click", logout);
    $("detail-close").addEventListener("click", closeDetail);
    $("tabs").addEventListener("click", (e) => {
      const b = e.target.closest("button[data-tab]");
      if (b) setTab(b.dataset.tab);
    });
    $("add-tabs").addEventListener("click", (e) => {
      const b = e.target.closest("button[data-mode]");
      if (b) setAddMode(b.dataset.mode);
    });
    $("add-file").addEventListener("change", () => {
      S.dropped = [];
      $("add-dropped").textContent = "";
    });
    const onSubmit = (id, fn) =>
      $(id).addEventListener("submit", (e) => {
        e.preventDefault();
        fn();
      });
    onSubmit("add-form", submitAdd);
    onSubmit("remove-form", removeSelected);
    onSubmit("global-form", submitGlobal);
    onSubmit("limits-form", submitLimits);
    onSubmit("login", submitLogin);
    $("add-cancel").addEventListener("click", () => $("add-dialog").close());
    $("remove-cancel").addEventListener("click", () => $("remove-dialog").close());
    $("global-cancel").addEventListener("click", () => $("global-dialog").close());
    $("notices").addEventListener("click", (e) => {
      if (e.target.closest("button")) e.target.closest(".notice").remove();
    });
    document.addEventListener("keydown", (e) => {
      if ($("app").hidden || inField(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      const keys = {
        ArrowDown: () => moveSelection(1),
        ArrowUp: () => moveSelection(-1),
        Delete: openRemove,
        Escape: closeDetail,
        "/": () => $("search").focus(),
        a: () => openAdd(),
      };
      if (keys[e.key]) {
        e.preventDefault();
        keys[e.key]();
      }
    });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && S.detail) refreshDetail();
    });
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      readColors();
      schedule(CHARTS);
      if (S.detail) refreshDetail();
    });
    wireDrop();
  }

  // Dropping .torrent files anywhere on the page opens the add dialog with them.
  function wireDrop() {
    let depth = 0;
    const files = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
    document.addEventListener("dragenter", (e) => {
      if (!files(e) || $("app").hidden) return;
      e.preventDefault();
      depth++;
      $("drop").hidden = false;
    });
    document.addEventListener("dragover", (e) => {
      if (files(e)) e.preventDefault();
    });
    document.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) $("drop").hidden = true;
    });
    document.addEventListener("drop", (e) => {
      if (!files(e)) return;
      e.preventDefault();
      depth = 0;
      $("drop").hidden = true;
      if ($("app").hidden) return;
      const torrents = [...e.dataTransfer.files].filter(
        (f) => /\.torrent$/i.test(f.name) || f.type === "application/x-bittorrent",
      );
      if (torrents.length) openAdd(torrents);
      else notice("Only .torrent files can be dropped here.", true);
    });
  }

  readColors();
  wire();
  renderHeader();
  start();
})();

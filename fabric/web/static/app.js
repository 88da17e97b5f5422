/* fabricctl web view: the page's own code (Apache-2.0, no third-party library).
 * Live mode reads the controller's JSON API and its server-sent events; report mode reads the
 * documents inlined in the file (fabricctl report). */
"use strict";
(function () {
  const BOOT = window.FABRIC_BOOT || { mode: "live", data: null };
  const SVGNS = "http://www.w3.org/2000/svg";
  const ROLE_COLOURS = { gpu: "#76b900", nic: "#9acd32", host: "#5b8def", leaf: "#f39c12", spine: "#e74c3c",
    superspine: "#8e44ad", ocs: "#16a085", dci: "#2c3e50" };
  const params = new URLSearchParams(location.search);
  const state = { mode: params.get("mode") === "ecmp" ? "ecmp" : "wcmp", level: params.get("level") || "auto",
    map: null, util: null, view: null, plans: [], lastEventId: 0, expand: [] };
  window.fabricView = state;

  function api(path) {
    if (BOOT.mode !== "live") {
      const d = BOOT.data || {};
      if (path.startsWith("/api/map")) return Promise.resolve(d.map);
      if (path.startsWith("/api/utilisation")) return Promise.resolve(d.utilisation[state.mode]);
      if (path.startsWith("/api/budgets")) return Promise.resolve(d.budgets);
      if (path.startsWith("/api/cc/plots")) return Promise.resolve(d.plots || null);
      if (path.startsWith("/api/cc")) return Promise.resolve(d.cc);
      return Promise.resolve(null);
    }
    return fetch(path, { credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error((body && body.error) || r.statusText);
        return body;
      });
    });
  }
  function el(tag, attrs, text) {
    const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function table(id, head, rows, cls) {
    const t = document.getElementById(id);
    t.replaceChildren();
    const tr = el("tr");
    head.forEach(function (h) { tr.appendChild(el("th", {}, h)); });
    t.appendChild(tr);
    rows.forEach(function (r, i) {
      const row = el("tr", cls ? cls(i) : {});
      r.forEach(function (c) { row.appendChild(el("td", {}, c === null || c === undefined ? "" : String(c))); });
      t.appendChild(row);
    });
  }
  function fmt(x, d) { return typeof x === "number" ? x.toFixed(d === undefined ? 3 : d) : (x || ""); }
  function when(t) { return t ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) : ""; }
  function toast(text) {
    const t = document.getElementById("toast");
    t.textContent = text; t.style.display = "block";
    clearTimeout(toast.timer); toast.timer = setTimeout(function () { t.style.display = "none"; }, 4000);
  }
  function colour(u) {
    if (u === undefined || u === null) return "#c8c8c8";
    if (u >= 1) return "#d7191c";
    if (u >= 0.7) return "#fdae61";
    if (u >= 0.4) return "#1a9641";
    return "#2c7bb6";
  }

  /* ---------------------------------------------------------------- map */
  function drawMap(m) {
    const svg = document.getElementById("map");
    svg.replaceChildren();
    state.map = m;
    state.view = { x: -20, y: -20, w: m.width + 40, h: m.height + 40 };
    setView();
    const pos = {};
    m.nodes.forEach(function (n) { pos[n.id] = n; });
    const gSites = el("svg:g"), gLinks = el("svg:g"), gNodes = el("svg:g"), gLabels = el("svg:g");
    m.sites.forEach(function (s) {
      if (m.sites.length < 2 && !s.name) return;
      gSites.appendChild(el("svg:rect", { class: "site", x: s.x, y: s.y, width: s.w, height: s.h, rx: 12 }));
      gSites.appendChild(el("svg:text", { class: "site-label", x: s.x + 12, y: s.y + 28 },
        s.name + (s.lat !== null && s.lat !== undefined ? " (" + fmt(s.lat, 2) + ", " + fmt(s.lon, 2) + ")" : "")));
    });
    const names = document.getElementById("node-names");
    names.replaceChildren();
    m.links.forEach(function (l) {
      const a = pos[l.a], b = pos[l.b];
      if (!a || !b) return;
      const w = l.wan ? 5 : Math.min(8, 1.5 + Math.log2(l.count) * 0.8);
      const line = el("svg:line", { class: "link" + (l.up ? "" : " down"), "data-id": l.id, x1: a.x, y1: a.y,
        x2: b.x, y2: b.y, "stroke-width": w, stroke: l.up ? colour(null) : "#222", "data-up": l.up ? "1" : "0" });
      line.appendChild(el("svg:title", {}, (l.name || l.id) + " " + l.capacity_gbps + " Gb/s" +
        (l.count > 1 ? " (" + l.count + " links)" : "") + (l.length_km ? ", " + l.length_km + " km, " +
        l.latency_us + " us one way" : "")));
      line.addEventListener("click", function () { select("link", l); });
      gLinks.appendChild(line);
      if (l.wan) {
        gLabels.appendChild(el("svg:text", { class: "wan-label", x: (a.x + b.x) / 2 + 8, y: (a.y + b.y) / 2 },
          fmt(l.length_km, 0) + " km, " + fmt(l.latency_us, 0) + " \u00b5s"));
      }
    });
    m.nodes.forEach(function (n) {
      const r = n.count > 1 ? Math.min(18, 5 + Math.sqrt(n.count) / 3) : (n.role === "gpu" ? 5 : 9);
      const c = el("svg:circle", { class: "node", "data-id": n.id, cx: n.x, cy: n.y, r: r,
        fill: ROLE_COLOURS[n.role] || "#888" });
      c.appendChild(el("svg:title", {}, n.name + " (" + n.role + ")"));
      c.addEventListener("click", function () {
        select("node", n);
        if (n.count > 1 && BOOT.mode === "live") { state.expand.push(n.id); loadMap(); }   // one level finer
      });
      gNodes.appendChild(c);
      names.appendChild(el("option", { value: n.id }));
    });
    svg.append(gSites, gLinks, gNodes, gLabels);
    document.getElementById("fabric-name").textContent = m.fabric + " (" + m.counts.nodes.toLocaleString() +
      " nodes, " + m.counts.links.toLocaleString() + " links)";
    document.getElementById("map-info").textContent = m.layout + ", " + (m.level === "aggregate" ?
      "aggregated by rail (" + m.nodes.length + " groups; 'every node' draws all)" : "every node") + (m.version ? ", plan v" + m.version : "");
  }
  function setView() {
    const v = state.view;
    document.getElementById("map").setAttribute("viewBox", v.x + " " + v.y + " " + v.w + " " + v.h);
  }
  function paintUtil(u) {
    state.util = u;
    if (!u) return;
    document.querySelectorAll("#map line.link").forEach(function (line) {
      const id = line.getAttribute("data-id");
      const val = u.links[id];
      if (line.getAttribute("data-up") === "1") line.setAttribute("stroke", colour(val));
      if (val === undefined) line.removeAttribute("data-util"); else line.setAttribute("data-util", val.toFixed(6));
    });
    table("busiest", ["link", "utilisation"], u.busiest.map(function (r) { return [r.id, fmt(r.utilisation)]; }));
    document.getElementById("mlu").textContent = u.mode.toUpperCase() + " max " + fmt(u.mlu);
    document.getElementById("measured-note").textContent = u.measured ? "" : (u.measured_note || "");
  }
  function select(kind, x) {
    const box = document.getElementById("selected");
    box.replaceChildren(el("h3", {}, kind === "node" ? x.name : (x.name || x.id)));
    const rows = kind === "node" ? [["role", x.role], ["site", x.site], ["in group", x.count]] :
      [["capacity", x.capacity_gbps + " Gb/s"], ["links", x.count], ["up", x.up], ["km", x.length_km],
        ["one-way latency (us)", x.latency_us],
        ["utilisation", state.util && state.util.links[x.id] !== undefined ? fmt(state.util.links[x.id]) : "none"]];
    const t = el("table");
    rows.forEach(function (r) { const tr = el("tr"); tr.append(el("td", {}, r[0]), el("td", {}, String(r[1]))); t.appendChild(tr); });
    box.appendChild(t);
  }
  function search(text) {
    document.querySelectorAll("#map .node.hit").forEach(function (c) { c.classList.remove("hit"); });
    if (!text || !state.map) return;
    const id = (state.map.bucket_of && state.map.bucket_of[text]) || text;
    const c = document.querySelector('#map .node[data-id="' + CSS.escape(id) + '"]');
    if (!c) { toast("no node " + text); return; }
    c.classList.add("hit");
    const n = state.map.nodes.find(function (x) { return x.id === id; });
    const w = Math.max(400, state.map.width / 3), h = w * 0.6;
    state.view = { x: n.x - w / 2, y: n.y - h / 2, w: w, h: h };
    setView();
  }
  function wireMap() {
    const svg = document.getElementById("map");
    svg.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      const v = state.view, rect = svg.getBoundingClientRect();
      const k = ev.deltaY > 0 ? 1.2 : 1 / 1.2;
      const fx = (ev.clientX - rect.left) / rect.width, fy = (ev.clientY - rect.top) / rect.height;
      const nw = v.w * k, nh = v.h * k;
      state.view = { x: v.x + (v.w - nw) * fx, y: v.y + (v.h - nh) * fy, w: nw, h: nh };
      setView();
    }, { passive: false });
    let drag = null;
    svg.addEventListener("mousedown", function (ev) { drag = { x: ev.clientX, y: ev.clientY, v: state.view }; });
    window.addEventListener("mouseup", function () { drag = null; });
    window.addEventListener("mousemove", function (ev) {
      if (!drag) return;
      const rect = svg.getBoundingClientRect();
      state.view = { x: drag.v.x - (ev.clientX - drag.x) * drag.v.w / rect.width,
        y: drag.v.y - (ev.clientY - drag.y) * drag.v.h / rect.height, w: drag.v.w, h: drag.v.h };
      setView();
    });
    document.getElementById("zoom-reset").addEventListener("click", function () {
      const m = state.map; state.view = { x: -20, y: -20, w: m.width + 40, h: m.height + 40 }; setView();
    });
    document.getElementById("collapse").addEventListener("click", function () { state.expand = []; loadMap(); });
    document.getElementById("search").addEventListener("change", function (ev) { search(ev.target.value.trim()); });
    ["wcmp", "ecmp"].forEach(function (mode) {
      document.getElementById("mode-" + mode).addEventListener("click", function () {
        state.mode = mode;
        document.getElementById("mode-wcmp").classList.toggle("on", mode === "wcmp");
        document.getElementById("mode-ecmp").classList.toggle("on", mode === "ecmp");
        loadUtil();
      });
    });
    document.getElementById("level").addEventListener("change", function (ev) {
      state.level = ev.target.value; state.expand = []; loadMap();
    });
  }
  function loadMap() {
    const keep = state.map && state.view;
    return api("/api/map?level=" + state.level + expandQuery()).then(function (m) {
      const same = keep && state.map.width === m.width && state.map.height === m.height && state.map.level === m.level;
      const view = state.view;
      drawMap(m);
      if (same) { state.view = view; setView(); }       // live updates and expanding keep the zoom
      return loadUtil();
    });
  }
  function expandQuery() {
    return state.expand.length ? "&expand=" + encodeURIComponent(state.expand.join(",")) : "";
  }
  function loadUtil() {
    if (!state.map || !state.map.version) return Promise.resolve();
    return api("/api/utilisation?mode=" + state.mode + "&level=" + state.level + "&version=" + state.map.version + expandQuery())
      .then(paintUtil);
  }

  /* ---------------------------------------------------------------- plans, events, budgets, cc */
  function loadPlans() {
    return api("/api/plans").then(function (plans) {
      state.plans = plans || [];
      table("timeline", ["version", "parent", "reason", "sections", "created (UTC)", "desired"],
        state.plans.slice().reverse().map(function (p) {
          return [p.version, p.parent_version || "", p.reason, p.sections.join(", "), when(p.created_unix), p.desired ? "yes" : ""];
        }), function (i) { return state.plans[state.plans.length - 1 - i].desired ? { class: "desired" } : {}; });
      ["diff-a", "diff-b"].forEach(function (id, k) {
        const s = document.getElementById(id), keep = s.value;
        s.replaceChildren();
        state.plans.forEach(function (p) { s.appendChild(el("option", { value: p.version }, "v" + p.version)); });
        if (keep) s.value = keep;
        else if (state.plans.length) s.value = state.plans[Math.max(0, state.plans.length - 2 + k)].version;
      });
    });
  }
  function loadDiff() {
    const a = document.getElementById("diff-a").value, b = document.getElementById("diff-b").value;
    if (!a || !b) return Promise.resolve();
    return api("/api/diff?a=" + a + "&b=" + b).then(function (d) {
      const w = (d.sections || {}).wcmp || {};
      const rows = (w.groups_reweighted || []).map(function (g) {
        const hops = function (hs) { return hs.map(function (h) { return h.node + ":" + h.weight; }).join(" "); };
        return [g.switch, g.dst, hops(g.old), hops(g.new)];
      });
      document.getElementById("diff-summary").textContent = "v" + a + " \u2192 v" + b + ": changed " +
        (d.changed.join(", ") || "nothing") + "; " + rows.length + " group(s) re-weighted on " +
        Object.keys(w.per_switch || {}).length + " switch(es)";
      table("diff-table", ["switch", "destination", "old weights", "new weights"], rows);
    });
  }
  function loadProgress() {
    return api("/api/progress").then(function (p) {
      if (!p) return;
      table("progress", ["switch", "connected", "desired", "applied", "error"], p.switches.map(function (s) {
        return [s.name, s.connected ? "yes" : "no", s.desired_version, s.applied_version, s.error];
      }));
      document.getElementById("live-state").textContent = "plan v" + p.plan_version + (p.converged ? ", converged" : ", applying");
    });
  }
  function loadAudit() {
    return api("/api/audit?limit=200").then(function (rows) {
      if (!rows) return;
      table("audit", ["time (UTC)", "who", "action", "version", "detail"], rows.slice().reverse().map(function (r) {
        return [when(r.created_unix), r.who, r.action, r.version || "", JSON.stringify(r.detail)];
      }));
    });
  }
  function loadEvents() {
    return api("/api/events?limit=500").then(function (rows) {
      if (!rows) return;
      table("events", ["id", "time (UTC)", "kind", "a", "b", "plan", "recompute ms", "diff ms", "push ms", "total ms",
        "switches"], rows.slice().reverse().map(function (e) {
        const b = e.body || {};
        return [e.event_id, when(e.created_unix), e.kind, e.a, e.b, b.plan_version || "", fmt(b.recompute_ms, 1),
          fmt(b.diff_ms, 1), fmt(b.push_ms, 1), fmt(b.total_ms, 1), b.switches_updated];
      }));
    });
  }
  function planVersion() { return state.map && state.map.version; }
  function loadBudgets() {
    if (!planVersion()) return Promise.resolve();
    return api("/api/budgets?version=" + planVersion()).then(function (b) {
      if (!b) return;
      table("budgets", ["from", "to", "class", "km", "one-way us", "budget us", "verdict", "why"], b.paths.map(function (p) {
        return [p.src, p.dst, p.budget_class, fmt(p.km, 0), fmt(p.total_us, 1), fmt(p.budget_us, 1), p.verdict, p.reasons.join("; ")];
      }), function (i) { return b.paths[i].verdict === "over" ? { class: "over" } : {}; });
      document.getElementById("budgets-over").textContent = b.present ? b.over + " over budget" : "no budgets section in this plan";
      drawBudgetMap(b);
    }).catch(function (e) { toast(e.message); });
  }
  function drawBudgetMap(b) {
    const svg = document.getElementById("budget-map");
    svg.replaceChildren();
    if (!state.map) return;
    const pos = {};
    state.map.nodes.forEach(function (n) { pos[n.id] = n; });
    svg.setAttribute("viewBox", "-20 -20 " + (state.map.width + 40) + " " + (state.map.height + 40));
    state.map.sites.forEach(function (s) {
      svg.appendChild(el("svg:rect", { class: "site", x: s.x, y: s.y, width: s.w, height: s.h, rx: 12 }));
      svg.appendChild(el("svg:text", { class: "site-label", x: s.x + 12, y: s.y + 28 }, s.name));
    });
    b.paths.forEach(function (p) {
      const a = pos[p.src] || pos[(state.map.bucket_of || {})[p.src]], z = pos[p.dst] || pos[(state.map.bucket_of || {})[p.dst]];
      if (!a || !z) return;
      const line = el("svg:line", { x1: a.x, y1: a.y, x2: z.x, y2: z.y, "stroke-width": 6,
        stroke: p.verdict === "over" ? "#d7191c" : "#1a9641", "data-verdict": p.verdict });
      line.appendChild(el("svg:title", {}, p.src + " \u2192 " + p.dst + ": " + fmt(p.total_us, 1) + " us of " +
        fmt(p.budget_us, 1) + " us (" + p.verdict + ")"));
      svg.appendChild(line);
      [a, z].forEach(function (n) {
        svg.appendChild(el("svg:circle", { cx: n.x, cy: n.y, r: 10, fill: ROLE_COLOURS[n.role] || "#888" }));
      });
    });
  }
  function loadCc() {
    if (!planVersion()) return Promise.resolve();
    return api("/api/cc?version=" + planVersion()).then(function (c) {
      if (!c) return;
      document.getElementById("cc-note").textContent = c.present ? "" : BOOT.mode === "live" ?
        "plan v" + planVersion() + " has no cc section (fabricctl ctl compute cc --base " + planVersion() + ")" :
        "the plan has no cc section";
      table("cc", ["speed Gb/s", "cable m", "lossless", "ports", "xoff B", "xon B", "headroom B", "ECN kmin B",
        "kmax B", "pmax", "DCQCN g", "rai Mb/s", "rhai Mb/s"], c.port_groups.map(function (g) {
        return [g.speed_gbps, g.cable_m, g.lossless, g.ports, g.xoff_bytes, g.xon_bytes, g.headroom_bytes, g.kmin_bytes,
          g.kmax_bytes, g.pmax, g.dcqcn_g, g.rai_mbps, g.rhai_mbps];
      }));
      table("cc-buffer", ["switch", "headroom B", "buffer B", "shared B", "lossless ports"], c.buffer.map(function (x) {
        return [x.switch, x.headroom_bytes, x.buffer_bytes, x.shared_bytes, x.lossless_ports];
      }));
    }).catch(function (e) { toast(e.message); });
  }

  function loadPlots() {
    // the newest PNGs of fabricctl sim cc --out-dir DIR (serve/report --plots-dir DIR); data: URIs in a report
    return api("/api/cc/plots").then(function (p) {
      const box = document.getElementById("cc-plots");
      box.replaceChildren();
      p = p || { folder: null, plots: [], note: "no plots in this report (fabricctl report ... --plots-dir DIR)" };
      document.getElementById("cc-plots-folder").textContent = p.folder || "";
      document.getElementById("cc-plots-note").textContent = p.note || "";
      p.plots.forEach(function (x) {
        const fig = el("figure", { "data-name": x.name });
        fig.appendChild(el("img", { alt: x.name, src: x.src || "/api/cc/plots/" + encodeURIComponent(x.name) + "?t=" + x.mtime }));
        fig.appendChild(el("figcaption", {}, x.name + " \u2014 " + x.modified + ", " + fmt(x.bytes / 1024, 0) + " KiB"));
        box.appendChild(fig);
      });
    }).catch(function (e) { toast(e.message); });
  }

  /* ---------------------------------------------------------------- live updates */
  let pending = null;
  function refreshSoon() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      Promise.all([loadMap().then(function () { return Promise.all([loadBudgets(), loadCc(), loadPlots()]); }), loadPlans(),
        loadEvents(), loadProgress(), loadAudit()]).catch(function (e) { toast(e.message); });
    }, 100);
  }
  function stream() {
    const es = new EventSource("/api/stream");
    ["link_down", "link_up", "node_down", "node_up", "reaction", "apply", "applied", "error"].forEach(function (k) {
      es.addEventListener(k, function (ev) {
        const msg = JSON.parse(ev.data);
        state.lastEvent = msg;
        if (k === "error") toast("error: " + (msg.body.error || ""));
        else if (k !== "applied") toast(k + " " + msg.a + (msg.b ? " \u2013 " + msg.b : ""));
        refreshSoon();
      });
    });
    es.onopen = function () { document.getElementById("live-state").dataset.stream = "open"; };
  }

  function tabs() {
    document.querySelectorAll("header nav button").forEach(function (b) {
      b.addEventListener("click", function () {
        document.querySelectorAll("header nav button").forEach(function (x) { x.classList.toggle("on", x === b); });
        document.querySelectorAll(".view").forEach(function (v) { v.classList.toggle("on", v.id === "view-" + b.dataset.view); });
        if (b.dataset.view === "cc" && BOOT.mode === "live") loadPlots();     // new runs write no controller event
      });
    });
    document.getElementById("diff-go").addEventListener("click", function () { loadDiff().catch(function (e) { toast(e.message); }); });
  }

  function start() {
    tabs();
    wireMap();
    document.getElementById("level").value = state.level;
    document.getElementById("mode-wcmp").classList.toggle("on", state.mode === "wcmp");
    document.getElementById("mode-ecmp").classList.toggle("on", state.mode === "ecmp");
    const first = loadMap().then(function () {
      // the second frame's callback runs once the first frame with the map has been painted
      requestAnimationFrame(function () {
        requestAnimationFrame(function () {
          window.__mapPaintMs = performance.now();
          document.body.dataset.mapReady = "1";
        });
      });
    });
    if (BOOT.mode === "live") {
      Promise.all([first.then(function () { return Promise.all([loadBudgets(), loadCc(), loadPlots()]); }), loadPlans(),
        loadEvents(), loadProgress(), loadAudit()])
        .then(function () { document.body.dataset.ready = "1"; })
        .catch(function (e) { toast(e.message); document.body.dataset.ready = "1"; });
      stream();
    } else {
      document.querySelectorAll('header nav button[data-view="plans"], header nav button[data-view="events"]')
        .forEach(function (b) { b.style.display = "none"; });
      first.then(function () { return Promise.all([loadBudgets(), loadCc(), loadPlots()]); }).then(function () { document.body.dataset.ready = "1"; });
    }
  }
  start();
})();

/* exhibit report: renders the tables from the JSON chunks embedded in this
   page, one page of rows at a time, so a case of a million records opens
   without building a million rows. Every value is set as text, never as
   markup. Row layouts are documented in report/src/html/rows.rs. */
(function () {
  "use strict";
  var root = document.documentElement;
  function fail(text) {
    root.dataset.errors = (root.dataset.errors ? root.dataset.errors + "\n" : "") + text;
  }
  window.onerror = function (message, source, line) { fail(message + " (line " + line + ")"); };
  window.addEventListener("unhandledrejection", function (e) { fail("unhandled rejection: " + e.reason); });

  function data(id) { return JSON.parse(document.getElementById(id).textContent); }
  var meta = data("report-meta"), sources = data("report-sources");
  var CHUNK = meta.chunk, cache = new Map();

  // Chunks are parsed when a row of theirs is needed; the least recently
  // used are dropped, so paging or filtering a million rows keeps a few
  // thousand parsed.
  function row(set, i) {
    var key = set + "-" + Math.floor(i / CHUNK), rows = cache.get(key);
    if (rows) cache.delete(key); else rows = data("d-" + key);
    cache.set(key, rows);
    if (cache.size > 32) cache.delete(cache.keys().next().value);
    return rows[i % CHUNK];
  }

  function num(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function td(tr, content, cls) {
    var c = el("td", cls);
    [].concat(content).forEach(function (x) { if (x !== null && x !== undefined && x !== "") c.append(x); });
    tr.appendChild(c);
    return c;
  }
  function hash(h) {
    if (!h) return "—";
    var c = el("code", "hash", h);
    c.title = h;
    return c;
  }
  function time(t) {
    if (!t) return "no time recorded";
    var f = document.createDocumentFragment(), s = el("span", "utc", t[0] || "not a valid time");
    if (t[2]) s.title = t[2];
    f.append(s);
    if (t[1]) f.append(el("span", "local", t[1]));
    return f;
  }
  function source(i, loc) {
    var s = sources[i], d = el("div", "src"), a = el("a", null, s[0]);
    a.href = s[2];
    d.append(a, " ", hash(s[1]));
    if (s[3]) d.title = "decoded by " + s[3];
    if (loc) d.append(" · " + loc);
    return d;
  }
  function list(items) { return (items || []).join(", "); }
  function notes(n) { return n && n.length ? el("div", "notes", n.join("; ")) : null; }
  function path(p) { try { return decodeURIComponent(p); } catch (e) { return p; } }

  // A paged view of rows lo..hi of a data set; the filter scans the rows
  // in slices between frames, so the page stays responsive.
  function Table(o) {
    var t = { lo: 0, hi: 0, page: 0, hits: null, scan: 0, busy: false };
    var body = document.querySelector("#" + o.id + " tbody");
    var status = el("span"), prev = el("button", null, "‹ Previous"), next = el("button", null, "Next ›");
    var filter = o.filter ? document.getElementById(o.filter) : null, timer = 0;
    prev.type = next.type = "button";
    prev.onclick = function () { t.show(t.page - 1); };
    next.onclick = function () { t.show(t.page + 1); };
    document.getElementById(o.id + "-pager").replaceChildren(prev, status, next);
    t.show = function (page) {
      var n = t.hits ? t.hits.length : t.hi - t.lo, pages = Math.max(1, Math.ceil(n / o.size));
      t.page = Math.min(Math.max(0, page), pages - 1);
      var from = t.page * o.size, to = Math.min(n, from + o.size), frag = document.createDocumentFragment();
      for (var k = from; k < to; k++) {
        var i = t.hits ? t.hits[k] : t.lo + k;
        frag.appendChild(o.render(row(o.set, i), i));
      }
      if (!n) {
        var tr = el("tr");
        td(tr, t.hits ? (t.busy ? "Searching…" : "No row matches the filter.") : o.empty).colSpan = o.cols;
        frag.appendChild(tr);
      }
      body.replaceChildren(frag);
      status.textContent = (n ? "rows " + num(from + 1) + "–" + num(to) + " of " + num(n) +
        (t.hits ? " matching" : "") + " · page " + num(t.page + 1) + " of " + num(pages) : "") +
        (t.busy ? " · searching…" : "");
      prev.disabled = t.page === 0;
      next.disabled = t.page >= pages - 1;
    };
    t.range = function (lo, hi) {
      t.lo = lo; t.hi = hi; t.hits = null; t.busy = false; t.scan++;
      if (filter) filter.value = "";
      t.show(0);
    };
    t.search = function (q) {
      var token = ++t.scan, needle = q.trim().toLowerCase(), hits = [], i = t.lo;
      t.page = 0;
      if (!needle) { t.hits = null; t.busy = false; t.show(0); return; }
      t.hits = hits;
      (function step() {
        if (token !== t.scan) return;
        for (var stop = Math.min(t.hi, i + 20000); i < stop; i++) {
          if (o.text(row(o.set, i)).toLowerCase().indexOf(needle) >= 0) hits.push(i);
        }
        t.busy = i < t.hi;
        t.show(t.page);
        if (t.busy) setTimeout(step, 0);
      })();
    };
    if (filter) {
      filter.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () { t.search(filter.value); }, 200);
      });
    }
    return t;
  }

  var DIRECTION = { in: "received", out: "sent", draft: "draft", unknown: "direction unknown" };
  var openThread = -1;

  var threads = Table({
    id: "threads-table", set: "threads", size: 50, cols: 5, filter: "threads-filter",
    empty: "No messages were decoded.",
    text: function (r) { return [r[0], list(r[2]), sources[r[1]][0]].join(" "); },
    render: function (r, i) {
      var tr = el("tr", i === openThread ? "open" : null), b = el("button", null, "Show");
      b.type = "button";
      b.setAttribute("aria-label", "Show conversation " + r[0]);
      b.onclick = function () { show(i); };
      td(tr, [b, " ", el("b", null, r[0] === "" ? "(no thread id)" : r[0]), source(r[1])]);
      td(tr, [list(r[2]), r[3] > r[2].length ? " and " + num(r[3] - r[2].length) + " more" : ""]);
      td(tr, num(r[4]), "n");
      td(tr, time(r[5]));
      td(tr, time(r[6]));
      return tr;
    }
  });

  var messages = Table({
    id: "messages-table", set: "msg", size: 100, cols: 5, filter: "messages-filter",
    empty: "No messages in this conversation.",
    text: function (r) { return [r[1], list(r[2]), r[3], r[8]].join(" "); },
    render: function (r) {
      var tr = el("tr", r[0]), who = el("div"), handset = "this handset";
      who.append(el("span", "dir", DIRECTION[r[0]] || r[0]));
      who.append(el("div", null, "from " + (r[1] || (r[0] === "in" ? "—" : handset))));
      who.append(el("div", null, "to " + (list(r[2]) || (r[0] === "in" ? handset : "—"))));
      td(tr, time(r[5]));
      td(tr, who);
      var parts = null;
      if (r[9].length) {
        parts = el("ul", "parts");
        r[9].forEach(function (p) {
          var li = el("li", null, (p[0] || "part") + (p[1] ? " " + p[1] : ""));
          if (p[2]) { var a = el("a", null, "case file"); a.href = p[2]; li.append(" · ", a, " ", hash(p[3])); }
          if (p[4]) li.append(" · on the handset: " + p[4]);
          parts.appendChild(li);
        });
      }
      td(tr, [r[8] ? el("b", null, r[8] + "\n") : null, r[3], parts, notes(r[10])], "body");
      td(tr, [r[4], r[11] ? el("div", "src", r[11]) : null]);
      td(tr, source(r[6], r[7]));
      return tr;
    }
  });

  function show(i) {
    var r = row("threads", i);
    openThread = i;
    document.getElementById("thread-title").textContent = "Conversation " +
      (r[0] === "" ? "(no thread id)" : r[0]) + " · " + num(r[4]) + " message" + (r[4] === 1 ? "" : "s") +
      (r[2].length ? " · " + list(r[2]) : "");
    messages.range(r[7], r[7] + r[4]);
    threads.show(threads.page);
  }

  var contacts = Table({
    id: "contacts-table", set: "contacts", size: 100, cols: 6, filter: "contacts-filter",
    empty: "No contacts were decoded.",
    text: function (r) { return [r[0], list(r[1]), list(r[2]), r[3], r[4]].join(" "); },
    render: function (r) {
      var tr = el("tr");
      td(tr, [r[0] || "(no name)", r[5] ? el("div", "bad", "marked deleted") : null, notes(r[8])]);
      td(tr, list(r[1]));
      td(tr, list(r[2]));
      td(tr, r[3]);
      td(tr, r[4]);
      td(tr, source(r[6], r[7]));
      return tr;
    }
  });

  function duration(s) {
    if (s === null || s === undefined) return "—";
    var m = Math.floor(s / 60), h = Math.floor(m / 60), pad = function (x) { return (x < 10 ? "0" : "") + x; };
    return (h ? h + ":" + pad(m % 60) : String(m)) + ":" + pad(s % 60) + " (" + num(s) + " s)";
  }

  var calls = Table({
    id: "calls-table", set: "calls", size: 100, cols: 6, filter: "calls-filter",
    empty: "No calls were decoded.",
    text: function (r) { return [r[0], r[1], r[2], r[5]].join(" "); },
    render: function (r) {
      var tr = el("tr");
      td(tr, time(r[3]));
      td(tr, [String(r[0]).replace(/_/g, " "), notes(r[8])]);
      td(tr, [r[1] || "(no number)", r[2] ? el("div", null, r[2]) : null]);
      td(tr, duration(r[4]), "n");
      td(tr, r[5]);
      td(tr, source(r[6], r[7]));
      return tr;
    }
  });

  var files = Table({
    id: "files-table", set: "files", size: 100, cols: 6, filter: "files-filter",
    empty: "No files were extracted.",
    text: function (r) { return [path(r[0]), r[1], r[3], r[6]].join(" "); },
    render: function (r) {
      var tr = el("tr"), a = el("a", "path", path(r[0]));
      a.href = meta.base + r[0];
      td(tr, [a, r[6] !== null ? " → " + r[6] : null]);
      td(tr, r[1]);
      td(tr, r[2] === null ? "" : num(r[2]), "n");
      td(tr, [hash(r[3]), r[7] ? el("div", "src", r[7]) : null]);
      td(tr, r[1] !== "file" ? "" : r[4] ? "complete" : el("span", "bad", "partial"));
      td(tr, time(r[5]));
      return tr;
    }
  });

  threads.range(0, meta.sets.threads);
  contacts.range(0, meta.sets.contacts);
  calls.range(0, meta.sets.calls);
  files.range(0, meta.sets.files);
  if (meta.sets.threads) show(0); else messages.range(0, 0);
  root.dataset.ready = "1";
})();

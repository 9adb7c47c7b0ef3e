"""The page of the HTML reports: one self-contained file whose inline script draws the embedded data.

Why one file with everything inline: a report is mailed, attached to an issue or opened from a
cluster's scratch disk, so it must need nothing beside it and nothing from the network. The page
holds its data as one JSON blob (``<script type="application/json">``) and a small vanilla
script renders it; a Content-Security-Policy forbids every fetch, so a viewer can tell at a glance
that nothing is loaded from anywhere.

Safety: every name reaches the page inside the JSON blob, with ``<``, ``>`` and ``&`` escaped as
``\\u003c`` ..., so no class name can close the script element; the script only ever sets
``textContent``, never HTML. The title is HTML-escaped.

Numbers reach the page as text formatted here, in Python, as the log prints them (``format`` rounds
86.25 to 86.2, JavaScript's ``toFixed`` to 86.3): the script never rounds, it only uses the raw
values for colours and sorting. Each table's headers say how their column is aligned (text columns
left, numbers right), and every section that colours by accuracy shows the colour legend.

For a headless check the script marks the body: ``data-ready="1"`` once drawn, ``data-rendered``
the number of tree rows (run) or table cells (comparison) in the page, and ``data-error="1"``
with the message in the visible ``#errors`` box when anything fails.
"""
from __future__ import annotations

import html
import json
import math
from typing import Any, Optional

__all__ = ["embed_json", "render_page", "number_text", "column", "RUN", "COMPARISON", "MISSING_TEXT"]

RUN, COMPARISON = "run", "comparison"

MISSING_TEXT = "\u2013"  # an undefined value (a level with too few classes for top-5, a metric without samples)


def number_text(value: Optional[float], decimals: int, unit: str = "") -> str:
    """``value`` as the log prints it (Python's ``format``), with ``%`` for percentages; a dash when undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_TEXT
    return f"{value:.{decimals}f}" + ("%" if unit == "%" else "")


def column(label: str, text: bool = False) -> dict:
    """A table header: text columns are aligned left like their cells, number columns right."""
    return {"label": label, "align": "left" if text else "right"}


_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5em auto; max-width: 1100px;
       padding: 0 1em; color: #1d1d1f; background: #fff; line-height: 1.35; }
h1 { font-size: 1.5em; margin-bottom: 0.1em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.4em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; text-align: right; vertical-align: middle; }
th.text, td.text { text-align: left; }
th { background: #f4f4f6; }
td.best { font-weight: bold; }
.errors { background: #fde2e2; color: #8a1010; border: 1px solid #e0a0a0; padding: 0.6em; white-space: pre-wrap; }
.controls { display: flex; flex-wrap: wrap; gap: 0.5em; align-items: center; margin: 0.5em 0; }
.controls input { padding: 0.2em 0.4em; min-width: 16em; }
.key { display: inline-flex; gap: 0.4em; align-items: center; }
.legend { display: inline-block; width: 160px; height: 0.9em; vertical-align: middle; border: 1px solid #bbb;
          background: linear-gradient(to right, hsl(0,70%,72%), hsl(60,70%,72%), hsl(120,70%,72%)); }
.tree { font-size: 0.92em; }
.tree details > summary { cursor: pointer; list-style: revert; }
.tree .kids { margin-left: 1.3em; border-left: 1px dotted #ccc; padding-left: 0.4em; }
.tree .leaf { margin-left: 1.05em; }
.row { display: inline-flex; gap: 0.5em; align-items: baseline; padding: 0.05em 0.3em; border-radius: 3px; }
.sw { display: inline-block; width: 0.85em; height: 0.85em; border-radius: 2px; border: 1px solid #999;
      align-self: center; }
.acc { font-variant-numeric: tabular-nums; font-weight: 600; padding: 0 0.35em; border-radius: 3px; }
.count, .lvl { color: #666; font-size: 0.9em; }
.match { background: #fff3b0; }
.thumbs img { height: 48px; margin: 1px; border: 1px solid #ccc; image-rendering: auto; }
.note { color: #666; font-size: 0.9em; }
.bar { display: block; height: 5px; margin-top: 2px; border-radius: 2px; }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var body = document.body;
  var errorBox = document.getElementById("errors");
  var rendered = 0;
  function fail(message) {
    body.setAttribute("data-error", "1");
    errorBox.hidden = false;
    errorBox.textContent += message + "\n";
  }
  window.addEventListener("error", function (event) {
    fail("error: " + event.message + " (line " + event.lineno + ")");
  });
  function mark() { body.setAttribute("data-rendered", String(rendered)); }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function add(parent, child) { parent.appendChild(child); return child; }
  function colour(accuracy) {
    if (accuracy === null || accuracy === undefined) { return "#d6d6d6"; }
    return "hsl(" + Math.round(Math.max(0, Math.min(100, accuracy)) * 1.2) + ",70%,72%)";
  }
  function table(parent, headers) {
    var t = add(parent, el("table"));
    var row = add(add(t, el("thead")), el("tr"));
    headers.forEach(function (h) { add(row, el("th", h.align === "left" ? "text" : "", h.label)); });
    return add(t, el("tbody"));
  }
  function legend(parent, what) {
    var box = add(parent, el("span", "key"));
    add(box, el("span", "note", what + " 0%"));
    add(box, el("span", "legend"));
    add(box, el("span", "note", "100%"));
    return box;
  }
  function heading(root, d) {
    add(root, el("h1", "", d.title));
    if (d.subtitle) { add(root, el("p", "sub", d.subtitle)); }
  }

  // ------------------------------------------------------------------ one run
  function renderLevels(root, d) {
    add(root, el("h2", "", "Per level"));
    legend(add(root, el("div", "controls")), "cell colour: accuracy");
    var tbody = table(root, d.level_headers);
    d.levels.forEach(function (level) {
      var tr = add(tbody, el("tr"));
      add(tr, el("td", "text", level.name));
      add(tr, el("td", "", level.classes));
      level.values.forEach(function (value, k) {
        var td = add(tr, el("td", "", level.texts[k]));
        if (value !== null) { td.style.background = colour(value); }
      });
    });
    if (d.summary.length) {
      var sbody = table(root, d.summary_headers);
      d.summary.forEach(function (m) {
        var tr = add(sbody, el("tr"));
        add(tr, el("td", "text", m.label)).title = m.meaning;
        var td = add(tr, el("td", "", m.text));
        if (m.unit === "%" && m.value !== null) { td.style.background = colour(m.value); }
      });
    }
  }

  function renderTree(root, d) {
    var T = d.tree, n = T.names.length, children = [], roots = [];
    for (var i = 0; i < n; i++) { children.push([]); }
    for (i = 0; i < n; i++) { if (T.parents[i] < 0) { roots.push(i); } else { children[T.parents[i]].push(i); } }
    function acc(k) { return T.total[k] ? 100 * T.correct[k] / T.total[k] : null; }
    add(root, el("h2", "", "Tree (" + n + " nodes)"));
    add(root, el("p", "note", "Each node: the share of the test samples whose true path passes through it that were " +
      "predicted right at its level. Grey: no test sample. Click a node to open it."));
    var controls = add(root, el("div", "controls"));
    var search = add(controls, el("input"));
    search.type = "search"; search.placeholder = "find a class"; search.setAttribute("aria-label", "find a class");
    var order = add(controls, el("select"));
    [["tree", "tree order"], ["worst", "worst first"], ["samples", "most samples first"]].forEach(function (o) {
      var option = add(order, el("option", "", o[1])); option.value = o[0];
    });
    var expandButton = add(controls, el("button", "", "expand all"));
    var collapseButton = add(controls, el("button", "", "collapse all"));
    legend(controls, "node colour: accuracy");
    var status = add(controls, el("span", "note"));
    var box = add(root, el("div", "tree"));
    var visible = null, query = "";

    function sorted(list) {
      var copy = list.slice();
      if (order.value === "worst") {
        copy.sort(function (a, b) { var x = acc(a), y = acc(b); return (x === null ? 101 : x) - (y === null ? 101 : y) || a - b; });
      } else if (order.value === "samples") {
        copy.sort(function (a, b) { return T.total[b] - T.total[a] || a - b; });
      }
      return copy;
    }
    function shown(k) { return children[k].filter(function (c) { return !visible || visible[c]; }); }
    function label(k) {
      var row = el("span", "row"), a = acc(k);
      add(row, el("span", "sw")).style.background = colour(a);
      var name = add(row, el("span", "name", T.names[k]));
      if (query && T.names[k].toLowerCase().indexOf(query) >= 0) { name.className = "name match"; }
      add(row, el("span", "acc", T.accuracy_texts[k])).style.background = colour(a);
      add(row, el("span", "count", T.correct[k] + "/" + T.total[k]));
      add(row, el("span", "lvl", T.level_names[T.levels[k]]));
      row.title = T.level_names[T.levels[k]] + ": " + T.names[k];
      return row;
    }
    function nodeElement(k) {
      rendered++;
      if (!shown(k).length) { var leaf = el("div", "leaf"); add(leaf, label(k)); return leaf; }
      var details = el("details", "node");
      add(add(details, el("summary")), label(k));
      details.hgNode = k;
      details.addEventListener("toggle", function () { if (details.open) { fill(details); mark(); } });
      return details;
    }
    function fill(details) {
      if (details.hgFilled) { return; }
      details.hgFilled = true;
      var kids = add(details, el("div", "kids"));
      sorted(shown(details.hgNode)).forEach(function (c) { add(kids, nodeElement(c)); });
    }
    function expand(details) {
      fill(details);
      details.open = true;
      var kids = details.lastChild.children;
      for (var j = 0; j < kids.length; j++) { if (kids[j].tagName === "DETAILS") { expand(kids[j]); } }
    }
    function expandAll() {
      var tops = box.children;
      for (var j = 0; j < tops.length; j++) { if (tops[j].tagName === "DETAILS") { expand(tops[j]); } }
      mark();
    }
    function build(openMatches) {
      box.textContent = "";
      rendered = 0;
      sorted(roots.filter(function (r) { return !visible || visible[r]; })).forEach(function (r) { add(box, nodeElement(r)); });
      if (visible && openMatches) { expandAll(); }
      mark();
    }
    function filter() {
      query = search.value.trim().toLowerCase();
      visible = null;
      status.textContent = "";
      if (query) {
        visible = new Uint8Array(n);
        var found = 0;
        for (var k = 0; k < n; k++) {
          if (T.names[k].toLowerCase().indexOf(query) >= 0) {
            found++;
            for (var p = k; p >= 0 && !visible[p]; p = T.parents[p]) { visible[p] = 1; }
          }
        }
        status.textContent = found + " match" + (found === 1 ? "" : "es");
      }
      build(true);
    }
    search.addEventListener("input", filter);
    order.addEventListener("change", function () { build(true); });
    expandButton.addEventListener("click", expandAll);
    collapseButton.addEventListener("click", function () { build(false); });
    build(true);
    if (window.location.hash === "#expand-all") { expandAll(); }
  }

  function renderConfusions(root, d) {
    add(root, el("h2", "", "Most confused pairs"));
    add(root, el("p", "note", "Per level, the most frequent (true, predicted) mistakes, and their lowest common " +
      "ancestor in the tree (height: levels up to it)." + (d.images.length ? "" :
      " Example images appear when the run saved its predictions (TEST.SAVE_PREDICTIONS True).")));
    d.confusions.forEach(function (level) {
      add(root, el("h3", "", level.level + " (" + level.num_mistakes + " mistakes of " + level.num_samples + ")"));
      if (!level.pairs.length) { add(root, el("p", "note", "no mistakes")); return; }
      var tbody = table(root, d.confusion_headers);
      level.pairs.forEach(function (pair) {
        var tr = add(tbody, el("tr"));
        add(tr, el("td", "text", pair.true_name));
        add(tr, el("td", "text", pair.predicted_name));
        add(tr, el("td", "", pair.count));
        add(tr, el("td", "", pair.share_text));
        add(tr, el("td", "text", pair.lca === null ? "(root)" : pair.lca + " (" + pair.lca_level + ")"));
        add(tr, el("td", "", pair.height));
        var cell = add(tr, el("td", "text thumbs"));
        pair.examples.forEach(function (id) {
          var image = d.images[id], img = add(cell, el("img"));
          img.src = "data:image/jpeg;base64," + image.data;
          img.alt = image.title; img.title = image.title;
        });
      });
    });
  }

  function renderRun(root, d) {
    heading(root, d);
    renderLevels(root, d);
    renderTree(root, d);
    renderConfusions(root, d);
  }

  // ------------------------------------------------------------------ a comparison
  function renderComparison(root, d) {
    heading(root, d);
    add(root, el("h2", "", "Methods \u00d7 levels and metrics"));
    legend(add(root, el("div", "controls")), "bar colour: mean accuracy");
    var tbody = table(root, d.headers);
    d.rows.forEach(function (row) {
      var tr = add(tbody, el("tr"));
      add(tr, el("td", "text", row.label)).title = row.meaning;
      d.trainers.forEach(function (trainer) {
        var cell = row.cells[trainer], td = add(tr, el("td"));
        rendered++;
        if (!cell) { td.textContent = "\u2013"; return; }
        td.textContent = cell.text;
        if (row.best.indexOf(trainer) >= 0) { td.className = "best"; }
        if (row.unit === "%") {
          var bar = add(td, el("span", "bar"));
          bar.style.width = Math.max(0, Math.min(100, cell.mean)) + "%";
          bar.style.background = colour(cell.mean);
        }
      });
    });
    d.notes.forEach(function (note) { add(root, el("p", "note", note)); });
    mark();
  }

  try {
    var data = JSON.parse(document.getElementById("report-data").textContent);
    var root = document.getElementById("report");
    if (data.kind === "run") { renderRun(root, data); } else { renderComparison(root, data); }
    body.setAttribute("data-ready", "1");
  } catch (error) {
    fail("error: " + (error && error.stack ? error.stack : error));
  }
})();
"""


def embed_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render_page(data: dict) -> str:
    """The whole HTML page for ``data`` (``data["kind"]``: :data:`RUN` or :data:`COMPARISON`; ``data["title"]``)."""
    if data.get("kind") not in (RUN, COMPARISON):
        raise ValueError(f"report data: kind must be {RUN!r} or {COMPARISON!r}, got {data.get('kind')!r}")
    title = html.escape(str(data.get("title", "report")))
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n",
        f"<body data-kind=\"{data['kind']}\">\n",
        "<noscript><p>This report draws its tables with JavaScript; enable it to see them.</p></noscript>\n",
        "<pre id=\"errors\" class=\"errors\" hidden></pre>\n<main id=\"report\"></main>\n",
        f"<script type=\"application/json\" id=\"report-data\">{embed_json(data)}</script>\n",
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n",
    ])

/**
 * What the HTML report carries inline besides its data: the stylesheet and the small script
 * that shows a card's details when one is clicked (any `#card_...` link: plot marks, lineage
 * nodes, tables). The script builds every node with `textContent`, never `innerHTML`, so card
 * text (written by other people's agents) stays text; the page's Content-Security-Policy allows
 * exactly this script and these styles by hash, and nothing from the network.
 */

/** The report's stylesheet (Plot's own chart styles are appended when the page is built). */
export const REPORT_CSS = `
:root { color-scheme: light; --fg: #1d2433; --muted: #5f6b7a; --line: #d9dee5; --bg: #f6f7f9;
  --keep: #1a9850; --discard: #8c96a3; --inconclusive: #e08e0b; --pending: #3b6fd8;
  --crash: #d73027; --retracted: #b07cc6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  background: var(--bg); }
header { padding: 18px 28px 8px; background: #fff; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; color: var(--muted); }
nav { display: flex; flex-wrap: wrap; gap: 4px 14px; padding: 8px 28px; background: #fff;
  border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
nav a { color: var(--pending); text-decoration: none; }
main { padding: 8px 28px 40px; margin-right: 420px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 18px;
  margin: 16px 0; overflow-x: auto; }
section h2 { margin: 4px 0 10px; font-size: 18px; }
section h3 { margin: 14px 0 4px; font-size: 15px; }
.muted { color: var(--muted); }
.nowrap { white-space: nowrap; }
.figures { display: flex; flex-wrap: wrap; gap: 8px 22px; margin: 4px 0 8px; }
.figures div b { display: block; font-size: 20px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { max-width: 640px; overflow-wrap: anywhere; }
code, .id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
a.card-link { color: var(--pending); text-decoration: none; white-space: nowrap; }
a.card-link:hover { text-decoration: underline; }
.status { display: inline-block; padding: 0 6px; border-radius: 8px; color: #fff; font-size: 12px; }
.status.keep { background: var(--keep); } .status.discard { background: var(--discard); }
.status.inconclusive { background: var(--inconclusive); } .status.pending { background: var(--pending); }
.status.crash { background: var(--crash); } .status.retracted { background: var(--retracted); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 4px 0; color: var(--muted);
  font-size: 12px; }
.legend span::before { content: ""; display: inline-block; width: 10px; height: 10px;
  border-radius: 50%; margin-right: 5px; vertical-align: -1px; background: currentColor; }
.legend .keep { color: var(--keep); } .legend .discard { color: var(--discard); }
.legend .inconclusive { color: var(--inconclusive); } .legend .pending { color: var(--pending); }
.legend .crash { color: var(--crash); } .legend .retracted { color: var(--retracted); }
.legend .best { color: var(--keep); } .legend .best::before { border-radius: 0; height: 4px; }
.legend .noise { color: #9aa3ad; } .legend .noise::before { border-radius: 0; opacity: .4; }
.chart { margin: 4px 0 14px; }
.chart svg { max-width: 100%; height: auto; }
.chart svg a { cursor: pointer; }
.chart svg a[data-selected] > * { stroke: #000; stroke-width: 2.5px; fill-opacity: 1; }
ul.questions li { margin: 3px 0; overflow-wrap: anywhere; }
aside#details { position: fixed; top: 0; right: 0; bottom: 0; width: 410px; overflow-y: auto;
  background: #fff; border-left: 1px solid var(--line); padding: 14px 16px 30px; z-index: 3; }
aside#details h2 { font-size: 16px; margin: 0 0 6px; overflow-wrap: anywhere; }
aside#details dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 6px 0; }
aside#details dt { color: var(--muted); }
aside#details dd { margin: 0; overflow-wrap: anywhere; }
aside#details .block { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--bg);
  border: 1px solid var(--line); border-radius: 4px; padding: 6px 8px; margin: 4px 0 10px; }
aside#details pre.block { font-size: 12px; max-height: 260px; overflow: auto; }
aside#details table td { font-size: 12px; }
@media (max-width: 1100px) { main { margin-right: 0; } aside#details { position: static; width: auto; } }
`;

/**
 * The report's script. It reads the card data from the page's JSON block and renders the
 * details of the card named in the URL fragment (`#card_...`); plot marks and links only change
 * the fragment. Plain ES2017, no dependencies.
 */
export const REPORT_SCRIPT = `(function () {
  "use strict";
  var source = document.getElementById("report-data");
  var data = JSON.parse(source.textContent);
  var cards = new Map();
  var children = new Map();
  data.cards.forEach(function (card) { cards.set(card.id, card); });
  data.cards.forEach(function (card) {
    card.priors.forEach(function (prior) {
      if (!children.has(prior)) children.set(prior, []);
      children.get(prior).push(card.id);
    });
  });
  var panel = document.getElementById("details");
  function node(tag, text, cls) {
    var el = document.createElement(tag);
    if (text !== undefined && text !== null) el.textContent = String(text);
    if (cls) el.className = cls;
    return el;
  }
  function link(id) {
    var a = node("a", id, "card-link id");
    a.setAttribute("href", "#" + id);
    return a;
  }
  // Text with the ids of cards in this report turned into links (the rest stays text).
  function linked(tag, text, cls) {
    var el = node(tag, null, cls);
    var pattern = /card_[0-9A-HJKMNP-TV-Z]{26}/g;
    var at = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      if (!cards.has(match[0])) continue;
      el.appendChild(document.createTextNode(text.slice(at, match.index)));
      el.appendChild(link(match[0]));
      at = match.index + match[0].length;
    }
    el.appendChild(document.createTextNode(text.slice(at)));
    return el;
  }
  function links(ids) {
    var span = node("span");
    if (ids.length === 0) span.textContent = "none";
    ids.forEach(function (id, i) {
      if (i > 0) span.appendChild(document.createTextNode(", "));
      if (cards.has(id)) span.appendChild(link(id));
      else span.appendChild(node("span", id + " (not in this base)", "id"));
    });
    return span;
  }
  function fields(rows) {
    var dl = node("dl");
    rows.forEach(function (row) {
      if (row[1] === undefined || row[1] === null || row[1] === "") return;
      dl.appendChild(node("dt", row[0]));
      var dd = node("dd");
      if (row[1] instanceof Node) dd.appendChild(row[1]); else dd.textContent = String(row[1]);
      dl.appendChild(dd);
    });
    return dl;
  }
  function badge(card) {
    var status = card.retracted ? "retracted" : card.status;
    return node("span", status, "status " + status);
  }
  function show(id) {
    var card = cards.get(id);
    panel.replaceChildren();
    if (!card) {
      panel.appendChild(node("h2", "Card details"));
      panel.appendChild(node("p", id ? "No card " + id + " in this report." :
        "Click a point in a chart, a lineage node or a card id to see its details.", "muted"));
      return;
    }
    var title = node("h2");
    title.appendChild(node("span", card.id, "id"));
    title.appendChild(document.createTextNode(" "));
    title.appendChild(badge(card));
    panel.appendChild(title);
    panel.setAttribute("data-card", card.id);
    if (card.unreadable) panel.appendChild(node("p", "card file unreadable: " + card.unreadable, "muted"));
    panel.appendChild(node("h3", "Hypothesis"));
    panel.appendChild(linked("div", card.hypothesis, "block hypothesis"));
    panel.appendChild(node("h3", "Lesson"));
    panel.appendChild(linked("div", card.lesson === null ? "none recorded" : card.lesson, "block lesson"));
    if (card.retracted) {
      panel.appendChild(node("h3", "Retracted"));
      panel.appendChild(linked("div", card.retraction || "", "block"));
    }
    panel.appendChild(fields([
      ["val_bpb", card.val_bpb === null ? "none (crash)" : card.val_bpb.toFixed(6)],
      ["delta", card.delta === null ? null : card.delta.toFixed(6)],
      ["written as", card.written !== card.status ? card.written : null],
      ["time", card.time],
      ["agent", card.agent],
      ["session", card.session],
      ["tags", card.tags.join(", ")],
      ["categories", card.categories.join(", ")],
      ["class", card.classLabel],
      ["prior cards", links(card.priors)],
      ["built on by", links(children.get(card.id) || [])],
    ]));
    // A card with no prior card and no class baseline before it shows its whole config.
    panel.appendChild(node("h3", card.configBase ? "Config change" : "Config"));
    if (card.configBase) panel.appendChild(linked("p", "against " + card.configBase, "muted"));
    if (card.configDiff.length === 0) {
      panel.appendChild(node("p", card.configBase ? "no difference" : "no config recorded", "muted"));
    } else {
      var table = node("table", null, "config-diff");
      var head = node("tr");
      var columns = card.configBase ? ["key", "before", "after"] : ["key", "value"];
      columns.forEach(function (h) { head.appendChild(node("th", h)); });
      table.appendChild(head);
      card.configDiff.forEach(function (row) {
        var tr = node("tr");
        var cells = card.configBase ? row : [row[0], row[2]];
        cells.forEach(function (cell) { tr.appendChild(node("td", cell, "id")); });
        table.appendChild(tr);
      });
      panel.appendChild(table);
      if (card.configCut) panel.appendChild(node("p", card.configCut, "muted"));
    }
    if (card.recipeDiff) {
      panel.appendChild(node("h3", "Recipe diff"));
      panel.appendChild(node("pre", card.recipeDiff, "block"));
    }
    panel.appendChild(node("h3", "Results"));
    panel.appendChild(fields(card.results));
    panel.appendChild(node("h3", "Platform"));
    panel.appendChild(fields(card.platform));
    panel.appendChild(node("h3", "Hashes"));
    panel.appendChild(fields(card.hashes));
  }
  var marked = [];
  function route() {
    var id = decodeURIComponent(location.hash.slice(1));
    marked.forEach(function (el) { el.removeAttribute("data-selected"); });
    marked = [];
    show(/^card_[0-9A-Z]{26}$/.test(id) ? id : null);
    if (cards.has(id)) {
      document.querySelectorAll('a[href="#' + id + '"]').forEach(function (el) {
        el.setAttribute("data-selected", "true");
        marked.push(el);
      });
    }
  }
  window.addEventListener("hashchange", route);
  route();
})();
`;

// Live transcript: polls /tickets/<ref>/turns?after=<count> and appends new turns.
// Every value is set with textContent, never innerHTML: customer text stays text.
(function () {
  "use strict";
  var page = document.getElementById("ticket");
  if (!page) { return; }
  var ref = page.dataset.ref;
  var count = parseInt(page.dataset.count, 10) || 0;
  var list = document.getElementById("transcript");
  var delay = 2000;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text) { node.textContent = text; }
    return node;
  }

  function addTurn(t) {
    var li = el("li", "turn " + t.speaker);
    var head = el("div", "turn-head");
    head.appendChild(el("span", "speaker", t.speaker));
    head.appendChild(document.createTextNode(" "));
    head.appendChild(el("time", "", t.at));
    if (t.language) { head.appendChild(el("span", "lang", t.language)); }
    if (t.intent) {
      head.appendChild(el("span", "intent", t.intent + (t.confidence ? " (" + t.confidence + ")" : "")));
    }
    li.appendChild(head);
    li.appendChild(el("div", "text", t.text));
    if (t.translation) { li.appendChild(el("div", "translation", t.translation)); }
    if (t.kb_articles && t.kb_articles.length) {
      li.appendChild(el("div", "kb", "KB: " + t.kb_articles.join(", ")));
    }
    li.classList.add("new");
    list.appendChild(li);
  }

  function setText(id, value) {
    var node = document.getElementById(id);
    if (node && value !== undefined) { node.textContent = value; }
  }

  function poll() {
    fetch("/tickets/" + encodeURIComponent(ref) + "/turns?after=" + count, {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (resp) {
      if (resp.status === 401) { window.location.reload(); return null; }
      return resp.ok ? resp.json() : null;
    }).then(function (data) {
      if (data) {
        data.turns.forEach(addTurn);
        count = data.count;
        setText("status", data.status);
        setText("assignee", data.assignee || "nobody");
        setText("csat", data.csat === null ? "–" : String(data.csat));
      }
    }).catch(function () { /* offline for a moment: try again */ })
      .then(function () { window.setTimeout(poll, delay); });
  }
  window.setTimeout(poll, delay);
}());

// Waiting-room display: polls the counter's JSON every few seconds and updates the numbers
// being called, without reloading the page.
(function () {
  "use strict";
  var board = document.querySelector(".board[data-source]");
  if (!board) return;
  var list = document.getElementById("calling");
  var waiting = document.getElementById("waiting");
  var shown = "";

  function render(data) {
    var key = data.calling.join(",");
    waiting.textContent = String(data.waiting);
    if (key === shown) return;
    var before = shown ? shown.split(",") : [];
    shown = key;
    var items = data.calling.map(function (n) {
      var li = document.createElement("li");
      li.textContent = String(n);
      if (before.indexOf(String(n)) < 0) li.className = "new";
      return li;
    });
    if (!items.length) {
      var none = document.createElement("li");
      none.className = "none";
      none.textContent = "—";
      items.push(none);
    }
    list.replaceChildren.apply(list, items);
  }

  function poll() {
    fetch(board.dataset.source, {cache: "no-store", credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) render(data); })
      .catch(function () { /* keep showing the last numbers */ })
      .finally(function () { window.setTimeout(poll, 3000); });
  }
  shown = Array.prototype.map.call(list.querySelectorAll("li:not(.none)"), function (li) {
    return li.textContent;
  }).join(",");
  window.setTimeout(poll, 3000);
})();

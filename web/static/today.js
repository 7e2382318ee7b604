// A group's day page: fetch the list again every few seconds and replace it, keeping the
// boxes ticked, and say how many new cases arrived (a polite live region). Without
// JavaScript the page still works: "Show now" reloads it.
(function () {
  "use strict";
  var list = document.getElementById("day-list");
  var status = document.getElementById("live-status");
  var printButton = document.getElementById("print-page");
  if (printButton) printButton.addEventListener("click", function () { window.print(); });
  if (!list || !window.fetch) return;
  var seconds = parseInt(list.getAttribute("data-seconds"), 10) || 15;
  function count(root) {
    var el = root.querySelector("#day-count");
    return el ? parseInt(el.getAttribute("data-count"), 10) || 0 : 0;
  }
  function refresh() {
    fetch(list.getAttribute("data-src"), {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var ticked = {};
        list.querySelectorAll("input[name=case]:checked").forEach(function (b) { ticked[b.value] = true; });
        var before = count(list);
        var next = document.createElement("div");
        next.innerHTML = html;
        var after = count(next);
        if (next.innerHTML === list.innerHTML) return;
        list.innerHTML = next.innerHTML;
        list.querySelectorAll("input[name=case]").forEach(function (b) { if (ticked[b.value]) b.checked = true; });
        if (after > before) status.textContent = list.getAttribute("data-new").replace("%n", String(after - before));
      })
      .catch(function () { /* offline for a moment: try again next time */ });
  }
  setInterval(refresh, seconds * 1000);
})();

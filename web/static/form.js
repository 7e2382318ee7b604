// Progressive enhancement: hide the questions that do not apply, as the answers change.
// Without JavaScript every question is shown with a hint saying when it applies; the server
// drops the answers of questions whose condition does not hold either way.
(function () {
  "use strict";
  var form = document.querySelector("form.questionnaire");
  if (!form) { return; }
  function values(name) {
    var out = [];
    form.querySelectorAll("[name='" + name + "']").forEach(function (el) {
      if ((el.type === "radio" || el.type === "checkbox") ? el.checked : el.value.trim() !== "") {
        out.push(el.type === "checkbox" && el.value === "y" ? "yes" : el.value);
      }
    });
    return out;
  }
  // The same rules as engine.fields.condition_met: every attribute present must hold.
  function holds(block) {
    var got = values(block.getAttribute("data-show-field"));
    var attr = function (name) { return block.getAttribute("data-show-" + name); };
    if (attr("filled") !== null && (got.length > 0) !== (attr("filled") === "1")) { return false; }
    if (attr("equals") !== null && got.indexOf(attr("equals")) === -1) { return false; }
    if (attr("not-equals") !== null && got.indexOf(attr("not-equals")) !== -1) { return false; }
    if (attr("one-of") !== null) {
      var allowed = attr("one-of").split(" ");
      if (!got.some(function (v) { return allowed.indexOf(v) !== -1; })) { return false; }
    }
    if (attr("min") !== null || attr("max") !== null) {
      var n = parseFloat((got[0] || "").replace(/[０-９．]/g, function (c) {
        return String.fromCharCode(c.charCodeAt(0) - 0xFEE0); }));
      if (isNaN(n)) { return false; }
      if (attr("min") !== null && n < parseFloat(attr("min"))) { return false; }
      if (attr("max") !== null && n > parseFloat(attr("max"))) { return false; }
    }
    return true;
  }
  function update() {
    form.querySelectorAll("[data-show-field]").forEach(function (block) {
      block.hidden = !holds(block);
      block.querySelectorAll(".condition").forEach(function (c) { c.hidden = true; });
    });
  }
  form.addEventListener("change", update);
  form.addEventListener("input", update);
  update();
  // After a refused submission, move focus to the list of errors (it is also role=alert).
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();

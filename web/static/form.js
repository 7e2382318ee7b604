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
  function update() {
    form.querySelectorAll("[data-show-field]").forEach(function (block) {
      var got = values(block.getAttribute("data-show-field"));
      var equals = block.getAttribute("data-show-equals");
      var show = equals !== null ? got.indexOf(equals) !== -1
        : block.hasAttribute("data-show-filled") ? got.length > 0 : true;
      block.hidden = !show;
      block.querySelectorAll(".condition").forEach(function (c) { c.hidden = true; });
    });
  }
  form.addEventListener("change", update);
  update();
  // After a refused submission, move focus to the list of errors (it is also role=alert).
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();

// Dot voting ballots (SPEC §4.9): "Remaining picks", "N selected" and "You've cast X of your Y votes."
// follow the voter's choices, and values that would exceed the budget are disabled. A failed submit
// (network or 503) is retried twice with the same idempotency key. Without this file the form still
// works: the server enforces every limit.
(function () {
  "use strict";
  var RETRIES = 2;

  function number(value) { var n = parseInt(value, 10); return isNaN(n) ? 0 : n; }

  function chosen(group) {
    var checked = group.querySelector("input[type=radio]:checked");
    return checked ? number(checked.value) : 0;
  }

  function update(form) {
    var groups = form.querySelectorAll(".dot-option");
    var total = 0;
    groups.forEach(function (g) { total += chosen(g); });
    var remaining = number(form.dataset.max) - total;
    groups.forEach(function (g) {
      var current = chosen(g);
      var floor = number(g.dataset.floor);
      g.querySelectorAll("input[type=radio]").forEach(function (radio) {
        var value = number(radio.value);
        radio.disabled = value < floor || value - current > remaining;
      });
      var tag = g.querySelector("[data-selected]");
      if (tag) tag.textContent = current + " selected";
    });
    form.querySelectorAll("[data-remaining]").forEach(function (el) { el.textContent = String(remaining); });
    form.querySelectorAll("[data-cast]").forEach(function (el) { el.textContent = String(total); });
  }

  function init(root) {
    if (root.matches && root.matches("form.dot-ballot")) update(root);
    if (root.querySelectorAll) root.querySelectorAll("form.dot-ballot").forEach(update);
  }

  function ballotOf(el) { return el && el.closest ? el.closest("form.dot-ballot") : null; }

  document.addEventListener("change", function (e) { var form = ballotOf(e.target); if (form) update(form); });
  // Reset goes back to the last submitted allocation (the checked defaults); read it once applied.
  document.addEventListener("reset", function (e) {
    var form = ballotOf(e.target);
    if (form) setTimeout(function () { update(form); }, 0);
  }, true);

  document.addEventListener("htmx:afterRequest", function (e) {
    var form = ballotOf(e.detail && e.detail.elt);
    if (!form || e.detail.successful) return;
    var status = e.detail.xhr ? e.detail.xhr.status : 0;
    var tries = number(form.dataset.retries);
    if ((status !== 0 && status !== 503) || tries >= RETRIES) return;
    form.dataset.retries = String(tries + 1);
    var box = form.querySelector(".ballot-msg");
    if (box) box.textContent = "Retrying vote (" + (tries + 1) + ")…";
    var delay = Math.min(1800, 350 * Math.pow(2, tries) + Math.random() * 250);
    setTimeout(function () { htmx.trigger(form, "submit"); }, delay);
  });

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (e) { init(e.detail.elt); });
})();

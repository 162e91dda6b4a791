// Dot voting ballots (SPEC §4.9): "Remaining picks", "N selected" and "You've cast X of your Y votes."
// follow the voter's choices, and values that would exceed the budget are disabled. A failed submit
// (network or 503) is retried twice with the same idempotency key. Without this file the form still
// works: the server enforces every limit.
//
// Live panel refreshes (someone joins, the agenda changes) render the panel once per audience, so the
// ballot reloads itself from the server, unless it is still the same for everyone (a vote just
// started): then it comes in the panel, and this file gives it its idempotency key. Choices not yet
// submitted are kept here as a draft and put back on the fresh ballot; a facilitator recording for
// someone in the room stays on that person.
(function () {
  "use strict";
  if (window.decideroVoting) return; // boosted navigation may run this file again
  window.decideroVoting = true;
  var RETRIES = 2;
  var drafts = {}; // activity id → {voter, values: {field: dots}}, unsubmitted dot choices
  var behalf = {}; // activity id → whom a facilitator last chose to record for ("" = themself)

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

  // -- the ballot a form belongs to, and whose it is ------------------------------------------------

  function ballotRoot(el) { return el && el.closest ? el.closest(".ballot[id^='ballot-']") : null; }
  function activityOf(el) { var root = ballotRoot(el); return root ? root.id.slice("ballot-".length) : ""; }
  function voterOf(root) {
    var field = root.querySelector("form:not(.behalf) input[name=for]");
    return field ? field.value : "";
  }
  window.decideroBallots = { activityOf: activityOf, voterOf: voterOf };

  // -- drafts ---------------------------------------------------------------------------------------

  function remember(form) {
    var values = {};
    form.querySelectorAll("input[type=radio]:checked").forEach(function (r) { values[r.name] = r.value; });
    drafts[activityOf(form)] = { voter: voterOf(ballotRoot(form)), values: values };
  }

  function restore(form) {
    var draft = drafts[activityOf(form)];
    if (!draft || draft.voter !== voterOf(ballotRoot(form))) return;
    Object.keys(draft.values).forEach(function (name) {
      var radio = form.querySelector("input[type=radio][name='" + name + "'][value='" + draft.values[name] + "']");
      if (radio && !radio.disabled) radio.checked = true;
    });
  }

  // A fresh ballot for the facilitator themself, while they were recording for someone: load that
  // person's instead. Forgotten until it arrives, so a refusal (they left the roster) is not repeated.
  function keepBehalf(root) {
    var id = root.id.slice("ballot-".length);
    var wanted = behalf[id];
    if (!wanted || !root.dataset.ballot || !window.htmx) return false;
    delete behalf[id];
    htmx.ajax("GET", root.dataset.ballot + "?for=" + encodeURIComponent(wanted), { target: root, swap: "outerHTML" });
    return true;
  }

  // A ballot shared by everyone in a live panel comes without an idempotency key: give it its own,
  // once, so the retries of one submission share it.
  function keyed(form) {
    var key = form.querySelector("input[name=key]");
    if (!key || key.value) return;
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    key.value = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function init(root) {
    if (!root.querySelectorAll) return;
    var ballots = Array.prototype.slice.call(root.querySelectorAll(".ballot[id^='ballot-']"));
    if (root.matches && root.matches(".ballot[id^='ballot-']")) ballots.push(root);
    ballots.forEach(function (ballot) {
      var voter = voterOf(ballot);
      if (voter) behalf[ballot.id.slice("ballot-".length)] = voter;
      else if (keepBehalf(ballot)) return;
      ballot.querySelectorAll("form.dot-ballot").forEach(function (form) { keyed(form); restore(form); update(form); });
    });
  }

  function ballotOf(el) { return el && el.closest ? el.closest("form.dot-ballot") : null; }

  document.addEventListener("change", function (e) {
    var choice = e.target.closest && e.target.closest("form.behalf select[name=for]");
    if (choice) {
      var id = activityOf(choice);
      behalf[id] = choice.value;
      delete drafts[id];
      return;
    }
    var form = ballotOf(e.target);
    if (form) { update(form); remember(form); }
  });
  // Reset goes back to the last submitted allocation (the checked defaults); read it once applied.
  document.addEventListener("reset", function (e) {
    var form = ballotOf(e.target);
    if (!form) return;
    delete drafts[activityOf(form)];
    setTimeout(function () { update(form); }, 0);
  }, true);
  // A stored submission replaces the ballot with the saved one: the draft is spent.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var form = ballotOf(e.target);
    var status = e.detail && e.detail.xhr ? e.detail.xhr.status : 0;
    if (form && status >= 200 && status < 300) delete drafts[activityOf(form)];
  });

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

  // The results page follows the meeting's stream, which also carries fragments for regions only the
  // meeting page has: keep the ones this page shows (they replace elements by id).
  if (window.htmx) {
    htmx.defineExtension("present-targets", {
      transformResponse: function (text) {
        var box = document.createElement("template");
        box.innerHTML = text;
        Array.prototype.slice.call(box.content.children).forEach(function (el) {
          if (!el.id || !document.getElementById(el.id)) el.remove();
        });
        return box.innerHTML;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (e) { init(e.detail.elt); });
})();

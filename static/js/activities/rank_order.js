// Rank-order ballots (SPEC §4.10): Move up / Move down buttons (keyboard), a position select per idea,
// and drag and drop as an enhancement. The position selects are what the form submits, so they are
// renumbered after every move. Without this file the selects alone rank the ideas.
//
// An order not yet submitted is kept as a draft and put back when a live panel refresh reloads the
// ballot from the server (see ballots.js).
(function () {
  "use strict";
  if (window.decideroRanking) return; // boosted navigation may run this file again
  window.decideroRanking = true;
  var drafts = {}; // activity id → {voter, order: [option fields]}

  function ballots() { return window.decideroBallots; }

  function remember(list) {
    var b = ballots();
    if (!b) return;
    var root = list.closest(".ballot");
    drafts[b.activityOf(list)] = {
      voter: b.voterOf(root),
      order: rows(list).map(function (li) { return li.dataset.option; })
    };
  }

  function restore(list) {
    var b = ballots();
    var draft = b && drafts[b.activityOf(list)];
    if (!draft || draft.voter !== b.voterOf(list.closest(".ballot"))) return;
    var byOption = {};
    rows(list).forEach(function (li) { byOption[li.dataset.option] = li; });
    var same = draft.order.length === rows(list).length && draft.order.every(function (o) { return byOption[o]; });
    if (!same) return; // the ideas changed: the fresh list wins
    draft.order.forEach(function (o) { list.appendChild(byOption[o]); });
    renumber(list);
  }

  function rows(list) {
    return Array.prototype.filter.call(list.children, function (el) { return el.classList.contains("rank-item"); });
  }

  function renumber(list) {
    rows(list).forEach(function (li, i) {
      var select = li.querySelector("select.rank-select");
      if (select) select.value = String(i + 1);
    });
  }

  function announce(li) {
    var list = li.parentElement;
    var form = list.closest("form");
    var status = form && form.querySelector("[data-rank-status]");
    var label = li.querySelector(".rank-label");
    if (status && label) {
      status.textContent = label.textContent + " moved to position " + (rows(list).indexOf(li) + 1) + " of " + rows(list).length + ".";
    }
  }

  // Moving the neighbour instead of the item keeps keyboard focus where it is.
  function move(li, direction) {
    var list = li.parentElement;
    var all = rows(list);
    var index = all.indexOf(li);
    if (direction < 0 && index > 0) list.insertBefore(all[index - 1], li.nextSibling);
    if (direction > 0 && index < all.length - 1) list.insertBefore(all[index + 1], li);
    renumber(list);
    announce(li);
    remember(list);
  }

  function enhance(root) {
    if (!root.querySelectorAll) return;
    root.querySelectorAll("ol.rank-list [data-move]").forEach(function (button) { button.hidden = false; });
    root.querySelectorAll("ol.rank-list").forEach(restore);
  }

  // A stored submission or reset replaces the ballot with the saved state: the draft is spent.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var form = e.target.closest && e.target.closest("form.rank-ballot, form.rank-reset");
    var status = e.detail && e.detail.xhr ? e.detail.xhr.status : 0;
    var b = ballots();
    if (form && b && status >= 200 && status < 300) delete drafts[b.activityOf(form)];
  });
  document.addEventListener("change", function (e) {
    var choice = e.target.closest && e.target.closest("form.behalf select[name=for]");
    var b = ballots();
    if (choice && b) delete drafts[b.activityOf(choice)];
  });

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("ol.rank-list [data-move]");
    if (!button) return;
    move(button.closest(".rank-item"), button.dataset.move === "up" ? -1 : 1);
    button.focus();
  });

  document.addEventListener("change", function (e) {
    var select = e.target.closest && e.target.closest("ol.rank-list select.rank-select");
    if (!select) return;
    var li = select.closest(".rank-item");
    var list = li.parentElement;
    var others = rows(list).filter(function (el) { return el !== li; });
    list.insertBefore(li, others[parseInt(select.value, 10) - 1] || null);
    renumber(list);
    announce(li);
    remember(list);
    select.focus();
  });

  var dragged = null;
  document.addEventListener("dragstart", function (e) {
    var li = e.target.closest && e.target.closest("ol.rank-list > .rank-item");
    if (!li) return;
    dragged = li;
    li.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", li.dataset.option || "");
  });
  document.addEventListener("dragover", function (e) {
    var li = dragged && e.target.closest && e.target.closest("ol.rank-list > .rank-item");
    if (!li || li.parentElement !== dragged.parentElement) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    rows(li.parentElement).forEach(function (el) { el.classList.toggle("drop-target", el === li && el !== dragged); });
  });
  document.addEventListener("drop", function (e) {
    var li = dragged && e.target.closest && e.target.closest("ol.rank-list > .rank-item");
    if (!li || li.parentElement !== dragged.parentElement) return;
    e.preventDefault();
    if (li !== dragged) {
      var box = li.getBoundingClientRect();
      var after = e.clientY > box.top + box.height / 2;
      li.parentElement.insertBefore(dragged, after ? li.nextSibling : li);
      renumber(li.parentElement);
      announce(dragged);
      remember(li.parentElement);
    }
  });
  document.addEventListener("dragend", function () {
    if (!dragged) return;
    rows(dragged.parentElement).forEach(function (el) { el.classList.remove("drop-target"); });
    dragged.classList.remove("dragging");
    dragged = null;
  });

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (e) { enhance(e.detail.elt); });
})();

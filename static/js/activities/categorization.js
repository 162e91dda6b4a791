// The categorization board (SPEC §4.11) on top of its plain forms: one bucket open at a time (kept
// across live re-renders), Alt+Up/Down to reorder the focused idea, drag and drop onto a bucket,
// focus kept where it was when the board is replaced, and the "being moved" signal to the other
// facilitators. Without this file every bucket is listed open and each control is a form post.
(function () {
  "use strict";
  if (window.decideroBoard) return; // a boosted navigation may run this file again
  window.decideroBoard = true;
  var HOLD_EXPIRES_MS = 30000; // a "being moved" mark whose holder went quiet clears itself
  var open = {}; // board element id → dom id of the open bucket
  var held = null; // the item this page told the others it is moving

  function boards(root) {
    var found = Array.prototype.slice.call((root || document).querySelectorAll(".board"));
    if (root && root.classList && root.classList.contains("board")) found.push(root);
    return found;
  }

  function showBucket(board, dom) {
    var panes = board.querySelectorAll(".bucket-pane");
    if (!panes.length) return;
    var wanted = board.querySelector("#pane-" + CSS.escape(dom || "")) ? dom : panes[0].id.replace(/^pane-/, "");
    open[board.id] = wanted;
    board.classList.add("one-open");
    panes.forEach(function (pane) { pane.hidden = pane.id !== "pane-" + wanted; });
    board.querySelectorAll("[data-open-bucket]").forEach(function (a) {
      if (a.dataset.openBucket === wanted) a.setAttribute("aria-current", "true");
      else a.removeAttribute("aria-current");
    });
  }

  function enhance(root) {
    boards(root).forEach(function (board) { showBucket(board, open[board.id]); });
  }

  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("[data-open-bucket]");
    if (!link) return;
    var board = link.closest(".board");
    e.preventDefault();
    showBucket(board, link.dataset.openBucket);
    var title = board.querySelector("#pane-title-" + CSS.escape(link.dataset.openBucket));
    if (title) title.focus();
  });

  // Alt+Up / Alt+Down on a focused idea presses its Up / Down button.
  document.addEventListener("keydown", function (e) {
    if (!e.altKey || (e.key !== "ArrowUp" && e.key !== "ArrowDown")) return;
    var item = e.target.closest && e.target.closest(".board.editable .board-item");
    if (!item) return;
    var button = item.querySelector("#" + (e.key === "ArrowUp" ? "up-" : "down-") + CSS.escape(item.id.replace(/^item-/, "")));
    if (button) { e.preventDefault(); button.click(); }
  });

  // -- focus and open bucket survive the board being replaced (a live update, or our own answer) --
  var kept = null;
  document.addEventListener("htmx:oobBeforeSwap", function (e) {
    var board = e.detail && e.detail.target;
    if (!board || !board.classList || !board.classList.contains("board")) return;
    var active = document.activeElement;
    kept = active && board.contains(active) && active.id ? { id: active.id, value: active.value, board: board.id } : null;
  });
  document.addEventListener("htmx:oobAfterSwap", function (e) {
    var target = e.detail && e.detail.target;
    if (target && target.classList && target.classList.contains("holding")) expireLater(target);
    enhance(document); // a board may have come inside a swapped panel too
    var board = target && target.id && document.getElementById(target.id);
    if (!board || !board.classList.contains("board")) return;
    if (!kept || kept.board !== board.id) return;
    var again = document.getElementById(kept.id);
    if (again && again.tagName === "SELECT" && kept.value && again.querySelector("option[value='" + CSS.escape(kept.value) + "']")) {
      again.value = kept.value; // the choice someone was making when the board changed under them
    }
    if (again && again.offsetParent !== null) again.focus();
    else {
      var title = board.querySelector(".bucket-pane:not([hidden]) h3");
      if (title) title.focus();
    }
    kept = null;
  });

  // -- the "being moved" signal ---------------------------------------------------------------
  function token() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; } catch (err) { return ""; }
  }
  function signal(item, holding) {
    var board = item && item.closest(".board");
    if (!board) return;
    var body = new URLSearchParams({ item: item.dataset.item, holding: holding ? "1" : "0" });
    fetch(board.dataset.board + "/holding", { method: "POST", body: body, headers: { "X-CSRF-Token": token() }, credentials: "same-origin" });
  }
  function hold(item) {
    if (held === item.dataset.item) return;
    if (held) release();
    held = item.dataset.item;
    signal(item, true);
  }
  function release() {
    if (!held) return;
    var item = document.querySelector(".board-item[data-item='" + CSS.escape(held) + "']");
    held = null;
    if (item) signal(item, false);
  }
  document.addEventListener("focusin", function (e) {
    var select = e.target.closest && e.target.closest("[data-move-select]");
    if (select) hold(select.closest(".board-item"));
  });
  document.addEventListener("focusout", function (e) {
    var form = e.target.closest && e.target.closest(".move-form");
    if (!form || !held) return;
    setTimeout(function () { // focus moving to the form's own Move button keeps the item held
      if (!form.isConnected || !form.contains(document.activeElement)) release();
    }, 0);
  });
  function expireLater(mark) {
    if (!mark.textContent.trim()) return;
    var id = mark.id;
    setTimeout(function () {
      var now = document.getElementById(id);
      if (now && now.hasAttribute("data-held")) { now.textContent = ""; now.removeAttribute("data-held"); }
    }, HOLD_EXPIRES_MS);
  }

  // -- drag and drop onto a bucket (an enhancement of the Move to… select) ----------------------
  var dragged = null;
  document.addEventListener("dragstart", function (e) {
    var item = e.target.closest && e.target.closest(".board.editable .board-item");
    if (!item) return;
    dragged = item;
    item.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", item.dataset.item);
    hold(item);
  });
  function dropTarget(e) {
    var bucket = dragged && e.target.closest && e.target.closest(".bucket, .bucket-pane");
    return bucket && bucket.closest(".board") === dragged.closest(".board") ? bucket : null;
  }
  document.addEventListener("dragover", function (e) {
    var bucket = dropTarget(e);
    if (!bucket) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
  });
  document.addEventListener("drop", function (e) {
    var bucket = dropTarget(e);
    if (!bucket) return;
    e.preventDefault();
    var select = dragged.querySelector("[data-move-select]");
    if (!select || !select.querySelector("option[value='" + CSS.escape(bucket.dataset.bucket) + "']")) return;
    select.value = bucket.dataset.bucket;
    htmx.trigger(select.form, "submit");
  });
  document.addEventListener("dragend", function () {
    if (!dragged) return;
    dragged.classList.remove("dragging");
    dragged = null;
    release();
  });

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (e) { enhance(e.detail.elt); });
  document.addEventListener("htmx:afterSettle", function () { enhance(document); });
  enhance(document);
})();

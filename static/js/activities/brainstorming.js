// Brainstorming board behaviour on top of htmx: character counters, new rows placed in order
// (never twice, and only within the page of the board on screen), the author's own Edit/Delete
// after shared re-renders, the one reply form moved under the idea replied to, the viewer's own
// order after a shared re-render, auto-jump, submit retries. Without this file every form and link
// still works and a reload shows the board.
(function () {
  "use strict";
  if (window.decideroBrainstorming) return;
  window.decideroBrainstorming = true;

  var RETRY_STATUSES = [0, 429, 502, 503, 504];
  var MAX_RETRIES = 3;
  var mine = {}; // idea row id → true: rows this browser knows to be the viewer's own

  function meetingId() {
    var room = document.getElementById("room");
    return room ? room.dataset.meeting : "";
  }
  function stored(name, fallback) {
    try { var v = localStorage.getItem("decidero:" + name + ":" + meetingId()); return v === null ? fallback : v; }
    catch (e) { return fallback; }
  }
  function store(name, value) {
    try { localStorage.setItem("decidero:" + name + ":" + meetingId(), value); } catch (e) { /* private mode */ }
  }
  function order() { return stored("idea-order", "newest"); }
  function autoJump(table) { return stored("auto-jump", table && table.dataset.autoJump === "0" ? "0" : "1") === "1"; }

  // -- composer: counter and "Submit Idea" disabled while empty -----------------------------
  function syncForm(form) {
    var area = form.querySelector("textarea[name=content]");
    if (!area) return;
    var count = form.querySelector("[data-count]");
    if (count) count.textContent = area.value.length;
    var button = form.querySelector("button[type=submit]");
    if (button && !form.classList.contains("idea-edit")) button.disabled = !area.value.trim();
  }
  document.addEventListener("input", function (e) {
    var form = e.target.closest && e.target.closest("form[data-idea-form], form.idea-edit");
    if (form) syncForm(form);
  });

  // -- placing rows: a row the page lacks gets a placeholder where it belongs; htmx then swaps the
  //    row in by id, so a duplicate or replayed event replaces instead of adding ---------------
  function before(container, el) {
    var items, i;
    if (el.tagName === "TBODY") {
      var newest = (container.dataset.order || "newest") === "newest";
      var n = +el.dataset.number;
      items = container.querySelectorAll(":scope > tbody.idea-group");
      for (i = 0; i < items.length; i++) {
        var m = +items[i].dataset.number;
        if (newest ? m < n : m > n) return items[i];
      }
      return null;
    }
    items = container.querySelectorAll(":scope > tr.comment");
    for (i = 0; i < items.length; i++) if (+items[i].dataset.sub > +el.dataset.sub) return items[i];
    return null;
  }

  // A board shows one page: an idea belongs on it unless the board is filtered (the server decides
  // what matches) or the idea lies beyond the page's far end while more ideas wait behind "Show N
  // earlier ideas". So new ideas arrive at the top, and unhiding an idea off the page shows nothing.
  function onThisPage(table, n) {
    var board = table.closest(".idea-board");
    if (board && board.hasAttribute("data-filtered")) return false;
    var more = board && board.querySelector(".idea-more");
    if (!more || more.hidden) return true;
    var newest = (table.dataset.order || "newest") === "newest";
    var groups = table.querySelectorAll(":scope > tbody.idea-group");
    if (!groups.length) return true;
    var edge = +groups[groups.length - 1].dataset.number;
    return newest ? n > edge : n < edge;
  }

  // Where updates of rows that are not on this page land, out of sight, until the next refresh.
  function parking() {
    var lot = document.getElementById("idea-parking");
    if (!lot) {
      lot = document.createElement("div");
      lot.id = "idea-parking";
      lot.hidden = true;
      document.body.appendChild(lot);
    }
    return lot;
  }

  var fresh = [];
  function placeholders(html) {
    if (!html || html.indexOf("data-idea-oob") === -1) return;
    var holder = document.createElement("template");
    holder.innerHTML = html;
    var found = [];
    holder.content.querySelectorAll("template").forEach(function (t) {
      found.push.apply(found, t.content.querySelectorAll("[data-idea-oob]"));
    });
    found.forEach(function (el) {
      if (!el.id || document.getElementById(el.id)) return;
      var into = el.getAttribute("data-insert-into");
      var container = into ? document.querySelector(into) : null;
      var spot = document.createElement(el.tagName.toLowerCase());
      spot.id = el.id;
      spot.hidden = true;
      spot.dataset.number = el.dataset.number || "";
      spot.dataset.sub = el.dataset.sub || "0";
      if (container && (el.tagName !== "TBODY" || onThisPage(container, +el.dataset.number))) {
        container.insertBefore(spot, before(container, spot));
        if (el.tagName === "TBODY") fresh.push(el.id);
      } else {
        parking().appendChild(spot); // an idea off this page, or a removal of a row it never had
      }
    });
  }
  document.addEventListener("htmx:sseBeforeMessage", function (e) { placeholders(e.detail && e.detail.data); });
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (retryable(e)) return;
    if (e.detail.shouldSwap) placeholders(e.detail.serverResponse);
  });

  // -- the viewer's own rows: Edit/Delete come back after a shared re-render ----------------
  function ownControls(row) {
    var panel = row.closest(".brainstorm");
    var tpl = panel && panel.querySelector("template.own-controls");
    var slot = row.querySelector(".own-slot");
    if (!tpl || !slot || row.classList.contains("is-hidden")) return;
    var html = tpl.innerHTML.split("__ID__").join(row.id.replace("idea-", "")).split("__LABEL__").join(row.dataset.label);
    slot.innerHTML = html;
    var area = slot.querySelector("textarea");
    var text = row.querySelector(".idea-text");
    if (area && text) area.value = text.textContent;
    row.classList.add("mine");
    if (window.htmx) htmx.process(slot);
  }

  // -- order: the server renders the page in the viewer's order (remembered per meeting); a
  //    board re-rendered for everyone (a live panel swap) comes newest first, so a viewer who
  //    reads oldest first fetches their own view of it ------------------------------------------
  function keepOrder(board) {
    if (board.hasAttribute("data-own-view")) { store("idea-order", board.dataset.order); return; }
    if (board.dataset.order === order() || board.dataset.fetching) return;
    board.dataset.fetching = "1";
    var activity = board.id.replace("board-", "");
    htmx.ajax("GET", "/meeting/" + encodeURIComponent(meetingId()) + "/activities/" + encodeURIComponent(activity) + "/ideas",
      { target: board, swap: "outerHTML" });
  }

  function refresh() {
    var lot = document.getElementById("idea-parking");
    if (lot) lot.textContent = "";
    document.querySelectorAll("tr.idea-row.mine").forEach(function (row) { mine[row.id] = true; });
    document.querySelectorAll("tr.idea-row:not(.mine)").forEach(function (row) { if (mine[row.id]) ownControls(row); });
    document.querySelectorAll(".idea-board[id]").forEach(function (board) {
      if (window.htmx) keepOrder(board);
      var table = board.querySelector("table.ideas");
      var empty = table && table.querySelector(":scope > tbody.ideas-empty");
      if (empty) empty.hidden = board.hasAttribute("data-filtered") || !!table.querySelector(":scope > tbody.idea-group:not([hidden])");
      var jump = board.querySelector("[data-auto-jump-box]");
      if (jump) { jump.hidden = false; jump.querySelector("input").checked = autoJump(table); }
    });
    document.querySelectorAll("form[data-idea-form]").forEach(syncForm);
    document.querySelectorAll("time[data-local-time]:not([data-shown])").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) el.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      el.setAttribute("data-shown", "");
    });
    var jumped = false;
    fresh.splice(0).forEach(function (id) {
      var group = document.getElementById(id);
      if (!group || group.hidden) return;
      group.classList.add("is-new");
      setTimeout(function () { group.classList.remove("is-new"); }, 2000);
      if (!jumped && autoJump(group.closest("table")) && !group.closest(".panel.inactive")) {
        jumped = true;
        // Someone writing keeps their place: a "new ideas" button offers the jump instead.
        if (writing()) offerJump(group);
        else group.scrollIntoView({ block: "nearest", behavior: "smooth" });
      }
    });
  }

  function writing() {
    var el = document.activeElement;
    return !!(el && el.tagName === "TEXTAREA" && el.closest("form[data-idea-form], form.idea-edit"));
  }
  function offerJump(group) {
    var board = group.closest(".brainstorm");
    var pill = board && board.querySelector("[data-new-ideas]");
    if (!pill) return;
    var count = (+pill.dataset.count || 0) + 1;
    pill.dataset.count = String(count);
    pill.dataset.target = group.id;
    pill.textContent = count === 1 ? "1 new idea" : count + " new ideas";
    pill.hidden = false;
  }
  document.addEventListener("click", function (e) {
    var pill = e.target.closest && e.target.closest("[data-new-ideas]");
    if (!pill) return;
    var group = document.getElementById(pill.dataset.target || "");
    pill.hidden = true;
    pill.dataset.count = "0";
    if (group) group.scrollIntoView({ block: "center", behavior: "smooth" });
  });
  var pending = false;
  function soon() {
    if (pending) return;
    pending = true;
    setTimeout(function () { pending = false; refresh(); }, 0);
  }
  ["htmx:afterSettle", "htmx:oobAfterSwap", "htmx:afterSwap", "htmx:sseMessage"].forEach(function (name) {
    document.addEventListener(name, soon);
  });

  // -- Reply: the board's one reply form, under the idea replied to, with a fresh one-time key --
  function freshKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("a[data-reply]");
    if (!link) return;
    var row = link.closest("tr.idea-row");
    var panel = row && row.closest(".brainstorm");
    var tpl = panel && panel.querySelector("template.reply-template");
    if (!tpl) return; // follow the link: the page comes back with the form in place
    e.preventDefault();
    e.stopPropagation(); // before htmx boosts the link into a page load
    var old = document.getElementById(tpl.id.replace("reply-template-", "reply-form-"));
    if (old) old.remove();
    var holder = document.createElement("div");
    holder.innerHTML = tpl.innerHTML.split("__PARENT__").join(link.dataset.reply);
    var form = holder.firstElementChild;
    form.querySelector("input[name=client_token]").value = freshKey();
    row.querySelector(".idea-cell").appendChild(form);
    if (window.htmx) htmx.process(form);
    syncForm(form);
    form.querySelector("textarea").focus();
  }, true);
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("[data-auto-jump]")) store("auto-jump", e.target.checked ? "1" : "0");
  });

  // -- after a successful submit the composer comes back empty (keeping anything typed meanwhile) --
  var typedMeanwhile = {};
  document.addEventListener("htmx:configRequest", function (e) {
    var form = e.detail.elt;
    var area = form && form.matches && form.matches("form[data-idea-form]") && form.querySelector("textarea[name=content]");
    if (area) form.dataset.sent = area.value;
  });
  document.addEventListener("htmx:beforeSwap", function (e) {
    var form = e.detail.elt;
    if (!form || !form.matches || !form.matches("form[data-idea-form]") || !e.detail.shouldSwap) return;
    var area = form.querySelector("textarea[name=content]");
    if (area && area.value !== form.dataset.sent) typedMeanwhile[form.id] = area.value;
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    var form = e.detail.elt && e.detail.elt.id ? document.getElementById(e.detail.elt.id) : null;
    if (!form || !form.matches("form[data-idea-form]")) return;
    var area = form.querySelector("textarea[name=content]");
    if (area && typedMeanwhile[form.id] !== undefined && !form.querySelector(".error")) area.value = typedMeanwhile[form.id];
    delete typedMeanwhile[form.id];
    syncForm(form);
    if (area && e.detail.successful && !form.classList.contains("reply-form")) area.focus();
  });

  // -- deleting asks first, naming the comments that go with an idea --------------------------
  document.addEventListener("htmx:confirm", function (e) {
    var trigger = e.detail.triggeringEvent;
    var source = (trigger && trigger.submitter) || e.detail.elt; // the board's moderation form, or an own form
    if (!source.closest || !source.closest("[data-delete-idea]")) return;
    e.preventDefault();
    var row = source.closest("tr");
    var group = source.closest("tbody.idea-group");
    var comments = row && !row.classList.contains("comment") && group ? group.querySelectorAll("tr.comment").length : 0;
    var question = comments ? "Delete this idea and its " + comments + " comments?"
      : (row && row.classList.contains("comment") ? "Delete this comment?" : "Delete this idea?");
    if (window.confirm(question)) e.detail.issueRequest(true);
  });

  // -- a busy server or a lost connection: retry with the same one-time key --------------------
  function retryable(e) {
    var form = e.detail.elt;
    var xhr = e.detail.xhr;
    if (!form || !form.matches || !form.matches("form[data-idea-form]") || !xhr) return false;
    if (RETRY_STATUSES.indexOf(xhr.status) === -1) return false;
    e.detail.shouldSwap = false;
    retry(form);
    return true;
  }
  function retry(form) {
    var status = form.querySelector(".retry-status");
    var attempt = (+form.dataset.retries || 0) + 1;
    if (attempt > MAX_RETRIES) {
      form.dataset.retries = "0";
      if (status) { status.hidden = false; status.textContent = "Decidero is busy. Please try again in a moment."; }
      return;
    }
    form.dataset.retries = String(attempt);
    if (status) { status.hidden = false; status.textContent = "Connection busy. Retrying submit (" + attempt + ")…"; }
    var delay = Math.min(2500, 400 * Math.pow(2, attempt - 1)) * (1 + (Math.random() * 2 - 1) * 0.25);
    setTimeout(function () { htmx.trigger(form, "submit"); }, delay);
  }
  document.addEventListener("htmx:sendError", function (e) {
    var form = e.detail.elt;
    if (form && form.matches && form.matches("form[data-idea-form]")) retry(form);
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", refresh);
  else refresh();
})();

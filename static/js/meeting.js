// Meeting room behaviour on top of htmx + its SSE extension: connection pill, resume point,
// timers, follow-the-facilitator, revocation. Without this file the room still works by reloads.
(function () {
  "use strict";
  var room = document.getElementById("room");
  if (!room) return;
  var pill = document.getElementById("live-pill");
  var facilitator = room.dataset.facilitator === "1";
  var selected = room.dataset.selected || "";
  var manualChoiceAt = 0;
  var FOLLOW_GRACE_MS = 60000;
  var known = openPanels();

  function setPill(state, text) { pill.dataset.state = state; pill.textContent = text; }

  function visiblePanels() {
    return Array.prototype.map.call(document.querySelectorAll("#panels > .panel:not([hidden])"), function (p) { return p.dataset.activity; });
  }

  // Panels that are live for this viewer (facilitators can also open stopped ones by hand).
  function openPanels() {
    return Array.prototype.filter.call(document.querySelectorAll("#panels > .panel:not([hidden])"), function (p) {
      return p.dataset.state === "running" || p.dataset.state === "paused";
    }).map(function (p) { return p.dataset.activity; });
  }

  function showPanel(id) {
    var panels = document.querySelectorAll("#panels > .panel");
    var any = false;
    panels.forEach(function (p) { if (!p.hidden && p.dataset.activity === id) any = true; });
    if (!any) return false;
    selected = id;
    panels.forEach(function (p) { p.classList.toggle("inactive", p.dataset.activity !== id); });
    document.querySelectorAll("[data-open-panel]").forEach(function (a) {
      a.classList.toggle("current", a.dataset.openPanel === id);
    });
    return true;
  }

  function followFacilitator() {
    var now = openPanels();
    var fresh = now.filter(function (id) { return known.indexOf(id) === -1; });
    known = now;
    var recentlyChosen = Date.now() - manualChoiceAt < FOLLOW_GRACE_MS;
    if (fresh.length && !recentlyChosen) { showPanel(fresh[fresh.length - 1]); return; }
    if (!showPanel(selected)) showPanel(now[0] || visiblePanels()[0]);
  }

  function syncInputs() {
    if (facilitator) return;
    document.querySelectorAll("#panels > .panel").forEach(function (panel) {
      var head = panel.querySelector(".panel-head");
      var body = panel.querySelector(".panel-body");
      if (!head || !body) return;
      body.disabled = head.dataset.state !== "running" || head.dataset.timeUp === "1";
    });
  }

  // Timers tick locally from the server's figures until the next event replaces them.
  var timerBase = new WeakMap();
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function clock(s) {
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h ? h + ":" + pad(m) + ":" + pad(sec) : m + ":" + pad(sec);
  }
  function tick() {
    document.querySelectorAll(".timer").forEach(function (t) {
      if (!timerBase.has(t)) timerBase.set(t, performance.now());
      var running = t.dataset.running === "1";
      var passed = running ? (performance.now() - timerBase.get(t)) / 1000 : 0;
      var el = t.querySelector(".elapsed");
      if (el) el.textContent = clock(parseFloat(t.dataset.elapsed) + passed);
      var left = t.querySelector(".left");
      if (left && t.dataset.remaining !== undefined) {
        var remaining = parseFloat(t.dataset.remaining) - passed;
        left.textContent = remaining <= 0 ? "Time is up." : "Time left " + clock(remaining);
        if (remaining <= 0 && running) {
          var head = t.closest(".panel-head");
          if (head) { head.dataset.timeUp = "1"; syncInputs(); }
        }
      }
    });
  }
  setInterval(tick, 1000);

  function rememberEventId(id) {
    if (!id) return;
    var url = room.getAttribute("sse-connect").replace(/since=\d*/, "since=" + id);
    room.setAttribute("sse-connect", url);
  }

  function flash(message) {
    var box = document.getElementById("flash");
    if (box) { box.textContent = ""; var p = document.createElement("p"); p.className = "notice warning"; p.setAttribute("role", "alert"); p.textContent = message; box.appendChild(p); }
  }

  room.addEventListener("htmx:sseOpen", function () { setPill("connected", "Connected"); });
  room.addEventListener("htmx:sseError", function (e) {
    var source = e.detail && e.detail.source;
    if (source && source.readyState === EventSource.CLOSED) setPill("disconnected", "Disconnected");
    else setPill("reconnecting", "Reconnecting…");
  });
  room.addEventListener("htmx:sseMessage", function (e) {
    var msg = e.detail || {};
    rememberEventId(msg.lastEventId);
    if (msg.type === "access_revoked" || msg.type === "session_expired") {
      var data = {};
      try { data = JSON.parse(msg.data); } catch (err) { /* keep defaults */ }
      flash(data.message || "Your access to this meeting has been revoked.");
      var source = htmx.find(room) && room["htmx-internal-data"] && room["htmx-internal-data"].sseEventSource;
      if (source) source.close();
      var target = msg.type === "session_expired"
        ? "/login?message=session_expired&next=" + encodeURIComponent(location.pathname)
        : (data.to || "/dashboard");
      setTimeout(function () { location.assign(target); }, 1200);
    } else if (msg.type === "resync") {
      location.reload();
    }
  });
  document.body.addEventListener("htmx:afterSettle", function () { followFacilitator(); syncInputs(); tick(); });
  document.body.addEventListener("htmx:oobAfterSwap", function () { followFacilitator(); syncInputs(); });

  document.addEventListener("click", function (e) {
    var link = e.target.closest("[data-open-panel]");
    if (link && showPanel(link.dataset.openPanel)) {
      e.preventDefault();
      manualChoiceAt = Date.now();
      history.replaceState(null, "", "?activity=" + encodeURIComponent(link.dataset.openPanel));
    }
  });

  if (!showPanel(selected)) showPanel(known[known.length - 1] || visiblePanels()[0]);
  syncInputs();
  tick();
})();

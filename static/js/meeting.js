// Live pages (the meeting room, its activity log) on top of htmx + its SSE extension: a stream that
// reconnects forever from where it was, the connection pill, catching up after an outage; in the
// room also timers, follow-the-facilitator and revocation. Without this file the pages still work
// by reloads.
(function () {
  "use strict";
  var RETRY_CAP_MS = 30000;     // SPEC §4.14: backoff capped at 30 s, and reconnection never gives up
  var STALE_AFTER_MS = 10000;   // after more than 10 s disconnected…
  var REFETCH_EVERY_MS = 15000; // …live regions re-fetch every 15 s

  // Wait before reconnect attempt n (0, 1, …): doubling from 1 s up to the cap, jittered so a
  // restarted server is not met by every page in the same instant.
  function backoff(attempt) {
    var ceiling = Math.min(RETRY_CAP_MS, 1000 * Math.pow(2, Math.min(attempt, 15)));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  // An EventSource that keeps itself connected. The browser reconnects by itself after a network
  // error, but gives up (CLOSED) on an HTTP error such as a proxy's 502 during a restart; the SSE
  // extension then retries with a wait that doubles up to 64 s. This source reconnects on our
  // backoff instead and never reports CLOSED until closed, so the extension never retries itself.
  // New connections resume from the newest event id seen (the page's ?since=).
  function LiveSource(url) {
    var since = /[?&]since=(\d+)/.exec(url);
    this.url = url;
    this.lastId = since ? parseInt(since[1], 10) : 0;
    this.readyState = 0;
    this.withCredentials = true;
    this.onopen = this.onerror = this.onmessage = null;
    this.listeners = [];
    this.attempt = 0;
    this.timer = null;
    this.connect();
  }
  LiveSource.prototype.connect = function () {
    var self = this;
    var es = this.es = new EventSource(this.url.replace(/([?&]since=)\d*/, "$1" + this.lastId), { withCredentials: true });
    this.listeners.forEach(function (l) { es.addEventListener(l.type, l.wrapped); });
    es.onmessage = function (e) { self.advance(e.lastEventId); if (self.onmessage) self.onmessage(e); };
    es.onopen = function (e) {
      self.attempt = 0;
      self.readyState = 1;
      if (self.onopen) self.onopen(e);
    };
    es.onerror = function (e) {
      if (self.readyState === 2) return;
      self.readyState = 0;
      if (es.readyState === 2) {
        es.close();
        clearTimeout(self.timer);
        self.timer = setTimeout(function () { self.connect(); }, backoff(self.attempt++));
      }
      if (self.onerror) self.onerror(e);
    };
  };
  LiveSource.prototype.advance = function (id) {
    var n = parseInt(id, 10);
    if (n > this.lastId) this.lastId = n;
  };
  LiveSource.prototype.addEventListener = function (type, listener) {
    var self = this;
    var wrapped = function (e) { self.advance(e.lastEventId); return listener.call(this, e); };
    this.listeners.push({ type: type, listener: listener, wrapped: wrapped });
    this.es.addEventListener(type, wrapped);
  };
  LiveSource.prototype.removeEventListener = function (type, listener) {
    var es = this.es;
    this.listeners = this.listeners.filter(function (l) {
      if (l.type !== type || l.listener !== listener) return true;
      es.removeEventListener(type, l.wrapped);
      return false;
    });
  };
  LiveSource.prototype.close = function () {
    this.readyState = 2;
    clearTimeout(this.timer);
    this.es.close();
  };
  LiveSource.CONNECTING = 0; LiveSource.OPEN = 1; LiveSource.CLOSED = 2;

  if (window.htmx && !(htmx.createEventSource && htmx.createEventSource.liveSource)) {
    htmx.createEventSource = function (url) { return new LiveSource(url); };
    htmx.createEventSource.liveSource = true;
  }

  var host = document.querySelector("[sse-connect]");
  if (!host) return;

  function source() {
    var data = host["htmx-internal-data"];
    return data && data.sseEventSource;
  }

  // A boosted navigation may have connected before this script ran, with the extension's own
  // source: connect again through ours (re-processing the changed elements makes the extension
  // open a new source and re-attach its listeners to it).
  var first = source();
  if (first && !(first instanceof LiveSource)) {
    first.close();
    [host].concat(Array.prototype.slice.call(host.querySelectorAll("[sse-swap], [hx-trigger*='sse:']"))).forEach(function (el) {
      el.setAttribute("data-live-source", "own");
    });
    htmx.process(host);
  }

  // -- connection state: pill, and catching up while disconnected --------------------------------
  var pill = document.getElementById("live-pill");
  if (pill) pill.hidden = false;
  var down = false;
  var staleTimer = null;
  var ended = false;

  function setPill(state, text) {
    if (pill) { pill.dataset.state = state; pill.textContent = text; }
  }
  function connected() {
    down = false;
    clearTimeout(staleTimer);
    setPill("connected", "Connected");
  }
  function lost() {
    if (ended || down) return;
    down = true;
    setPill("reconnecting", "Reconnecting…");
    staleTimer = setTimeout(stale, STALE_AFTER_MS + 1);
  }
  function stale() {
    if (!document.body.contains(host)) return;
    setPill("disconnected", "Disconnected");
    refetch(true);
    staleTimer = setTimeout(stale, REFETCH_EVERY_MS);
  }
  // Every live region re-fetches itself; ``changedOnly`` lets it skip the work when nothing happened.
  function refetch(changedOnly) {
    htmx.trigger(document.body, "live-refetch", { changedOnly: changedOnly, since: (source() || {}).lastId || 0 });
  }
  function end() {
    ended = true;
    clearTimeout(staleTimer);
    var current = source();
    if (current) current.close();
    setPill("disconnected", "Disconnected");
  }

  host.addEventListener("htmx:sseError", lost);
  host.addEventListener("htmx:sseOpen", connected);
  host.addEventListener("htmx:sseMessage", function (e) {
    var type = e.detail && e.detail.type;
    if (type === "hello") connected();
    else if (type === "resync") refetch(false);
  });

  var room = document.getElementById("room");
  if (!room) return;
  var sink = document.getElementById("live-sink");
  var facilitator = room.dataset.facilitator === "1";
  var selected = room.dataset.selected || "";
  var manualChoiceAt = 0;
  var FOLLOW_GRACE_MS = 60000;
  var known = openPanels();

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

  function panel(id) { return document.getElementById("panel-" + id); }
  function titleOf(id) { var p = panel(id); return p ? "“" + (p.dataset.title || "") + "”" : "The activity"; }

  // A newly opened activity is brought into view with a short visible cue (phones put it first, but
  // the viewer may have scrolled down the ideas or the agenda).
  function bringIntoView(id) {
    var p = panel(id);
    if (!p) return;
    p.classList.remove("just-opened");
    void p.offsetWidth; // restart the animation
    p.classList.add("just-opened");
    var cue = p.querySelector(".opened-cue");
    if (cue) { cue.hidden = false; setTimeout(function () { cue.hidden = true; }, 6000); }
    var box = p.getBoundingClientRect();
    if (box.top < 0 || box.top > window.innerHeight * 0.5) {
      var still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      p.scrollIntoView({ block: "start", behavior: still ? "auto" : "smooth" });
    }
  }

  function followFacilitator() {
    var now = openPanels();
    var fresh = now.filter(function (id) { return known.indexOf(id) === -1; });
    var gone = known.filter(function (id) { return now.indexOf(id) === -1; });
    known = now;
    gone.forEach(function (id) {
      var p = panel(id);
      // Still live, but no longer shown to this participant: their sub-roster changed (SPEC §4.7).
      if (!facilitator && p && p.hidden && (p.dataset.state === "running" || p.dataset.state === "paused")) {
        flash("You are no longer assigned to this activity.");
      }
    });
    var recentlyChosen = Date.now() - manualChoiceAt < FOLLOW_GRACE_MS;
    if (fresh.length && !recentlyChosen) {
      var id = fresh[fresh.length - 1];
      showPanel(id);
      if (!facilitator) bringIntoView(id);
      return;
    }
    if (!showPanel(selected)) showPanel(now[0] || visiblePanels()[0]);
  }

  // -- announcements for screen readers: polite, and at most one every few seconds -----------------
  var ANNOUNCE_EVERY_MS = 4000;
  var announcer = document.getElementById("announcer");
  var said = [];
  var newIdeas = 0;
  var sayTimer = null;
  var saidAt = 0;
  function say(text) { said.push(text); sayLater(); }
  function sayLater() {
    if (sayTimer || !announcer) return;
    sayTimer = setTimeout(function () {
      sayTimer = null;
      saidAt = Date.now();
      if (newIdeas) said.push(newIdeas === 1 ? "1 new idea." : newIdeas + " new ideas.");
      newIdeas = 0;
      if (said.length) announcer.textContent = said.splice(0).join(" ");
    }, Math.max(300, saidAt + ANNOUNCE_EVERY_MS - Date.now()));
  }
  var STATE_WORDS = { running: "is open now.", paused: "is paused.", stopped: "has stopped." };
  var panelStates = {};
  function announceStates() {
    document.querySelectorAll("#panels > .panel").forEach(function (p) {
      var head = p.querySelector(".panel-head");
      var state = p.hidden ? "hidden" : (head ? head.dataset.state : p.dataset.state);
      var before = panelStates[p.dataset.activity];
      panelStates[p.dataset.activity] = state;
      if (before === undefined || before === state || !STATE_WORDS[state]) return;
      if (!facilitator && state === "stopped") return; // participants see it close instead
      say(titleOf(p.dataset.activity) + " " + STATE_WORDS[state]);
    });
  }

  // "Results are in: …" once per newly revealed result (the region is re-rendered on many events).
  function noticeOf() {
    var notice = document.querySelector("#reveal:not([hidden]) .reveal-notice");
    return notice ? notice.textContent.trim() : "";
  }
  var revealed = noticeOf();
  function announceReveal() {
    var now = noticeOf();
    if (now && now !== revealed) say(now);
    revealed = now;
  }

  // -- <details> (the agenda fold, "More" menus) stay open across live re-renders ----------------
  var openDetails = {};
  document.body.addEventListener("htmx:oobBeforeSwap", function (e) {
    var target = e.detail && e.detail.target;
    if (!target || !target.querySelectorAll) return;
    target.querySelectorAll("details[id]").forEach(function (d) { openDetails[d.id] = d.open; });
  });
  function syncAgendaSummary() {
    var agenda = document.getElementById("agenda");
    var count = document.querySelector("#agenda-summary [data-agenda-count]");
    if (agenda && count && agenda.dataset.summary) count.textContent = agenda.dataset.summary;
  }
  function reopenDetails() {
    syncAgendaSummary();
    Object.keys(openDetails).forEach(function (id) {
      var d = document.getElementById(id);
      if (d && openDetails[id]) d.open = true;
    });
    openDetails = {};
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

  function flash(message) {
    var box = document.getElementById("flash");
    if (box) { box.textContent = ""; var p = document.createElement("p"); p.className = "notice warning"; p.setAttribute("role", "alert"); p.textContent = message; box.appendChild(p); }
  }

  room.addEventListener("htmx:sseMessage", function (e) {
    var msg = e.detail || {};
    if (msg.type === "idea_created") { newIdeas++; sayLater(); }
    if (msg.type === "access_revoked" || msg.type === "session_expired") {
      var data = {};
      try { data = JSON.parse(msg.data); } catch (err) { /* keep defaults */ }
      flash(data.message || "Your access to this meeting has been revoked.");
      end();
      var target = msg.type === "session_expired"
        ? "/login?message=session_expired&next=" + encodeURIComponent(location.pathname)
        : (data.to || "/dashboard");
      setTimeout(function () { location.assign(target); }, 1200);
    }
  });

  // The room's regions re-fetch as one request (a fragment of the page's own URL). Events that
  // arrive meanwhile are held and applied after it, newer ones only: applying them first would let
  // the older answer overwrite them.
  var fetching = false;
  var fetchedAt = 0;
  var held = [];
  var LOGGED = /^(replay|presence|activity_state|activity_roster|agenda_changed|results_published|meeting_updated|roster_changed|idea_created|idea_updated|idea_deleted|votes_changed|rankings_changed|board_changed)$/;

  document.body.addEventListener("live-refetch", function (e) {
    if (fetching || !document.body.contains(room)) return;
    fetching = true;
    fetchedAt = 0;
    var url = "/meeting/" + encodeURIComponent(room.dataset.meeting) + (e.detail.changedOnly ? "?since=" + e.detail.since : "");
    htmx.ajax("GET", url, { source: sink, target: sink, swap: "none" }).then(release, release);
  });
  sink.addEventListener("htmx:sseBeforeMessage", function (e) {
    if (fetching && LOGGED.test(e.detail.type)) { held.push(e.detail); e.preventDefault(); }
  });
  sink.addEventListener("htmx:afterRequest", function (e) {
    var xhr = e.detail && e.detail.xhr;
    var since = xhr && parseInt(xhr.getResponseHeader("X-Decidero-Since") || "", 10);
    if (since && e.detail.successful) fetchedAt = since;
  });
  function release() {
    fetching = false;
    var current = source();
    if (current && current.advance) current.advance(fetchedAt);
    held.splice(0).forEach(function (msg) {
      if (!(parseInt(msg.lastEventId, 10) > fetchedAt)) return;
      htmx.swap(sink, msg.data, { swapStyle: "none" }, { contextElement: sink });
      htmx.trigger(sink, "htmx:sseMessage", msg);
    });
  }

  document.body.addEventListener("htmx:afterSettle", function () { reopenDetails(); followFacilitator(); syncInputs(); announceStates(); tick(); });
  document.body.addEventListener("htmx:oobAfterSwap", function () { reopenDetails(); followFacilitator(); syncInputs(); announceStates(); announceReveal(); });

  document.addEventListener("click", function (e) {
    var link = e.target.closest("[data-open-panel]");
    if (link && showPanel(link.dataset.openPanel)) {
      e.preventDefault();
      manualChoiceAt = Date.now();
      history.replaceState(null, "", "?activity=" + encodeURIComponent(link.dataset.openPanel));
    }
  });

  // Wide screens show the agenda beside the activity; phones keep it to one line until tapped.
  var fold = document.getElementById("agenda-fold");
  if (fold && window.matchMedia("(min-width: 701px)").matches) fold.open = true;

  if (!showPanel(selected)) showPanel(known[known.length - 1] || visiblePanels()[0]);
  announceStates();
  syncInputs();
  tick();
})();

// The AI designer's chat: a reply that is owed streams in over SSE, token by token (SPEC §4.16).
// Without this file the message form waits for the whole reply instead.
(function () {
  "use strict";
  function stream(bubble) {
    if (bubble.dataset.streaming) return;
    bubble.dataset.streaming = "1";
    var text = bubble.querySelector(".reply-text");
    var source = new EventSource(bubble.dataset.stream);
    function finish() {
      source.close();
      bubble.classList.remove("pending");
      bubble.removeAttribute("aria-busy");
    }
    // A reconnect starts the reply again from its beginning.
    source.addEventListener("open", function () { text.textContent = ""; });
    source.addEventListener("token", function (e) { text.textContent += JSON.parse(e.data); });
    source.addEventListener("done", finish);
    source.addEventListener("failure", function (e) {
      finish();
      text.textContent = JSON.parse(e.data);
      bubble.classList.replace("assistant", "error");
      bubble.setAttribute("role", "alert");
    });
  }
  function scan(root) { root.querySelectorAll("[data-stream]").forEach(stream); }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSettle", function () { scan(document); });
})();

// Small enhancements only; every page works without this file.
(function () {
  "use strict";
  // Show <time datetime> values in the reader's local time.
  function localiseTimes(root) {
    root.querySelectorAll("time[datetime][data-local]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) el.textContent = d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localiseTimes(document); });
  document.addEventListener("htmx:afterSwap", function (e) { localiseTimes(e.target); });
  // A file field with data-max-bytes refuses a larger file before a byte is sent (the server
  // refuses it too, but only after the upload has started).
  document.addEventListener("change", function (e) {
    var input = e.target;
    if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) return;
    var file = input.files && input.files[0];
    input.setCustomValidity(file && file.size > Number(input.dataset.maxBytes) ? input.dataset.tooLarge : "");
    input.reportValidity();
  });
  // Notices (refusals shown in #flash, collision warnings) close with their ✕ / Cancel button.
  document.addEventListener("click", function (e) {
    var button = e.target.closest("[data-dismiss]");
    if (button && button.closest(".notice")) button.closest(".notice").remove();
  });
})();

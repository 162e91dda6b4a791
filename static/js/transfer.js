// Transfer Ideas draft (SPEC §4.12): the transform switch asks first, and a commit cancels a pending
// autosave (which would bring the draft back after the commit spent it). Autosave itself is htmx
// (`hx-trigger="input … delay:1500ms"`). Without this file the page asks on the server instead.
(function () {
  "use strict";
  if (window.decideroTransfer) return; // a boosted navigation may run this file again
  window.decideroTransfer = true;
  document.addEventListener("click", function (e) {
    var target = e.target.closest && e.target.closest("#transfer button");
    if (!target) return;
    if (target.dataset.confirm) {
      if (!window.confirm(target.dataset.confirm)) { e.preventDefault(); e.stopPropagation(); return; }
      target.value = "transform-confirmed";
    }
    if (target.name === "commit") {
      var pending = document.querySelector("#transfer [data-autosave]");
      if (pending) pending.remove();
    }
  }, true);
})();

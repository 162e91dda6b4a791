// Sign-in that rides out a crowd (SPEC §5.5): when the server answers 429 or 503 (every password
// hashing thread busy, or a lockout), the page waits (Retry-After, else 450–1800 ms), shows the
// countdown, and tries again, twice at most. Any other answer is shown as the server rendered it; a
// success goes where the server sent it. Without this file the form posts as a plain form.
(function () {
  "use strict";
  if (window.decideroLogin) return;
  window.decideroLogin = true;

  var RETRIES = 2;
  var FIRST_MS = 450, LAST_MS = 1800;

  function wait(response, attempt) {
    var seconds = parseInt(response.headers.get("Retry-After") || "", 10);
    var backoff = Math.min(LAST_MS, FIRST_MS * Math.pow(2, attempt)) * (0.75 + Math.random() * 0.5);
    return Math.max(backoff, isNaN(seconds) ? 0 : seconds * 1000);
  }

  function countdown(status, message, ms, done) {
    var until = Date.now() + ms;
    function tick() {
      var left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      status.hidden = false;
      status.textContent = message + " Retrying in " + left + " s…";
      if (Date.now() >= until) { done(); return; }
      setTimeout(tick, Math.min(250, until - Date.now()));
    }
    tick();
  }

  // The server's own page for this answer (a refusal, a form error), in place of this one.
  function show(html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    document.title = page.title;
    document.body.replaceWith(document.adoptNode(page.body));
    if (window.htmx) htmx.process(document.body);
  }

  function messageOf(html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var error = page.querySelector(".form-error");
    return error ? error.textContent.trim() : "Decidero is busy. Please try again in a moment.";
  }

  function send(form, attempt) {
    var status = form.parentNode.querySelector(".login-retry");
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" }).then(function (response) {
      if (response.redirected) { location.assign(response.url); return; }
      return response.text().then(function (html) {
        if ((response.status === 429 || response.status === 503) && attempt < RETRIES && status) {
          countdown(status, messageOf(html), wait(response, attempt), function () { send(form, attempt + 1); });
          return;
        }
        show(html);
      });
    }, function () {
      button.disabled = false;
      form.submit(); // the network failed: let the browser try the plain form and show what happens
    });
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.matches || !form.matches("form[data-login]") || !window.fetch || !window.DOMParser) return;
    e.preventDefault();
    send(form, 0);
  });
})();

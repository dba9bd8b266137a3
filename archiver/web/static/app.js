// social-archiver: the only script the pages load (the Content-Security-Policy
// allows no inline script). It follows a running export and asks before a release.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var progress = document.querySelector("[data-export-status-url]");
  if (progress) {
    followExport(progress);
  }
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });
});

function followExport(element) {
  var url = element.getAttribute("data-export-status-url");
  var state = element.querySelector("[data-state]");
  var bar = element.querySelector("progress");
  var note = element.querySelector("[data-note]");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (job) {
        if (state) { state.textContent = job.status; }
        if (bar && job.total) { bar.max = job.total; bar.value = job.done || 0; }
        if (note) { note.textContent = job.message || ""; }
        if (job.status === "running" || job.status === "queued") {
          window.setTimeout(poll, 1000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
}

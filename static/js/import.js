/* Follows an import until it has finished, then shows its report. */
(function () {
  "use strict";
  var section = document.getElementById("import-progress");
  // "checked" too: after "Import", the page waits for the job to pick the file up.
  if (!section || ["queued", "running", "checked"].indexOf(section.dataset.status) < 0) { return; }
  function poll() {
    fetch(section.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        var bar = document.getElementById("import-bar");
        if (bar) { bar.max = p.total; bar.value = Math.min(p.done, p.total); }
        if (p.status !== section.dataset.status) { window.location.reload(); } else { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();

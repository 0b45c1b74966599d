/* Follows an alert's deliveries until every one is finished. */
(function () {
  "use strict";
  var section = document.getElementById("progress");
  function update() {
    fetch(section.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        var s = p.by_status;
        var gone = (s.delivered || 0) + (s.sent || 0);
        document.getElementById("sent").textContent = gone;
        document.getElementById("delivered").textContent = s.delivered || 0;
        document.getElementById("total").textContent = p.total;
        document.getElementById("status").textContent = p.status_label;
        var top = document.getElementById("alert-status");
        if (top) { top.textContent = p.status_label; }
        // Its line in the thread too ("sending" under "finished sending": an outside check).
        var inThread = document.getElementById("thread-status");
        if (inThread) { inThread.textContent = p.status_label; }
        var held = document.getElementById("held");
        held.hidden = !p.held;
        held.textContent = p.held ? held.dataset.words.replace("{count}", p.held)
          .replace("{until}", p.held_until) : "";
        var bar = document.getElementById("progress-bar");
        bar.max = p.total || 1; bar.value = gone;
        ["sms", "voice", "email"].forEach(function (channel) {
          var c = p.by_channel[channel] || {};
          var row = document.querySelector('tr[data-channel="' + channel + '"]');
          row.querySelector(".queued").textContent = (c.queued || 0) + (c.sending || 0) + (c.unknown || 0);
          row.querySelector(".sent").textContent = c.sent || 0;
          row.querySelector(".delivered").textContent = c.delivered || 0;
          row.querySelector(".failed").textContent = c.failed || 0;
          row.querySelector(".possibly_sent").textContent = c.possibly_sent || 0;
          row.querySelector(".cancelled").textContent = c.cancelled || 0;
        });
        // The alert is marked sent just after its last delivery: wait for both.
        if (p.status === "pending_approval" || p.status === "scheduled") {
          setTimeout(update, 3000);  // waiting for a supervisor or its time: keep watching
        } else if (p.finished && p.status !== "sending") {
          var form = document.getElementById("cancel-form");
          if (form) { form.hidden = true; }
          document.getElementById("progress-announce").textContent =
            section.dataset.finished.replace("{sent}", gone).replace("{total}", p.total)
              .replace("{delivered}", s.delivered || 0);
        } else {
          setTimeout(update, 1000);
        }
      })
      .catch(function () { setTimeout(update, 3000); });
  }
  update();
})();

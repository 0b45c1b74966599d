/* Follows an alert's deliveries until every one is finished. */
(function () {
  "use strict";
  var section = document.getElementById("progress");
  // Counts as the page writes them: 7,334, not 7334 (an outside check).
  function n(count) { return Number(count || 0).toLocaleString("en-GB"); }
  function update() {
    fetch(section.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        var s = p.by_status;
        var gone = (s.delivered || 0) + (s.sent || 0);
        document.getElementById("sent").textContent = n(gone);
        document.getElementById("delivered").textContent = n(s.delivered);
        document.getElementById("total").textContent = n(p.total);
        document.getElementById("status").textContent = p.status_label;
        var top = document.getElementById("alert-status");
        if (top) { top.textContent = p.status_label; }
        // Its line in the thread too ("sending" under "finished sending": an outside check).
        var inThread = document.getElementById("thread-status");
        if (inThread) { inThread.textContent = p.status_label; }
        var held = document.getElementById("held");
        held.hidden = !p.held;
        held.textContent = p.held ? held.dataset.words.replace("{count}", n(p.held))
          .replace("{until}", p.held_until) : "";
        var retrying = document.getElementById("retrying");
        retrying.hidden = !p.retrying;
        retrying.querySelector(".words").textContent = p.retrying
          ? retrying.dataset.words.replace("{count}", n(p.retrying)) : "";
        retrying.querySelector(".reason").textContent = p.retry_reason || "";
        var unanswered = document.getElementById("unanswered");
        unanswered.hidden = !s.unknown;
        unanswered.textContent = s.unknown
          ? unanswered.dataset.words.replace("{count}", n(s.unknown)) : "";
        var possibly = document.getElementById("possibly-sent");
        possibly.hidden = !s.possibly_sent;
        possibly.textContent = s.possibly_sent
          ? possibly.dataset.words.replace("{count}", n(s.possibly_sent)) : "";
        var bar = document.getElementById("progress-bar");
        bar.max = p.total || 1; bar.value = gone;
        ["sms", "voice", "email"].forEach(function (channel) {
          var c = p.by_channel[channel] || {};
          var row = document.querySelector('tr[data-channel="' + channel + '"]');
          row.querySelector(".queued").textContent = n((c.queued || 0) + (c.sending || 0) + (c.unknown || 0));
          row.querySelector(".sent").textContent = n(c.sent);
          row.querySelector(".delivered").textContent = n(c.delivered);
          row.querySelector(".failed").textContent = n(c.failed);
          row.querySelector(".possibly_sent").textContent = n(c.possibly_sent);
          row.querySelector(".cancelled").textContent = n(c.cancelled);
        });
        // The alert is marked sent just after its last delivery: wait for both.
        if (p.status === "pending_approval" || p.status === "scheduled") {
          setTimeout(update, 3000);  // waiting for a supervisor or its time: keep watching
        } else if (p.finished && p.status !== "sending") {
          var form = document.getElementById("cancel-form");
          if (form) { form.hidden = true; }
          document.getElementById("progress-announce").textContent =
            section.dataset.finished.replace("{sent}", n(gone)).replace("{total}", n(p.total))
              .replace("{delivered}", n(s.delivered));
        } else {
          setTimeout(update, 1000);
        }
      })
      .catch(function () { setTimeout(update, 3000); });
  }
  update();
})();

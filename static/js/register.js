/* Show each contact field only when its channel is ticked (all show without JavaScript). */
(function () {
  "use strict";
  document.querySelectorAll("[data-reveal-for]").forEach(function (panel) {
    var box = document.getElementById(panel.dataset.revealFor);
    function sync() { panel.hidden = !box.checked; }
    box.addEventListener("change", sync);
    sync();
  });
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();

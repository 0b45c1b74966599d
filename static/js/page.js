/* Every page: a form sent back with mistakes has its summary of them focused, so a
   keyboard or screen reader starts there (GOV.UK's pattern); only the sign-up page
   did, and "my alerts" left focus on the page after a refusal (an outside check). */
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();

/* Show each contact field only when its channel is ticked (all show without JavaScript). */
(function () {
  "use strict";
  document.querySelectorAll("[data-reveal-for]").forEach(function (panel) {
    var box = document.getElementById(panel.dataset.revealFor);
    function sync() { panel.hidden = !box.checked; }
    box.addEventListener("change", sync);
    sync();
  });
  // Show the place a postcode is in as soon as it is typed, so a wrong one is caught.
  var postcode = document.getElementById("postcode");
  var place = document.getElementById("postcode-place");
  // The statement agreed to: this place's forces' once the postcode is known, else the
  // one the page came with; the form says which it shows (consent_for).
  var statement = document.getElementById("consent-statement");
  var shownFor = document.getElementById("consent-for");
  var shownKey = document.getElementById("consent-key");
  var first = statement && shownFor && shownKey &&
    { consent: statement.textContent, consent_for: shownFor.value, consent_key: shownKey.value };
  function showStatement(found) {
    if (!first) { return; }
    var shown = found || first;
    statement.textContent = shown.consent;
    shownFor.value = shown.consent_for;
    shownKey.value = shown.consent_key;
  }
  if (postcode && place) {
    var check = function () {
      var value = postcode.value.trim();
      if (value.length < 5) { place.textContent = ""; showStatement(null); return; }
      fetch(postcode.dataset.placeUrl + "?postcode=" + encodeURIComponent(value),
            { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (found) {
          place.textContent = found.error ? found.error :
            (found.place ? found.postcode + ": " + found.place : found.postcode) + ". " +
            (found.forces ? found.forces + " " : "") + (postcode.dataset.found || "");
          place.className = found.error ? "field-error" : "hint";
          // The statement agreed to is the one for this place's forces: shown, and the
          // form says which it showed.
          showStatement(found.consent ? found : null);
        })
        .catch(function () { place.textContent = ""; showStatement(null); });
    };
    postcode.addEventListener("change", check);
    postcode.addEventListener("blur", check);
  }
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();

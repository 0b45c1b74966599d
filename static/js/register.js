/* Show each contact field only when its channel is ticked (all show without JavaScript). */
(function () {
  "use strict";
  document.querySelectorAll("[data-reveal-for]").forEach(function (panel) {
    var box = document.getElementById(panel.dataset.revealFor);
    function sync() { panel.hidden = !box.checked; }
    box.addEventListener("change", sync);
    sync();
    // Again once the browser has put back what was ticked (Back to the form): ticked,
    // with its box hidden, the number could not be typed (an outside check).
    window.addEventListener("load", sync);
    window.addEventListener("pageshow", sync);
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
    { consent: statement.textContent, consent_for: shownFor.value, consent_key: shownKey.value,
      consent_lang: statement.getAttribute("lang") };
  function showStatement(found) {
    if (!first) { return; }
    var shown = found || first;
    statement.textContent = shown.consent;
    shownFor.value = shown.consent_for;
    shownKey.value = shown.consent_key;
    // Words not in the page's language are marked so (a screen reader reads them so).
    if (shown.consent_lang) { statement.setAttribute("lang", shown.consent_lang); } else { statement.removeAttribute("lang"); }
  }
  if (postcode && place) {
    // Posted, so the postcode is in no URL; each answer is shown only if it is the
    // latest asked for (answers can come back out of order).
    var asked = 0;
    var token = document.querySelector('meta[name="csrf-token"]');
    // What the server was sent and refused: the field's value as the page came (not as
    // it is when this runs: typed into before a slow page ran this, the refusal stayed
    // beside the live check's words; CI saw it under load).
    var sent = postcode.defaultValue.trim();
    // A postcode typed again after a refusal: the refusal was of the one sent, and the
    // live check now says what is wrong with this one (both showed: an outside check).
    var forgetRefusal = function () {
      var refusal = document.getElementById("postcode-error");
      if (!refusal || refusal.hidden || postcode.value.trim() === sent) { return; }
      refusal.hidden = true;
      postcode.removeAttribute("aria-invalid");
      postcode.setAttribute("aria-describedby", "postcode-place");
      var field = postcode.closest(".field");
      if (field) { field.classList.remove("has-error"); }
    };
    // The box is marked as wrong while the check's words say it is, as it is after the
    // form is sent (it was not until then: an outside check); a refusal of the form's
    // own, still shown, keeps its mark.
    var markInvalid = function (bad) {
      var refusal = document.getElementById("postcode-error");
      if (bad) {
        postcode.setAttribute("aria-invalid", "true");
      } else if (!refusal || refusal.hidden) {
        postcode.removeAttribute("aria-invalid");
      }
    };
    var check = function () {
      var value = postcode.value.trim();
      var mine = ++asked;
      if (value.length < 5) { place.textContent = ""; showStatement(null); return; }
      fetch(postcode.dataset.placeUrl, {
        method: "POST",
        headers: {
          "Accept": "application/json",
          "Content-Type": "application/x-www-form-urlencoded",
          "X-CSRFToken": token ? token.content : ""
        },
        credentials: "same-origin",
        body: "postcode=" + encodeURIComponent(value)
      })
        .then(function (r) { return r.json(); })
        .then(function (found) {
          if (mine !== asked) { return; }
          placeOf = value;
          forgetRefusal();
          place.textContent = found.error ? found.error :
            (found.place ? found.postcode + ": " + found.place : found.postcode) + ". " +
            (found.forces ? found.forces + " " : "") + (postcode.dataset.found || "");
          place.className = found.error ? "field-error" : "hint";
          markInvalid(!!found.error);
          // The statement agreed to is the one for this place's forces: shown, and the
          // form says which it showed.
          showStatement(found.consent ? found : null);
        })
        .catch(function () {
          // Said, not left empty: offline, nothing showed at all (an outside check).
          if (mine === asked) {
            place.textContent = postcode.dataset.unchecked || "";
            place.className = "hint";
            showStatement(null);
          }
        });
    };
    // As soon as what is typed is a whole postcode (a pause in typing), else when the
    // field is left: no "not a postcode" while the second half is still being typed.
    var whole = /^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$/i;
    var pause = null;
    var placeOf = null;  // the postcode the words under the box are about
    postcode.addEventListener("input", function () {
      clearTimeout(pause);
      // Typed on from it: those words go, and an answer still on its way is dropped
      // ("We can't find SN1 1AA" stayed under "B5 16AD": an outside check).
      if (placeOf !== null && postcode.value.trim() !== placeOf) {
        asked++;
        placeOf = null;
        place.textContent = "";
        place.className = "hint";
        markInvalid(false);
      }
      if (whole.test(postcode.value.trim())) { pause = setTimeout(check, 300); }
    });
    postcode.addEventListener("change", check);
    postcode.addEventListener("blur", check);
    // Typed into before this ran (a slow phone): the refusal was of another postcode,
    // and goes now (it stayed until the field was left: an outside check); a whole
    // postcode is checked now, half of one as it is finished (CI, under load, typed
    // "bs1 6" before this ran, and was told it was not a postcode).
    if (postcode.value.trim() !== sent) {
      forgetRefusal();
      if (whole.test(postcode.value.trim())) { check(); }
    }
  }
})();

// The staff menu on a phone: folded behind its "Menu" button, so that the page (the
// officer's map) starts near the top. Without this script, or on a wider screen (the
// CSS), the menu is always shown.
(function () {
  "use strict";
  // The alert drafts this tab keeps (static/js/target.js): every staff page drops
  // anyone else's (a draft stayed in the tab while someone who never opened the
  // composer used it, after a session ended without "Sign out": an outside check),
  // and signing out forgets them all.
  function dropDrafts(but) {
    try {
      Object.keys(window.sessionStorage).forEach(function (key) {
        if (key.indexOf("ca-draft:") === 0 && !(but && key.indexOf(but) === 0)) {
          window.sessionStorage.removeItem(key);
        }
      });
    } catch (e) { /* private mode */ }
  }
  var signOut = document.querySelector('form[action$="/sign-out"]');
  if (signOut) {
    dropDrafts("ca-draft:" + signOut.dataset.draftOwner + ":");
    signOut.addEventListener("submit", function () { dropDrafts(null); });
  }
  var button = document.querySelector(".menu-toggle");
  var nav = document.getElementById("staff-nav");
  if (!button || !nav) { return; }
  nav.classList.add("foldable");
  button.hidden = false;
  function show(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    nav.classList.toggle("open", open);
  }
  button.addEventListener("click", function () {
    show(button.getAttribute("aria-expanded") !== "true");
  });
  // Escape folds the open menu from its button or any of its links, and gives the
  // focus back to the button (as a disclosure does).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || button.getAttribute("aria-expanded") !== "true") { return; }
    if (event.target !== button && !nav.contains(event.target)) { return; }
    show(false);
    button.focus();
  });
})();

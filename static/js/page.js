/* Every page: a form sent back with mistakes has its summary of them focused, so a
   keyboard or screen reader starts there (GOV.UK's pattern); only the sign-up page
   did, and "my alerts" left focus on the page after a refusal (an outside check).

   Switching language keeps what was typed: the switch is a link, and following it
   lost a half-filled form (an outside check, on "my alerts" after a refusal). What
   the forms hold that differs from what the page was sent with is kept in this tab's
   sessionStorage (never a URL, never the server) for the next page only, put back
   into the fields of the same names in the forms of the same address there, and
   deleted. Passwords, hidden fields
   (the form's token) and files are never kept. */
(function () {
  "use strict";
  var KEY = "community-alerts:typed";

  function fields() {
    return Array.prototype.filter.call(
      document.querySelectorAll("form input[name], form textarea[name], form select[name]"),
      function (field) {
        return ["password", "hidden", "file", "submit", "button", "image", "reset"]
          .indexOf(field.type) === -1;
      });
  }

  function formOf(field) {
    return field.form ? field.form.getAttribute("action") || "" : "";
  }

  // A page in answer to a form (its mistakes, or a question) shows what was typed as
  // the fields' own values: all of it is kept. Any other page keeps what was changed.
  function typed(sentBack) {
    var kept = [];
    fields().forEach(function (field) {
      var entry = { form: formOf(field), name: field.name, value: field.value };
      if (field.type === "checkbox" || field.type === "radio") {
        if (sentBack || field.checked !== field.defaultChecked) {
          entry.checked = field.checked;
          kept.push(entry);
        }
      } else if (field.tagName === "SELECT") {
        var changed = Array.prototype.some.call(field.options, function (option) {
          return option.selected !== option.defaultSelected;
        });
        if (sentBack || changed) { kept.push(entry); }
      } else if (sentBack ? field.value !== "" : field.value !== field.defaultValue) {
        kept.push(entry);
      }
    });
    return kept;
  }

  function putBack(kept) {
    var all = fields();
    kept.forEach(function (entry) {
      all.forEach(function (field) {
        if (field.name !== entry.name || formOf(field) !== entry.form) { return; }
        if (field.type === "checkbox" || field.type === "radio") {
          if (field.value !== entry.value) { return; }
          field.checked = entry.checked;
        } else {
          field.value = entry.value;
        }
        // The page's own scripts react as to typing: a ticked channel shows its
        // field, a postcode shows its place.
        field.dispatchEvent(new Event("input", { bubbles: true }));
        field.dispatchEvent(new Event("change", { bubbles: true }));
      });
    });
  }

  var saved = null;
  try {
    saved = JSON.parse(window.sessionStorage.getItem(KEY) || "null");
    window.sessionStorage.removeItem(KEY);
  } catch (ignored) { /* storage off (a private window): nothing kept, nothing lost */ }
  if (saved && saved.path === window.location.pathname && Array.isArray(saved.fields)) {
    // Once the page's scripts (after this one) listen.
    document.addEventListener("DOMContentLoaded", function () { putBack(saved.fields); });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.language-switch");
    // Opened in another tab or window, it leaves this page as it is: nothing kept.
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    var kept = typed(document.body.hasAttribute("data-sent-back"));
    if (!kept.length) { return; }
    try {
      window.sessionStorage.setItem(KEY, JSON.stringify({
        path: new URL(link.href, window.location.href).pathname, fields: kept
      }));
    } catch (ignored) { /* storage full or off: the switch still works */ }
  });

  // A form sent again within a moment (a double tap) is not sent twice: an invitation
  // tapped twice made one account, and the admin was left on the second's page, "There
  // is already an account…" under the first's "has been sent a link" (an outside
  // check). After the moment it may be sent again (a download leaves the page where it
  // is; Back shows it as it was). A form a page's own script sends is its script's.
  var SENT_AGAIN_AFTER_MS = 3000;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || (form.getAttribute("method") || "").toLowerCase() !== "post") {
      return;
    }
    var sentAt = Number(form.getAttribute("data-sent-at") || 0);
    if (Date.now() - sentAt < SENT_AGAIN_AFTER_MS) {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-sent-at", String(Date.now()));
  });

  // After a form is sent back, focus goes where the answer is: the summary of its
  // mistakes; else the one box at fault; else a result the page marks. It stayed on
  // the page itself after a wrong code, an unknown postcode or a message checked,
  // and a screen reader said nothing (an outside check).
  // Else what the last action did ("Saved: quiet hours."): focus stayed on the page,
  // and a screen reader said nothing of it (an outside check).
  // A box the page names to be typed again (autofocus: the password after a wrong one)
  // before the first box at fault: which of the two had the focus depended on which
  // came first, this script or the browser's autofocus (an outside check).
  // A box focused to be typed again shows what was said of it above it (the focus
  // scrolls only as far as the box). When the two do not fit on the screen together
  // (200% text on a small phone: "Too many wrong passwords. Wait…" began 350 px above
  // it, an outside check), the words take the focus, from their start; Tab goes on
  // to the box after them.
  // Anything else focused is shown from its top: a summary taller than the screen
  // (200% text on a small phone) was centred, its heading above the screen (an
  // outside check).
  function showWhatIsWrong(box) {
    if (!/^(INPUT|SELECT|TEXTAREA)$/.test(box.tagName)) {
      var start = box.getBoundingClientRect().top;
      if (start < 0) { window.scrollBy(0, start - 8); }
      return;
    }
    var said = (box.getAttribute("aria-describedby") || "").split(/\s+/)
      .map(function (id) { return id && document.getElementById(id); })
      .filter(function (found) { return found && found.classList.contains("field-error"); })[0];
    if (!said) { return; }
    showInRoom(said, box, window.innerHeight);
  }

  // Words said and what they are about under them (a box, a button), in view above
  // the floor (the screen's bottom, or a bar over it). Taller than that room together,
  // the words take the focus from their start, and Tab goes on from them.
  function showInRoom(said, below, floor) {
    var panel = scrollingPanel(said);
    if (panel) {
      // In a panel that scrolls on its own (the composer's, on a wide screen): the
      // panel is scrolled, not the window (the window went into blank space, and the
      // words stayed clipped below the panel's end: an outside check). The window
      // only as far as shows the panel, when it was scrolled away from it (the box at
      // fault was left above the screen: an outside check).
      var away = panel.getBoundingClientRect();
      if (away.top < 0) {
        window.scrollBy(0, away.top - 8);
      } else if (away.bottom > floor) {
        window.scrollBy(0, Math.min(away.top - 8, away.bottom - floor + 8));
      }
      var room = panel.getBoundingClientRect();
      var end = Math.min(room.bottom, floor);
      var first = said.getBoundingClientRect().top;
      var last = below.getBoundingClientRect().bottom;
      if (first >= room.top && last <= end) { return; }
      if (last - first + 16 > end - room.top) {
        said.setAttribute("tabindex", "-1");
        said.focus({preventScroll: true});
        panel.scrollTop += first - room.top - 8;
        return;
      }
      panel.scrollTop += first < room.top ? first - room.top - 8 : last - end + 8;
      return;
    }
    var top = said.getBoundingClientRect().top;
    var bottom = below.getBoundingClientRect().bottom;
    if (top >= 0 && bottom <= floor) { return; }
    if (bottom - top + 16 <= floor) {
      window.scrollBy(0, top < 0 ? top - 8 : bottom - floor + 8);
      return;
    }
    said.setAttribute("tabindex", "-1");
    said.focus({preventScroll: true});
    window.scrollBy(0, said.getBoundingClientRect().top - 8);
  }
  // The nearest box around `node` that scrolls on its own, or null (the window does).
  function scrollingPanel(node) {
    for (var up = node.parentElement; up && up !== document.body; up = up.parentElement) {
      var overflow = window.getComputedStyle(up).overflowY;
      if ((overflow === "auto" || overflow === "scroll") && up.scrollHeight > up.clientHeight) {
        return up;
      }
    }
    return null;
  }
  // For the composer's words.
  window.CAPage = { showInRoom: showInRoom, scrollingPanel: scrollingPanel };

  // The summary's mistakes in the order of the form's fields (the sign-up's listed the
  // name first, its box below the numbers': an outside check); one whose field is not
  // on the page stays where it was said, the others sorted among themselves in the
  // rest of the places (compared with it too, the sort was no order: a review).
  var listed = document.querySelector("#error-summary ul");
  if (listed) {
    var items = Array.prototype.slice.call(listed.children);
    var targetOf = function (item) {
      var link = item.querySelector("a[href^='#']");
      return link && document.getElementById(link.getAttribute("href").slice(1));
    };
    var found = items.map(function (item, at) { return { item: item, at: at, target: targetOf(item) }; });
    var sorted = found.filter(function (one) { return one.target; })
      .sort(function (a, b) {
        if (a.target === b.target) { return a.at - b.at; }
        return a.target.compareDocumentPosition(b.target) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1;
      });
    found.forEach(function (one) {
      listed.appendChild(one.target ? sorted.shift().item : one.item);
    });
  }

  // A box to type again comes before the summary (a wrong authenticator code focused
  // the one or the other by timing: an outside check); the words said of it show.
  var summary = document.querySelector('main [autofocus][aria-invalid="true"]') ||
    document.getElementById("error-summary") ||
    document.querySelector('main [aria-invalid="true"]') ||
    document.querySelector("main [data-focus-on-load]") ||
    document.querySelector("main > .flash");
  if (summary && document.activeElement === summary && !location.hash) {
    showWhatIsWrong(summary);  // focused by the browser's autofocus before this ran
  } else if (summary && document.activeElement === document.body) {
    // An address ending #reply-12 (the inbox after an answer) scrolls there once the
    // page has loaded, and that took the focus back to the page: focused again then,
    // where the page was scrolled to (an outside check).
    var scrolled = Boolean(location.hash);
    summary.focus({preventScroll: scrolled});
    if (!scrolled) { showWhatIsWrong(summary); }
    if (scrolled) {
      window.addEventListener("load", function () {
        setTimeout(function () {
          if (document.activeElement === document.body) { summary.focus({preventScroll: true}); }
        }, 0);
      });
    }
  }
})();

/* Follows the answers to an alert's quick question and who confirmed receipt, while
   the page is open. Counts under the minimum come as null and read "fewer than N". */
(function () {
  "use strict";
  var section = document.getElementById("answers");
  if (!section) { return; }
  var hidden = section.dataset.hidden;  // "fewer than 5", in the page's language
  function cell(tag, text, scope) {
    var element = document.createElement(tag);
    element.textContent = text;
    if (scope) { element.scope = scope; }
    return element;
  }
  function show(a) {
    a.options.forEach(function (o) {
      var total = section.querySelector('[data-option="' + o.number + '"]');
      if (total) { total.textContent = o.count; }
    });
    var wards = document.getElementById("ward-answers");
    if (wards) {
      wards.replaceChildren.apply(wards, a.wards.map(function (w) {
        var row = document.createElement("tr");
        row.appendChild(cell("th", w.name, "row"));
        a.options.forEach(function (o) {
          var n = w.counts[o.number];
          row.appendChild(cell("td", n === null || n === undefined ? (a.hidden_label || hidden) : n));
        });
        return row;
      }));
    }
    Object.keys(a.receipt).forEach(function (channel) {
      var row = section.querySelector('#receipt tr[data-channel="' + channel + '"]');
      if (!row) { return; }
      ["confirmed", "not_confirmed", "unreachable"].forEach(function (state) {
        row.querySelector("." + state).textContent = a.receipt[channel][state];
      });
    });
  }
  function update() {
    if (document.hidden) { setTimeout(update, 5000); return; }
    fetch(section.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(show)
      .catch(function () {})
      .finally(function () { setTimeout(update, 5000); });
  }
  setTimeout(update, 5000);
})();

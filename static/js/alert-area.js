/* The area an alert is for, on a small map, so whoever approves or follows it sees where:
   fitted to the area, clear of the zoom buttons and of the data credit that the licences
   require at the foot of the map (on a phone it takes two or three lines). */
(function () {
  "use strict";
  var area = JSON.parse(document.getElementById("alert-area").textContent);
  var map = CA.makeMap("map", true);  // one finger scrolls the page past it
  var layer = L.geoJSON(area, {
    interactive: false, style: { color: "#1d4ed8", weight: 2, fillOpacity: 0.15 }
  }).addTo(map);
  var MARGIN = 12;  // px between the area and the map's edge or a control
  function size(control) {
    var element = control && control.getContainer();
    return element ? { width: element.offsetWidth, height: element.offsetHeight } : { width: 0, height: 0 };
  }
  function fit() {
    var zoom = size(map.zoomControl);
    var credit = size(map.attributionControl);
    // At once, not animated: a refit while a slow phone laid the page out still slid
    // the area across the map when it was looked at (a loaded test machine caught it
    // part-way, its area off the map's edge).
    map.fitBounds(layer.getBounds(), {
      paddingTopLeft: [zoom.width + MARGIN * 2, MARGIN],
      paddingBottomRight: [MARGIN, credit.height + MARGIN],
      animate: false
    });
  }
  fit();
  // Fitted again once the page has its final layout (styles, fonts, a credit that
  // wrapped): fitted too early, on a slow phone, the area ran off the map's edge.
  var container = map.getContainer();
  var last = container.offsetWidth + "x" + container.offsetHeight;
  function refit() {
    var now = container.offsetWidth + "x" + container.offsetHeight;
    if (now === last) { return; }
    last = now;
    map.invalidateSize();
    fit();
  }
  window.addEventListener("load", function () { last = ""; refit(); });
  if (window.ResizeObserver) { new ResizeObserver(refit).observe(container); }
  CA.alertArea = layer;  // for the browser tests
})();

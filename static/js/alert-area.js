/* The area an alert is for, on a small map, so whoever approves or follows it sees where. */
(function () {
  "use strict";
  var area = JSON.parse(document.getElementById("alert-area").textContent);
  var map = CA.makeMap("map");
  var layer = L.geoJSON(area, {
    interactive: false, style: { color: "#1d4ed8", weight: 2, fillOpacity: 0.15 }
  }).addTo(map);
  map.fitBounds(layer.getBounds(), { padding: [16, 16] });
})();

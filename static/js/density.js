/* Confirmed residents per grid square, coloured by the legend's classes. Squares with
   fewer than 5 (or hidden to protect one) are grey and carry no number: the server
   sends none. */
(function () {
  "use strict";
  var settings = JSON.parse(document.getElementById("density-config").textContent);
  var status = document.getElementById("map-status");
  var map = CA.makeMap("map", true);  // one finger scrolls the page past it

  CA.fetchJSON(settings.url).then(function (data) {
    L.geoJSON(data, {
      style: function (f) {
        var hidden = f.properties.status === "hidden";
        return {
          color: hidden ? "#6b7280" : "#92400e", weight: 0.5,
          fillColor: f.properties.colour, fillOpacity: hidden ? 0.5 : 0.75
        };
      },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(CA.asText(f.properties.label));
        CA.notTabStops(layer);
      }
    }).addTo(map);
    status.textContent = CA.fill(settings.words.drawn, {
      shown: data.shown_cells, grey: data.suppressed_cells
    });
  }).catch(function (error) {
    status.textContent = CA.fill(settings.words.failed, { error: error.message });
  });
})();

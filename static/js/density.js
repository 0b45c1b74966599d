/* Residents per grid cell, coloured by count; no cell below the suppression threshold. */
(function () {
  "use strict";
  var settings = JSON.parse(document.getElementById("density-config").textContent);
  var map = CA.makeMap("map");
  var layer = null;
  var colours = ["#fef3c7", "#fde68a", "#fbbf24", "#f59e0b", "#d97706", "#b45309", "#78350f"];

  function colour(n, max) {
    var i = Math.min(colours.length - 1, Math.floor(Math.log(n) / Math.log(max + 1) * colours.length));
    return colours[Math.max(0, i)];
  }

  function load() {
    CA.fetchJSON(settings.url).then(function (data) {
      if (layer) { map.removeLayer(layer); }
      layer = L.geoJSON(data, {
        style: function (f) {
          return { color: "#92400e", weight: 0.5, fillColor: colour(f.properties.residents, data.max_residents), fillOpacity: 0.75 };
        },
        onEachFeature: function (f, l) { l.bindTooltip(f.properties.residents + " residents"); }
      }).addTo(map);
      var shown = data.features.reduce(function (t, f) { return t + f.properties.residents; }, 0);
      document.getElementById("density-summary").textContent =
        data.features.length + " cells showing " + shown.toLocaleString("en-GB") + " residents; " +
        data.suppressed_cells + " cells with fewer than " + data.min_count + " hidden.";
    }).catch(function (error) {
      document.getElementById("density-summary").textContent = error.message;
    });
  }
  load();
})();

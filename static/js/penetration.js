/* Wards shaded by confirmed residents per 1,000 adults. Only the suppressed figures come
   from the server: a hidden ward is grey and reads "fewer than 5". */
(function () {
  "use strict";
  var settings = JSON.parse(document.getElementById("penetration-config").textContent);
  var status = document.getElementById("map-status");
  var map = CA.makeMap("map");

  function describe(p) {
    var year = p.year ? " (mid-" + p.year + ")" : "";
    return p.name + (p.district ? ", " + p.district : "") + ": " + p.residents_label +
      " confirmed residents; " + (p.status === "no_population" ? p.rate_label :
      "per 1,000 adults" + year + ": " + p.rate_label);
  }

  CA.fetchJSON(settings.url).then(function (data) {
    L.geoJSON(data, {
      style: function (f) {
        return {
          color: "#374151", weight: 0.75, fillColor: f.properties.colour,
          fillOpacity: f.properties.status === "no_population" ? 0.2 : 0.8,
          dashArray: f.properties.status === "no_population" ? "4 3" : null
        };
      },
      onEachFeature: function (f, layer) {
        f.properties.year = data.year;
        layer.bindTooltip(describe(f.properties));
      }
    }).addTo(map);
    var hidden = data.features.filter(function (f) { return f.properties.status === "hidden"; }).length;
    var missing = data.features.filter(function (f) { return f.properties.status === "no_population"; }).length;
    status.textContent = data.features.length + " wards drawn; " + hidden +
      " with figures not shown (fewer than " + data.min_count + ")" +
      (missing ? "; " + missing + " with no population figure" : "") + ".";
  }).catch(function (error) {
    status.textContent = "The map could not be drawn: " + error.message + ". The tables below have every figure.";
  });
})();

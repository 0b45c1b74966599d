/* Wards shaded by confirmed residents per 1,000 adults. Only the suppressed figures come
   from the server: a hidden ward is grey and reads "fewer than 5". */
(function () {
  "use strict";
  var settings = JSON.parse(document.getElementById("penetration-config").textContent);
  var status = document.getElementById("map-status");
  var map = CA.makeMap("map", true);  // one finger scrolls the page past it

  var words = settings.words;

  function describe(p) {
    var place = p.district ? CA.fill(words.place, p) : p.name;
    var rate = p.status === "no_population" ? p.rate_label :
      CA.fill(p.year ? words.rate_year : words.rate, p);
    return CA.fill(words.tooltip, { place: place, residents: p.residents_label, rate: rate });
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
        layer.bindTooltip(CA.asText(describe(f.properties)));
        CA.notTabStops(layer);
      }
    }).addTo(map);
    var hidden = data.features.filter(function (f) { return f.properties.status === "hidden"; }).length;
    var missing = data.features.filter(function (f) { return f.properties.status === "no_population"; }).length;
    status.textContent = CA.fill(missing ? words.drawn_missing : words.drawn, {
      wards: data.features.length, hidden: hidden, k: data.min_count, missing: missing
    });
  }).catch(function (error) {
    status.textContent = CA.fill(words.failed, { error: error.message });
  });
})();

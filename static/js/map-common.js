/* Shared by the map pages: the base map, outlines and attribution, all from our own server. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("map-config").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  function makeMap(elementId) {
    var map = L.map(elementId, { zoomSnap: 0.5 });
    window.CA.map = map;  // one map a page; handy from the browser console
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution(config.attribution);
    if (config.tileUrl) {
      L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 }).addTo(map);
    }
    if (config.bounds) {
      map.fitBounds(config.bounds);
    } else {
      map.setView([51.2, -2.8], 9);
    }
    // Without tiles the outlines are the base map: wards faint, the force boldly.
    fetchJSON(config.outlines.ward).then(function (data) {
      L.geoJSON(data, {
        interactive: false, pmIgnore: true,
        style: { color: "#6b7280", weight: 1, fill: false }
      }).addTo(map);
    });
    fetchJSON(config.outlines.force).then(function (data) {
      L.geoJSON(data, {
        interactive: false, pmIgnore: true,
        style: { color: "#1d4ed8", weight: 3, fill: false }
      }).addTo(map);
    });
    return map;
  }

  function fetchJSON(url, body) {
    var options = { headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrf;
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.error || "Something went wrong (" + response.status + "). Try again.");
          error.data = data;
          throw error;
        }
        return data;
      });
    });
  }

  function postcodeUrl(postcode) {
    return config.postcodeUrl.replace("POSTCODE", encodeURIComponent(postcode.trim()));
  }

  window.CA = { config: config, makeMap: makeMap, fetchJSON: fetchJSON, postcodeUrl: postcodeUrl };
})();

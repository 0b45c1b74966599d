/* The officer's targeting screen: shapes on the map -> live count -> compose -> send. */
(function () {
  "use strict";
  var settings = JSON.parse(document.getElementById("target-config").textContent);
  var map = CA.makeMap("map");
  var shapes = L.featureGroup().addTo(map);
  var searchCircle = null;
  var lastCount = null;
  var $ = function (id) { return document.getElementById(id); };

  map.pm.setGlobalOptions({ allowSelfIntersection: false, layerGroup: shapes, snappable: false });
  map.pm.addControls({
    position: "topleft", drawMarker: false, drawCircleMarker: false, drawPolyline: false,
    drawText: false, cutPolygon: false, rotateMode: false
  });

  function radiusLabel(metres) {
    return metres < 1000 ? metres + " m" : (metres / 1000).toFixed(metres % 1000 ? 1 : 0) + " km";
  }

  function shapeSpecs() {
    var specs = [];
    shapes.eachLayer(function (layer) {
      if (layer instanceof L.Circle) {
        var c = layer.getLatLng();
        specs.push({ kind: "circle", center: [c.lng, c.lat], radius_m: Math.round(layer.getRadius()) });
      } else if (layer instanceof L.Polygon) {
        var rings = layer.getLatLngs();
        if (rings.length && !Array.isArray(rings[0])) { rings = [rings]; }
        // Leaflet leaves rings open; GeoJSON closes them.
        specs.push({
          kind: layer instanceof L.Rectangle ? "rectangle" : "polygon",
          coordinates: rings.map(function (ring) {
            var points = ring.map(function (p) { return [p.lng, p.lat]; });
            if (points.length) { points.push(points[0]); }
            return points;
          })
        });
      }
    });
    return specs;
  }

  function showCounts(counts) {
    lastCount = counts.residents;
    $("reach-residents").textContent = counts.residents.toLocaleString("en-GB");
    $("reach-sms").textContent = counts.channels.sms.toLocaleString("en-GB");
    $("reach-voice").textContent = counts.channels.voice.toLocaleString("en-GB");
    $("reach-email").textContent = counts.channels.email.toLocaleString("en-GB");
  }

  function showAreaError(message) {
    $("area-error").textContent = message || "";
    $("area-error").hidden = !message;
  }

  var timer = null;
  var sequence = 0;
  function refreshPreview() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var specs = shapeSpecs();
      if (!specs.length) {
        showCounts({ residents: 0, channels: { sms: 0, voice: 0, email: 0 } });
        showAreaError("");
        return;
      }
      var mine = ++sequence;  // only the newest answer is shown
      $("reach").setAttribute("aria-busy", "true");
      CA.fetchJSON(settings.previewUrl, { shapes: specs }).then(function (counts) {
        if (mine !== sequence) { return; }
        showAreaError("");
        showCounts(counts);
      }).catch(function (error) {
        if (mine !== sequence) { return; }
        showAreaError(error.message);
      }).finally(function () { $("reach").removeAttribute("aria-busy"); });
    }, 250);
  }

  map.on("pm:create", function (e) {
    e.layer.on("pm:edit pm:dragend", refreshPreview);
    refreshPreview();
  });
  map.on("pm:remove", function (e) {
    if (e.layer === searchCircle) { searchCircle = null; }
    refreshPreview();
  });

  $("postcode-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var postcode = $("centre-postcode").value;
    if (!postcode.trim()) { showAreaError("Enter a postcode to centre the circle on."); return; }
    CA.fetchJSON(CA.postcodeUrl(postcode)).then(function (found) {
      $("centre-postcode").value = found.postcode;
      if (found.latitude === null) {
        showAreaError(found.postcode + " has no location in the postcode data. Try a neighbouring postcode.");
        return;
      }
      var centre = [found.latitude, found.longitude];
      var radius = Number($("radius").value);
      if (searchCircle) { shapes.removeLayer(searchCircle); }
      searchCircle = L.circle(centre, { radius: radius }).addTo(shapes);
      searchCircle.on("pm:edit pm:dragend", function () {
        $("radius").value = Math.round(searchCircle.getRadius());
        $("radius-label").textContent = radiusLabel(Number($("radius").value));
        refreshPreview();
      });
      map.fitBounds(searchCircle.getBounds(), { padding: [20, 20] });
      refreshPreview();
    }).catch(function (error) { showAreaError(error.message); });
  });

  $("radius").addEventListener("input", function () {
    var metres = Number($("radius").value);
    $("radius-label").textContent = radiusLabel(metres);
    if (searchCircle) { searchCircle.setRadius(metres); refreshPreview(); }
  });

  $("draw-polygon").addEventListener("click", function () {
    map.pm.enableDraw("Polygon", { allowSelfIntersection: false });
  });
  $("clear-shapes").addEventListener("click", function () {
    shapes.clearLayers();
    searchCircle = null;
    refreshPreview();
  });

  function composeError(message) {
    $("compose-error").textContent = message || "";
    $("compose-error").hidden = !message;
  }

  $("compose").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!shapeSpecs().length) { composeError("Choose an area first: find a postcode or draw on the map."); return; }
    if (!$("title").value.trim() || !$("body").value.trim()) { composeError("Write a title and a message."); return; }
    composeError("");
    $("confirm-title").textContent = $("title").value.trim();
    $("confirm-count").textContent = (lastCount || 0).toLocaleString("en-GB");
    $("confirm").hidden = false;
    $("confirm-send").focus();
  });
  $("confirm-cancel").addEventListener("click", function () { $("confirm").hidden = true; });
  $("confirm-send").addEventListener("click", function () {
    $("confirm-send").disabled = true;
    CA.fetchJSON(settings.sendUrl, {
      shapes: shapeSpecs(), title: $("title").value, body: $("body").value
    }).then(function (sent) {
      window.location.assign(sent.url);
    }).catch(function (error) {
      $("confirm").hidden = true;
      composeError(error.message);
    }).finally(function () { $("confirm-send").disabled = false; });
  });
})();

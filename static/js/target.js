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
  // Top right, apart from the zoom buttons, and only the tools a PCSO needs.
  map.pm.addControls({
    position: "topright", drawMarker: false, drawCircleMarker: false, drawPolyline: false,
    drawText: false, cutPolygon: false, rotateMode: false, dragMode: false
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

  function showCounts(counts, announce) {
    lastCount = counts.residents;
    if (announce) {
      $("reach-announce").textContent = counts.residents + " residents reached: " +
        counts.channels.sms + " by text, " + counts.channels.voice + " by voice, " +
        counts.channels.email + " by e-mail.";
    }
    $("reach-residents").textContent = counts.residents.toLocaleString("en-GB");
    $("reach-sms").textContent = counts.channels.sms.toLocaleString("en-GB");
    $("reach-voice").textContent = counts.channels.voice.toLocaleString("en-GB");
    $("reach-email").textContent = counts.channels.email.toLocaleString("en-GB");
  }

  function showAreaError(message) {
    $("area-error").textContent = message || "";
    $("area-error").hidden = !message;
  }

  // While a count is on its way, sending would confirm a number that may be stale.
  function setBusy(busy) {
    $("reach").setAttribute("aria-busy", busy ? "true" : "false");
    $("send").disabled = busy;
    $("confirm-send").disabled = busy;
    if (busy) { $("confirm").hidden = true; }
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
      setBusy(true);
      CA.fetchJSON(settings.previewUrl, { shapes: specs }).then(function (counts) {
        if (mine !== sequence) { return; }
        showAreaError("");
        showCounts(counts, true);
      }).catch(function (error) {
        if (mine !== sequence) { return; }
        lastCount = null;
        showAreaError(error.message);
      }).finally(function () { if (mine === sequence) { setBusy(false); } });
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
        var metres = Math.round(searchCircle.getRadius());
        $("radius").value = metres;
        $("radius-m").value = metres;
        $("radius-label").textContent = radiusLabel(metres);
        refreshPreview();
      });
      map.fitBounds(searchCircle.getBounds(), { padding: [20, 20] });
      refreshPreview();
    }).catch(function (error) { showAreaError(error.message); });
  });

  function setRadius(metres) {
    metres = Math.min(20000, Math.max(100, Math.round(metres / 100) * 100 || 1000));
    $("radius").value = metres;
    $("radius-m").value = metres;
    $("radius-label").textContent = radiusLabel(metres);
    $("radius").setAttribute("aria-valuetext", radiusLabel(metres));
    if (searchCircle) { searchCircle.setRadius(metres); refreshPreview(); }
  }
  $("radius").addEventListener("input", function () { setRadius(Number($("radius").value)); });
  $("radius-m").addEventListener("change", function () { setRadius(Number($("radius-m").value)); });

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
  $("confirm-cancel").addEventListener("click", function () {
    $("confirm").hidden = true;
    $("send").focus();
  });
  $("confirm-send").addEventListener("click", function () {
    $("confirm-send").disabled = true;
    CA.fetchJSON(settings.sendUrl, {
      shapes: shapeSpecs(), title: $("title").value, body: $("body").value,
      expected_residents: lastCount
    }).then(function (sent) {
      window.location.assign(sent.url);
    }).catch(function (error) {
      $("confirm").hidden = true;
      composeError(error.message);
    }).finally(function () { $("confirm-send").disabled = false; });
  });
})();

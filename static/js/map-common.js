/* Shared by the map pages: the base map, outlines and attribution, all from our own server
   (or from the raster tile server the force configures). */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("map-config").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  // The zoom buttons' names in the page's language (Leaflet's own are English).
  L.Control.Zoom.mergeOptions({ zoomInTitle: config.zoomIn, zoomOutTitle: config.zoomOut });

  // `inPage`: a map within a page that scrolls past it (an alert's area, the analysts'
  // maps). On a touch screen one finger then scrolls the page, not the map (a swipe
  // over it was caught, and a phone's page would not move past a map half its height);
  // two fingers still move and zoom it. The officer's map is the page: it pans.
  function makeMap(elementId, inPage) {
    var map = L.map(elementId, { zoomSnap: 0.5 });
    if (inPage && window.matchMedia && window.matchMedia("(pointer: coarse)").matches) {
      map.dragging.disable();
    }
    window.CA.map = map;  // one map a page; handy from the browser console
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution(config.attribution);
    var base = addBaseMap(map);
    foldCredit(map);  // after the base map's own credit
    window.CA.baseMapKind = base;
    if (config.bounds) {
      map.fitBounds(config.bounds);
    } else {
      map.setView([51.2, -2.8], 9);
    }
    // Without a base map the outlines are the map: wards faint, the force boldly. The
    // vector base map draws wards itself; the force's edge is drawn over any base.
    if (base !== "vector") {
      fetchJSON(config.outlines.ward).then(function (data) {
        L.geoJSON(data, {
          interactive: false, pmIgnore: true,
          style: { color: "#6b7280", weight: 1, fill: false }
        }).addTo(map);
      });
    }
    fetchJSON(config.outlines.force).then(function (data) {
      L.geoJSON(data, {
        interactive: false, pmIgnore: true,
        style: { color: "#1d4ed8", weight: 3, fill: false }
      }).addTo(map);
    });
    return map;
  }

  // The data credit folded to one line while, in full, it would cover much of the map:
  // a phone at 200% text gave it 43% of the composer's map, and taps there added no
  // corner (an outside check). A tap on it unfolds it (and folds it again); a link in
  // it taken by the keyboard unfolds it too (app.css), and a screen reader reads it
  // whole; the page's footer says it in full. Not a button: one holding the credit's
  // links was a control inside a control, and took their Enter (a review).
  var CREDIT_SHARE = 0.15;
  function foldCredit(map) {
    var box = map.attributionControl.getContainer();
    var opened = false;
    var holder = map.getContainer();
    function fit() {
      box.classList.remove("credit-folded");
      box.style.maxWidth = Math.max(120, holder.offsetWidth - 16) + "px";
      var tall = box.offsetHeight > holder.offsetHeight * CREDIT_SHARE;
      box.classList.toggle("credit-folded", tall && !opened);
    }
    box.addEventListener("click", function (event) {
      if (event.target.closest && event.target.closest("a")) { return; }  // a link is a link
      opened = !opened;
      fit();
    });
    // Unfolded, it folds again at the next tap on the map: drawing, the next corner
    // tapped under it only folded it, and it covered "Remove shapes" (an outside check).
    map.on("click", function () {
      if (opened) { opened = false; fit(); }
    });
    // While shapes are drawn, changed or removed, it stays folded and a tap on it is
    // the map's: a corner tapped there unfolded it, the next folded it, two corners
    // lost, and unfolded it covered "Remove shapes" (an outside check).
    // (The composer's own drawing of an area says so with "ca:drawing".)
    function shaping() {
      var pm = map.pm;
      var busy = holder.classList.contains("drawing") || (!!pm && (pm.globalDrawModeEnabled() ||
        pm.globalEditModeEnabled() || pm.globalRemovalModeEnabled() || pm.globalDragModeEnabled()));
      holder.classList.toggle("map-shaping", busy);
      if (busy && opened) { opened = false; fit(); }
    }
    map.on("ca:drawing pm:drawstart pm:drawend pm:globaldrawmodetoggled " +
           "pm:globaleditmodetoggled pm:globalremovalmodetoggled pm:globaldragmodetoggled", shaping);
    // Its own size and the map's: a base map's credit added later, the page's text
    // size changed, the page laid out after the map was made.
    if (window.ResizeObserver) {
      var watching = new ResizeObserver(fit);
      watching.observe(box);
      watching.observe(holder);
    }
    fit();
  }

  // A credit's licence words, English on every page: marked so (as the footer's are),
  // or a screen reader reads them with the page's Welsh rules. Given as HTML (a link).
  function inEnglish(html) {
    return html ? '<span lang="en-GB">' + html + "</span>" : "";
  }

  // The first base map that is set: raster tiles (MAP_TILE_URL, its {key} from
  // MAP_TILE_KEY), else the vector base map we serve (`flask geo build-basemap`),
  // else none. Returns which: "tiles", "vector" or "outlines".
  function addBaseMap(map) {
    if (config.tileUrl) {
      L.tileLayer(config.tileUrl, {
        attribution: inEnglish(config.tileAttribution), maxZoom: config.tileMaxZoom, key: config.tileKey
      }).addTo(map);
      return "tiles";
    }
    if (config.baseMap && window.protomapsL) {
      var layer = protomapsL.leafletLayer({
        url: config.baseMap.url,
        maxDataZoom: config.baseMap.maxDataZoom,
        maxZoom: 19,  // past the data's last zoom the tiles are stretched
        paintRules: basePaintRules(config.baseMap.layers),
        labelRules: baseLabelRules(config.baseMap.layers),
        backgroundColor: BASE.background,
        // Only what the force's own layers add: the data every map page credits is
        // credited once, above. (Left unset, the library would credit OpenStreetMap.)
        attribution: inEnglish(config.baseMap.attribution)
      });
      layer.addTo(map);
      window.CA.baseLayer = layer;
      return "vector";
    }
    return "outlines";
  }

  // --- the vector base map's style ---------------------------------------------------
  // Quiet colours, so that what the officer draws and the counts stand out.
  var BASE = {
    background: "#f4f2ee",
    // Postcodes per km² (a stand-in for homes): lighter is emptier.
    density: [[250, "#c4b59b"], [100, "#d2c6b0"], [40, "#ddd4c3"], [10, "#e6dfd3"], [0, "#ece8e0"]],
    ward: "#8a8f98",
    district: "#4b5563",
    force: "#1d4ed8",
    text: "#1f2937",
    halo: "rgba(255, 255, 255, 0.9)",
    sector: "#115e59"
  };
  var STANDARD = { density: true, boundaries: true, places: true, sectors: true };

  function densityColour(z, f) {
    var perKm2 = f.props.per_km2 || 0;
    for (var i = 0; i < BASE.density.length; i++) {
      if (perKm2 >= BASE.density[i][0]) { return BASE.density[i][1]; }
    }
    return BASE.density[BASE.density.length - 1][1];
  }

  function kindIs(kind) {
    return function (z, f) { return f.props.kind === kind; };
  }

  // A road's class from the words forces' road data uses (OS Open Roads' "function" and
  // "class", OpenStreetMap's "highway").
  function roadRank(f) {
    var words = [f.props["function"], f.props["class"], f.props.highway, f.props.road_class,
      f.props.roadClassification].join(" ").toLowerCase();
    if (/motorway/.test(words)) { return 3; }
    if (/a road|primary|trunk/.test(words)) { return 2; }
    if (/b road|secondary/.test(words)) { return 1; }
    return 0;
  }

  function byGeometry(geometry) {
    return function (z, f) { return f.geomType === geometry; };
  }

  function forceLayers(layers) {
    return (layers || []).filter(function (layer) { return !STANDARD[layer.name]; });
  }

  function basePaintRules(layers) {
    var P = protomapsL;
    var rules = [
      // Stroked in its own colour: no hairline shows where two squares meet.
      { dataLayer: "density",
        symbolizer: new P.PolygonSymbolizer({ fill: densityColour, stroke: densityColour, width: 1 }) }
    ];
    forceLayers(layers).forEach(function (layer) {
      rules.push({
        dataLayer: layer.name, filter: byGeometry(3),
        symbolizer: new P.PolygonSymbolizer({ fill: "#dfe6d3", opacity: 0.7 })
      });
      rules.push({
        dataLayer: layer.name, filter: byGeometry(2),
        symbolizer: new P.LineSymbolizer({
          color: "#9ca3af", lineCap: "round", lineJoin: "round",
          width: function (z, f) { return (z < 13 ? 1.2 : 2.4) + roadRank(f) * (z < 13 ? 0.6 : 1.2); }
        })
      });
      rules.push({
        dataLayer: layer.name, filter: byGeometry(2),
        symbolizer: new P.LineSymbolizer({
          lineCap: "round", lineJoin: "round",
          color: function (z, f) { return ["#ffffff", "#fde68a", "#fdba74", "#93c5fd"][roadRank(f)]; },
          width: function (z, f) { return (z < 13 ? 0.6 : 1.4) + roadRank(f) * (z < 13 ? 0.6 : 1.2); }
        })
      });
    });
    rules.push(
      { dataLayer: "boundaries", filter: kindIs("ward"),
        symbolizer: new P.LineSymbolizer({ color: BASE.ward, width: 1, dash: [4, 3] }) },
      { dataLayer: "boundaries", filter: kindIs("district"),
        symbolizer: new P.LineSymbolizer({ color: BASE.district, width: 1.75 }) },
      { dataLayer: "boundaries", filter: kindIs("force"),
        symbolizer: new P.LineSymbolizer({ color: BASE.force, width: 2.5, opacity: 0.6 }) }
    );
    return rules;
  }

  function text(font, fill, props) {
    return new protomapsL.CenteredTextSymbolizer({
      labelProps: props, font: font, fill: fill, stroke: BASE.halo, width: 3
    });
  }

  function baseLabelRules(layers) {
    var rules = [
      { dataLayer: "places", filter: kindIs("district"),
        symbolizer: text("600 14px sans-serif", BASE.text, ["name"]) },
      { dataLayer: "sectors", symbolizer: text("700 12px sans-serif", BASE.sector, ["sector"]) },
      { dataLayer: "places", filter: kindIs("ward"),
        symbolizer: text("500 12px sans-serif", "#374151", ["name"]) }
    ];
    forceLayers(layers).forEach(function (layer) {
      var names = ["name", "name1", "Name", "NAME", "roadName", "name_en"];
      rules.push({
        dataLayer: layer.name, filter: byGeometry(1),
        symbolizer: text("500 12px sans-serif", BASE.text, names)
      });
      rules.push({
        dataLayer: layer.name, filter: byGeometry(2), minzoom: 14,
        symbolizer: new protomapsL.LineLabelSymbolizer({
          labelProps: names, font: "400 11px sans-serif", fill: "#374151",
          stroke: BASE.halo, width: 3
        })
      });
    });
    return rules;
  }

  function fetchJSON(url, body) {
    var options = { headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrf;
      options.body = JSON.stringify(body);
    }
    // No answer at all (the signal gone): said in the page's language, and known as
    // such, not the browser's English "Failed to fetch" (an outside check).
    return fetch(url, options).catch(function () {
      var lost = new Error(config.noAnswer);
      lost.noAnswer = true;
      throw lost;
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.error || fill(config.wentWrong, { status: response.status }));
          error.data = data;
          throw error;
        }
        return data;
      });
    });
  }

  // Posted, never put in the address: the postcode an officer looks up is often where
  // something happened to someone.
  function lookUpPostcode(postcode) {
    return fetchJSON(config.postcodeUrl, { postcode: postcode.trim() });
  }

  // Words from the page (in its language) with {name} filled in.
  function fill(words, values) {
    return words.replace(/\{(\w+)\}/g, function (all, name) {
      return values[name] === undefined ? all : String(values[name]);
    });
  }

  // The shapes of a figures map are not tab stops: the table beside it holds the same
  // figures, and a keyboard would otherwise pass through every ward or square.
  function notTabStops(layer) {
    layer.on("add", function () {
      var element = layer.getElement && layer.getElement();
      if (element) { element.setAttribute("tabindex", "-1"); }
    });
  }

  // A tooltip's words as words: Leaflet takes a string as HTML, and a ward's name from
  // a boundary file is data, not markup (a review).
  function asText(words) {
    var element = document.createElement("span");
    element.textContent = words;
    return element;
  }

  window.CA = {
    config: config, makeMap: makeMap, fetchJSON: fetchJSON, lookUpPostcode: lookUpPostcode,
    fill: fill, notTabStops: notTabStops, asText: asText
  };
})();

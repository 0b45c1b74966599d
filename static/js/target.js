/* The officer's screen: areas and filters -> live count -> compose -> test, approve or send. */
(function () {
  "use strict";
  var settings = JSON.parse(document.getElementById("target-config").textContent);
  var templates = JSON.parse(document.getElementById("template-data").textContent);
  var map = CA.makeMap("map");
  // Words in the page's language: the page sends the Welsh of every _() in this file
  // (the server reads them out of it); an English page needs none.
  var WORDS = settings.words || {};
  function _(english, values) {
    var said = WORDS[english] || english;
    return values ? CA.fill(said, values) : said;
  }
  // Words marked for translation, said later (N_ in babel's keywords).
  function N_(english) { return english; }

  // On a wide screen the map and the panel fill the window between what is above them
  // (the menu takes one row or two, by role) and the reach bar and map credits below.
  function fitToWindow() {
    var main = document.querySelector("main.map-page");
    var bar = document.getElementById("reach-bar");
    var credits = main && main.querySelector(".attribution");
    if (!main) return;
    var root = document.documentElement.style;
    root.setProperty("--map-top", Math.round(main.getBoundingClientRect().top + window.scrollY) + "px");
    root.setProperty("--map-below", ((bar ? bar.offsetHeight : 0) + (credits ? credits.offsetHeight : 0)) + "px");
    map.invalidateSize();
  }
  fitToWindow();
  window.addEventListener("resize", fitToWindow);
  var shapes = L.featureGroup().addTo(map);     // what the officer drew (editable)
  var places = L.featureGroup().addTo(map);     // named places (outlines, not editable)
  var cells = L.featureGroup().addTo(map);      // where residents are, in squares
  // Where the officer's teams may send, when they are kept to areas: a dotted outline
  // (an outside check: a refusal named twelve wards, and the map showed none of them).
  var permittedLayer = null;
  if (settings.permittedArea) {
    permittedLayer = L.geoJSON(settings.permittedArea, {
      interactive: false,
      pmIgnore: true,  // the team's areas, not the officer's to change (they took handles)
      style: { color: "#00703c", weight: 3, dashArray: "2 7", fill: false }
    }).addTo(map);
  }
  var entries = [];                              // every area, in the order added
  var nextId = 1;
  var searchCircle = null;
  var lastCounts = null;
  var lastCompose = null;
  var $ = function (id) { return document.getElementById(id); };
  var number = function (n) { return Number(n || 0).toLocaleString("en-GB"); };
  var WELSH_MONTHS = ["Ion", "Chwef", "Maw", "Ebr", "Mai", "Meh", "Gorff", "Awst", "Medi", "Hyd", "Tach", "Rhag"];
  // A count of people under the minimum comes as null: show "fewer than 5", never a
  // number (a tiny area would otherwise say that someone there is registered).
  var figure = function (n) {
    return n === null ? (lastCounts && lastCounts.hidden_label) || _("fewer than 5") : number(n);
  };
  // A channel left unticked reaches no one: "not chosen", not a hidden "fewer than 5"
  // (an outside check read that as some residents by e-mail).
  var chosen = function (channel) {
    var box = document.querySelector('input[name="channels"][value="' + channel + '"]');
    return !box || box.checked;
  };
  var channelFigure = function (counts, channel) {
    return chosen(channel) ? figure(counts.channels[channel]) : _("not chosen");
  };

  map.pm.setGlobalOptions({ allowSelfIntersection: false, layerGroup: shapes, snappable: false });
  // The drawing tools' prompts say what to do with the pointer in hand: a PCSO's phone
  // has no mouse to click.
  var touch = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;
  map.pm.setLang("ca", {
    tooltips: touch ? {
      startCircle: _("Tap where the centre goes"),
      finishCircle: _("Tap again to set how far it reaches"),
      firstVertex: _("Tap to place the first corner"),
      continueLine: _("Tap to add a corner"),
      finishPoly: _("Tap the first corner to finish"),
      finishRect: _("Tap the opposite corner to finish")
    } : {
      startCircle: _("Click where the centre goes"),
      finishCircle: _("Click again to set how far it reaches"),
      firstVertex: _("Click to place the first corner"),
      continueLine: _("Click to add a corner"),
      finishPoly: _("Click the first corner to finish"),
      finishRect: _("Click the opposite corner to finish")
    },
    actions: { finish: _("Finish"), cancel: _("Cancel"), removeLastVertex: _("Undo last point") },
    buttonTitles: {
      drawCircleButton: _("Draw a circle"),
      drawRectButton: _("Draw a rectangle"),
      editButton: _("Change the shapes"),
      deleteButton: _("Remove shapes")
    }
  }, "en");
  // Top right, apart from the zoom buttons, and only the tools a PCSO needs.
  map.pm.addControls({
    position: "topright", drawMarker: false, drawCircleMarker: false, drawPolyline: false,
    drawPolygon: false, drawText: false, cutPolygon: false, rotateMode: false, dragMode: false
  });
  // Geoman puts each tool's name on a wrapper's title: give the button itself the name,
  // so screen readers announce "Draw Polygon" rather than "link".
  Array.prototype.forEach.call(document.querySelectorAll(".leaflet-pm-toolbar [title]"), function (wrapper) {
    var button = wrapper.querySelector(".leaflet-buttons-control-button");
    if (button) { button.setAttribute("aria-label", wrapper.getAttribute("title")); }
  });

  // The corner handles of "Change the shapes" are moved by a pointer only: Leaflet
  // made each a focusable button with no name (axe: an outside check), to be tabbed
  // through in silence. Out of the keyboard's way and of a screen reader's.
  new MutationObserver(function () {
    Array.prototype.forEach.call(map.getContainer().querySelectorAll(".marker-icon:not([aria-hidden])"), function (handle) {
      handle.setAttribute("tabindex", "-1");
      handle.setAttribute("aria-hidden", "true");
    });
  }).observe(map.getPane("markerPane"), { childList: true });

  var STYLE = { include: { color: "#1d4ed8", dashArray: null, fillOpacity: 0.1 },
                exclude: { color: "#d4351c", dashArray: "8 6", fillOpacity: 0.25 } };

  function radiusNow() {
    return Number($("radius").dataset.metres) || 1000;
  }

  function radiusLabel(metres) {
    return metres < 1000 ? metres + " m" : (metres / 1000).toFixed(metres % 1000 ? 1 : 0) + " km";
  }

  function audience() {
    var chosen = document.querySelector('input[name="audience"]:checked');
    return chosen ? chosen.value : "area";
  }

  // --- the list of areas ------------------------------------------------------------

  // An area's name kept as its words (the English and its values, or a place's kind
  // and name), said in the page's language: a draft brought back on the page in the
  // other language kept the names it was drawn with ("400 m o amgylch BS6 5AA" on the
  // English page: an outside check). A name given as text is kept as it is.
  function named(english, values) { return { english: english, values: values || null }; }
  function nameOf(words) {
    if (!words || typeof words === "string") { return words || ""; }
    if (words.place) { return (KIND[words.place] || "") + ": " + words.name; }
    return _(words.english, words.values);
  }
  function setName(entry, words) {
    entry.words = typeof words === "string" ? null : words;
    entry.label = nameOf(words);
  }
  // A circle's new radius in its name ("1 km round BS1 6AD" to "400 m round …").
  function radiusNamed(entry, metres) {
    if (entry.words && entry.words.values && entry.words.values.radius) {
      entry.words.values.radius = radiusLabel(metres);
      entry.label = nameOf(entry.words);
    } else {
      entry.label = entry.label.replace(/^[\d.]+ k?m/, radiusLabel(metres));
    }
  }

  function addEntry(layer, kind, words, extra) {
    areaAddedWhileDrawing();
    var entry = { id: nextId++, layer: layer, kind: kind, exclude: false };
    setName(entry, words);
    Object.keys(extra || {}).forEach(function (k) { entry[k] = extra[k]; });
    layer.caEntry = entry;
    entries.push(entry);
    styleEntry(entry);
    renderEntries();
    return entry;
  }

  // An area found by its postcode or chosen from the list while drawing ends the
  // drawing, and the reach bar comes back (it stayed hidden: a review): when it was
  // asked for once drawing, before a corner was placed. A postcode's answer or a
  // phone's location asked for before "Draw area" and coming late, or an area added
  // with corners placed, leaves the drawing as it is (its corners were thrown away,
  // and the taps after them did nothing: an outside check).
  // Asked for: by the controls that ask for an area (a postcode's Find, a location, a
  // place chosen, "Undo clear"); a tap anywhere else let a late answer end the
  // drawing, and then a tap on the area panel's words, a hint or a label (a tap to
  // put a phone's keyboard away lands there: reviews).
  var askedAt = 0;
  var ASKS = "#postcode-form button, #name-results button, #place-results button, " +
    "#use-location, #undo-clear";
  function asking(event) {
    var target = event.target;
    if (!target.closest) { return false; }
    if (event.type === "submit") { return target.id === "postcode-form"; }
    if (event.type === "keydown") {
      return event.key === "Enter" && !!target.closest(ASKS + ", #centre-postcode, #place-search");
    }
    return !!target.closest(ASKS);
  }
  ["click", "submit", "keydown"].forEach(function (kind) {
    document.addEventListener(kind, function (event) {
      if (asking(event)) { askedAt = Date.now(); }
    }, true);
  });
  function areaAddedWhileDrawing() {
    if (drawing && !drawing.points.length && askedAt > drawing.started) { stopDrawing(); }
  }

  function removeEntry(entry) {
    entries = entries.filter(function (e) { return e !== entry; });
    if (entry.layer === searchCircle) { searchCircle = null; }
    shapes.removeLayer(entry.layer);
    places.removeLayer(entry.layer);
    renderEntries();
    refreshPreview();
  }

  function styleEntry(entry) {
    var style = entry.exclude ? STYLE.exclude : STYLE.include;
    entry.layer.setStyle && entry.layer.setStyle(style);
  }

  // `focus`: the button to give focus back to once the list is drawn again ({id,
  // action}), so a keyboard is not thrown back to the top of the page.
  function renderEntries(focus) {
    var list = $("shapes-list");
    list.textContent = "";
    if (entries.length) { cleared = null; $("undo-clear").hidden = true; }
    $("shapes-empty").hidden = entries.length > 0;
    entries.forEach(function (entry) {
      var item = document.createElement("li");
      item.className = "shape-item" + (entry.exclude ? " excluded" : "");
      var text = document.createElement("span");
      text.className = "shape-label";
      text.textContent = entry.exclude ? _("Left out: {area}", { area: entry.label }) : entry.label;
      var toggle = document.createElement("button");
      toggle.type = "button";
      toggle.className = "button secondary small";
      // Says what it does now, in words: no state to read from a colour.
      toggle.textContent = entry.exclude ? _("Include again") : _("Leave out");
      toggle.setAttribute("aria-label", entry.exclude ? _("Include again: {area}", { area: entry.label }) :
        _("Leave out: {area}", { area: entry.label }));
      toggle.dataset.entry = entry.id;
      toggle.dataset.action = "toggle";
      toggle.addEventListener("click", function () {
        entry.exclude = !entry.exclude;
        styleEntry(entry);
        renderEntries({ id: entry.id, action: "toggle" });
        refreshPreview();
      });
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button secondary small";
      remove.textContent = _("Remove");
      remove.setAttribute("aria-label", _("Remove {area}", { area: entry.label }));
      remove.dataset.entry = entry.id;
      remove.dataset.action = "remove";
      remove.addEventListener("click", function () {
        // Focus goes to the next area's Remove, else the previous one's, else Draw area.
        var at = entries.indexOf(entry);
        var next = entries[at + 1] || entries[at - 1];
        removeEntry(entry);
        if (next) { focusEntry(next.id, "remove"); } else { focusInView($("draw-polygon")); }
      });
      item.appendChild(text);
      item.appendChild(toggle);
      item.appendChild(remove);
      if (entry.refused) {
        // The server's refusal of this one, beside it, its Remove at hand.
        item.classList.add("refused");
        var why = document.createElement("span");
        why.className = "shape-refused field-error";
        why.id = "shape-refused-" + entry.id;
        why.textContent = entry.refused;
        item.appendChild(why);
        remove.setAttribute("aria-describedby", why.id);
      }
      list.appendChild(item);
    });
    if (focus) { focusEntry(focus.id, focus.action); }
  }
  function focusEntry(id, action) {
    var button = $("shapes-list").querySelector('[data-entry="' + id + '"][data-action="' + action + '"]');
    if (button) { focusInView(button); }
  }
  // Focused, and shown above the reach bar: at 200% text on a small phone an area's
  // row added, or "Draw area" after a shape, had it below the screen (an outside check).
  function focusInView(element) {
    element.focus({ preventScroll: true });
    window.CAPage.showInRoom(element, element, barTop());
  }

  function shapeSpecs() {
    var specs = [];
    entries.forEach(function (entry) {
      var layer = entry.layer;
      var spec;
      if (entry.kind === "place") {
        spec = { kind: "place", place_id: entry.placeId, name: entry.label };
      } else if (layer instanceof L.Circle) {
        var c = layer.getLatLng();
        spec = { kind: "circle", center: [c.lng, c.lat], radius_m: Math.round(layer.getRadius()) };
      } else if (layer instanceof L.Polygon) {
        var rings = layer.getLatLngs();
        if (rings.length && !Array.isArray(rings[0])) { rings = [rings]; }
        // Leaflet leaves rings open; GeoJSON closes them.
        spec = {
          kind: layer instanceof L.Rectangle ? "rectangle" : "polygon",
          coordinates: rings.map(function (ring) {
            var points = ring.map(function (p) { return [p.lng, p.lat]; });
            if (points.length) { points.push(points[0]); }
            return points;
          })
        };
      }
      if (spec) { spec.exclude = entry.exclude; specs.push(spec); }
    });
    return specs;
  }

  function checked(name) {
    return Array.prototype.map.call(
      document.querySelectorAll('input[name="' + name + '"]:checked'), function (i) { return i.value; });
  }

  function targetRequest() {
    var channels = checked("channels");
    return {
      shapes: audience() === "parent" ? [] : shapeSpecs(),
      groups: checked("groups"),
      // All three ticked is "every channel"; none ticked is refused by the server.
      channels: channels.length === 3 ? [] : (channels.length ? channels : ["none"]),
      category: $("category").value,
      // A follow-up of an exercise is one: the preview of its count refused a draft
      // sent as live (an outside check: the all-clear of an exercise could not be sent).
      mode: mode(),
      audience: audience(),
      parent_id: settings.parentId
    };
  }

  // --- the count --------------------------------------------------------------------

  // A figure in a sentence (at FIGURE), with a capital when the sentence begins with
  // it in the page's language: "Fewer than 5 of them…" ("fewer than 5 of them", after
  // a full stop: an outside check), but "Mae llai na 5 ohonynt…" (a review).
  var FIGURE = "\u0001";
  function sentenceWith(sentence, words) {
    var first = sentence.indexOf(FIGURE) === 0;
    return sentence.replace(FIGURE, first ? words.charAt(0).toUpperCase() + words.slice(1) : words);
  }

  function showCounts(counts, announce) {
    lastCounts = counts;
    if (announce) {
      $("reach-announce").textContent = sentenceWith(_(
        "{residents} residents reached: {sms} by text, {voice} by voice, {email} by e-mail.", {
          residents: FIGURE, sms: channelFigure(counts, "sms"),
          voice: channelFigure(counts, "voice"), email: channelFigure(counts, "email")
        }), figure(counts.residents));
    }
    $("reach-residents").textContent = figure(counts.residents);
    $("reach-sms").textContent = channelFigure(counts, "sms");
    $("reach-voice").textContent = channelFigure(counts, "voice");
    $("reach-email").textContent = channelFigure(counts, "email");
    var groups = counts.groups || {};
    Array.prototype.forEach.call(document.querySelectorAll(".group-count"), function (span) {
      span.textContent = span.dataset.group in groups ?
        _("({count} reached)", { count: figure(groups[span.dataset.group]) }) : "";
    });
    // No edge for a follow-up to the same people, nor before an area is drawn.
    var edge = counts.near_edge;
    $("reach-edge").textContent = edge && counts.residents !== 0 ?
      sentenceWith(_("{inside} of them live within 100 m of the edge; {outside} just outside it are left out.",
        { inside: FIGURE, outside: figure(edge.outside) }), figure(edge.inside)) : "";
    // All of it outside: said by the area (wholeOutsideWords), not here as well.
    var outside = counts.wholly_outside_force ? 0 : counts.outside_force_km2 || 0;
    $("reach-outside").hidden = outside < 0.01;
    // As a person reads an area: 0.4, 3.2, 707 (the server's figure has three decimals).
    // "Less than 0.1" a sentence of its own in each language: it began mid-sentence in
    // the Welsh, and in English (an outside check).
    $("reach-outside").textContent = outside < 0.01 ? "" : outside < 0.1 ?
      _("Less than 0.1 km² of this area is outside {force}: its alerts do not reach residents there.",
        { force: CA.config.forceName }) :
      _("{km2} km² of this area is outside {force}: its alerts do not reach residents there.", {
        km2: outside.toLocaleString("en-GB", { maximumFractionDigits: outside < 10 ? 1 : 0 }),
        force: CA.config.forceName
      });
    // What the server changed in the drawn shapes to use them, e.g. an outline it closed.
    var notes = counts.notes || [];
    $("reach-notes").hidden = !notes.length;
    $("reach-notes").textContent = notes.join(" ");
    $("reach-approval").hidden = !counts.needs_approval;
    showFinish(counts.finish);
    if (counts.wholly_outside_force) {
      // The bar said "fewer than 5 … all out in under a minute", the reason a screen
      // below it (an outside check).
      $("reach-time").textContent = _("outside {force}: see the area", { force: CA.config.forceName });
      // Nor "fewer than 5 residents" beside "its alerts reach nobody there" (an outside
      // check): a hidden count there is a dash, as an area with no count has.
      ["residents", "sms", "voice", "email"].forEach(function (name) {
        var count = name === "residents" ? counts.residents : counts.channels[name];
        if ((count === null || count === undefined) && (name === "residents" || chosen(name))) {
          $("reach-" + name).textContent = "–";
        }
      });
    }
    $("send").textContent = counts.needs_approval ? _("Request approval…") : _("Send…");
    drawCells(counts.cells || []);
    showCost();
  }

  // An area all outside the force: not refused (a few of its postcodes lie just past
  // the drawn boundary), but said where the officer is looking.
  function wholeOutsideWords() {
    return _("All of this area is outside {force}: its alerts reach nobody there. Move the area into {force} to reach its residents.", {
      force: CA.config.forceName
    });
  }

  // No count for this area (refused, or not answered): the bar must not keep the last
  // area's numbers, which could be taken for this one's.
  function clearCounts() {
    ["reach-residents", "reach-sms", "reach-voice", "reach-email"].forEach(function (id) {
      $(id).textContent = "–";
    });
    $("reach-time").textContent = _("no count: see the area");
    // Not the area's message again: it is said where it stands, as an alert, and a
    // screen reader read its 250 characters twice (an outside check).
    $("reach-announce").textContent = $("area-error").hidden ? _("No count for this area.") :
      _("No count for this area: see the message about it.");
    Array.prototype.forEach.call(document.querySelectorAll(".group-count"), function (span) {
      span.textContent = "";
    });
    ["reach-outside", "reach-notes", "reach-approval", "reach-slow"].forEach(function (id) {
      $(id).hidden = true;
    });
    $("reach-edge").textContent = "";
    $("cost").textContent = "";
  }

  // When the last message would go, from each channel's provider limit and the queue
  // already waiting; a voice alert that takes over an hour is offered as texts instead.
  function duration(seconds) {
    if (seconds < 60) { return _("under a minute"); }
    var minutes = Math.round(seconds / 60);
    if (minutes < 60) { return _("{minutes} min", { minutes: minutes }); }
    return _("{hours} h {minutes} min", { hours: Math.floor(minutes / 60), minutes: minutes % 60 });
  }
  function showFinish(finish) {
    var slowest = finish ? finish.slowest_seconds : null;
    $("reach-time").textContent = slowest === null || slowest === undefined ? "" :
      _("all out in {time}", { time: duration(slowest) });
    var voice = finish && finish.channels.voice;
    var slow = voice && voice.seconds > 3600;
    $("reach-slow").hidden = !slow;
    $("reach-slow-text").textContent = slow ?
      (voice.waiting ?
        _("The calls would take {time} to place, at {rate} a second behind {waiting} already waiting. Texts reach the same people faster if they have a mobile.",
          { time: duration(voice.seconds), rate: voice.per_second, waiting: number(voice.waiting) }) :
        _("The calls would take {time} to place, at {rate} a second. Texts reach the same people faster if they have a mobile.",
          { time: duration(voice.seconds), rate: voice.per_second })) : "";
  }
  $("text-instead").addEventListener("click", function () {
    $("channel-voice").checked = false;
    $("channel-sms").checked = true;
    refreshPreview();
  });
  // The bar's height as it wraps, for what the page keeps clear above it (app.css):
  // on a phone, with every channel counted, it is three lines, and "Send…" scrolled
  // into sight under it, where a tap reached the bar instead (a test).
  // A bar over a fifth of the screen (a phone at 200% text: 38% of it, an outside
  // check) shows the residents alone; the channels and the time are in step 3, a tap
  // away. Measured whole each time, so the choice does not flip back and forth.
  var BAR_MOST = 0.2;
  function measureBar() {
    var bar = $("reach-bar");
    bar.classList.remove("reach-bar-tight");
    bar.classList.toggle("reach-bar-tight", bar.offsetHeight > BAR_MOST * window.innerHeight);
    document.documentElement.style.setProperty("--reach-bar-height", bar.offsetHeight + "px");
  }
  measureBar();
  if (window.ResizeObserver) { new ResizeObserver(measureBar).observe($("reach-bar")); }
  window.addEventListener("resize", measureBar);
  $("reach-bar").addEventListener("click", function (event) {
    event.preventDefault();
    // The area refused or all outside the force: to why, not to a send that cannot go.
    // A search's message (a street typed in the postcode box) is not the area's: the
    // area counted, the bar leads on to sending (it led to the search's: an outside check).
    var target = areaMessage ? $("area-error") : $("step-send");
    target.scrollIntoView({ block: "start" });
    target.focus({ preventScroll: true });
  });

  // A refused area's reason, where the officer is looking: on a phone it sat a screen
  // below the map, under the bar that only said "see the area" (an outside probe).
  function bringIntoView(element) {
    var active = document.activeElement;
    if (active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) &&
        (element.compareDocumentPosition(active) & Node.DOCUMENT_POSITION_FOLLOWING)) {
      return;  // writing further down (the title, the message): the page stays put
    }
    // Nor while a slider is being moved: dragged by a thumb past the team's wards, the
    // page scrolled away under it (the value jumping about), and so did a slider moved
    // by its arrow keys, leaving it out of sight (an outside check). The bar says there
    // is no count and leads to why.
    // A thumb's drag does not focus the slider (Chromium: the focus stayed in the
    // postcode box, and the page still jumped 911 px: a re-check), so a drag under
    // way counts too, from the touch or pointer that began it to its "change".
    if ((active && active.type === "range") || sliding) { return; }
    // Nor while the shapes are being changed on the map: a corner or a circle's handle
    // dragged by a thumb past the team's wards scrolled the page 1,200 px away from the
    // map, the edit still under way (an outside check).
    if (map.pm && (map.pm.globalEditModeEnabled() || map.pm.globalDragModeEnabled())) { return; }
    var box = element.getBoundingClientRect();
    var bar = $("reach-bar").getBoundingClientRect();
    if (box.top < 0 || box.bottom > Math.min(window.innerHeight, bar.top || window.innerHeight)) {
      // From its start when centred would cut it off: at 200% text on a small phone an
      // area refused began above the screen and ended under the bar (an outside check).
      showAll([element]);
    }
  }

  // Squares with fewer than the minimum never come: the server leaves them out.
  function drawCells(list) {
    cells.clearLayers();
    var most = list.reduce(function (m, c) { return Math.max(m, c.residents); }, 1);
    list.forEach(function (cell) {
      var layer = L.geoJSON(JSON.parse(cell.geometry), {
        interactive: false, pmIgnore: true,
        style: { stroke: false, fillColor: "#b45309", fillOpacity: 0.2 + 0.5 * cell.residents / most }
      });
      cells.addLayer(layer);
    });
    cells.bringToBack();
  }

  // Whether the message shown is about the area (refused, or outside the force) rather
  // than about a search; and what the bar leads to, read out by a screen reader: the
  // reason, while there is one, not a step that cannot send (an outside check).
  var areaMessage = false;
  function showAreaError(message, aboutArea) {
    // The words going while they had the focus (a ward that failed, come after all):
    // the focus goes to the area last listed, not to the page (an outside check).
    var focused = !message && !$("area-error").hidden && $("area-error").contains(document.activeElement);
    $("area-error").textContent = message || "";
    $("area-error").hidden = !message;
    if (focused && entries.length) { focusEntry(entries[entries.length - 1].id, "toggle"); }
    if (aboutArea || !message || !lastCounts) { areaMessage = !!message; }
    $("reach-go").textContent = areaMessage ? _("Go to the message about this area.") :
      _("Go to step 3, Send it.");
  }

  // While a count is on its way, sending would confirm a number that may be stale.
  function setBusy(busy) {
    $("reach").setAttribute("aria-busy", busy ? "true" : "false");
    $("reach-bar").setAttribute("aria-busy", busy ? "true" : "false");
    $("reach-updating").hidden = !busy;
    $("send").disabled = busy;
    $("confirm-send").disabled = busy;
    if (busy) { $("confirm").hidden = true; }
  }

  // Nothing may be sent on a count about to change: from the moment the area changes
  // until its count is back, and while a change is on its way (a place's outline, a
  // postcode's point, the phone's position). A ward tapped on a slow network was not
  // yet in the area when "Send…" asked about the old count, and the alert went without
  // it (an outside check).
  var previewPending = false;
  var previewRefused = false;  // the server refused the last count (not the network)
  var areaLoads = 0;
  function settle() {
    if (!previewPending && !areaLoads) { setBusy(false); }
  }
  // At most AREA_WAIT_MS: an answer that never comes (a permission prompt left open,
  // a request lost) leaves the area as it is, and Send must not stay off for good. It
  // is said, and an answer after it dropped: Send came back on for the old circle, the
  // box showing the new postcode, and the late answer then replaced the area unsaid
  // (an outside check).
  var AREA_WAIT_MS = settings.areaWaitMs || 20000;
  // `kind`: "centre" (a newer ask for a centre ends its wait: Send… waited for an
  // answer that would be dropped, up to 20 s, a re-check) or "place" (Clear ends it).
  var centreLoadEnds = null;
  var placeLoadEnds = [];
  function loadingArea(promise, kind) {
    var ended = false;
    function end() {
      if (ended) { return; }
      ended = true;
      areaLoads -= 1;
      settle();
    }
    areaLoads += 1;
    setBusy(true);
    var givenUp = new Promise(function (resolve, reject) {
      setTimeout(function () {
        if (ended) { return; }  // answered, or no longer waited for
        end();
        reject(new Error(_("No answer came within {seconds} seconds (the signal may be weak), so the area is as it was. Try again.",
          { seconds: Math.round(AREA_WAIT_MS / 1000) })));
      }, AREA_WAIT_MS);
    });
    if (kind === "centre") { centreLoadEnds = end; }
    if (kind === "place") { placeLoadEnds.push(end); }
    return Promise.race([promise, givenUp]).finally(end);
  }

  var timer = null;
  var sequence = 0;
  var areaRefused = false;
  // How long the page waits after the last change before it asks for a count (a
  // dragged slider asks once, not forty times; the preview takes well under this at
  // force scale). bench/bench_map_browser.py reports it.
  var PREVIEW_DEBOUNCE_MS = 120;
  CA.previewDebounceMs = PREVIEW_DEBOUNCE_MS;
  var PREVIEW_RETRY_MS = 5000;
  var retryTimer = null;
  var retryMine = -1;  // the count that got no answer, to ask again
  window.addEventListener("online", function () {
    if (retryMine === sequence) { clearTimeout(retryTimer); refreshPreview(); }
  });
  function refreshPreview() {
    saveDraft();
    clearTimeout(timer);
    ++sequence;  // an answer still on its way is of an area already changed
    previewPending = true;
    setBusy(true);
    timer = setTimeout(function () {
      var request = targetRequest();
      if (request.audience === "area" && !request.shapes.length) {
        // Said to a screen reader too once a count has been (Clear left "48 residents
        // reached" in the live region: an outside check); not as the page opens.
        showCounts({ residents: 0, channels: { sms: 0, voice: 0, email: 0 }, cells: [] },
          $("reach-announce").textContent !== "");
        showAreaError(areaWords(), true);
        offerInside(null);
        previewPending = false;
        settle();
        return;
      }
      var mine = sequence;  // only the newest answer is shown (refreshPreview counts)
      CA.fetchJSON(settings.previewUrl, request).then(function (counts) {
        if (mine !== sequence) { return; }
        areaRefused = false;
        previewRefused = false;
        markRefused(null, "");
        offerInside(null);
        // A draft's place not loaded stays said: the next count wiped it, and one
        // failing at once was never said, the count the circle's alone (outside checks).
        showAreaError(counts.wholly_outside_force ? wholeOutsideWords() : areaWords(), true);
        showCounts(counts, true);
        if (counts.wholly_outside_force) { bringIntoView($("area-error")); }
      }).catch(function (error) {
        if (mine !== sequence) { return; }
        lastCounts = null;
        // Refused by the server for the area itself (not a dropped signal or a server
        // error, which the next count may not meet).
        areaRefused = !!(error.data && error.data.errors && error.data.errors.area);
        previewRefused = !!(error.data && error.data.errors);  // not a dropped signal
        markRefused(areaRefused ? error.data.shape : null, error.message);
        offerInside(areaRefused && error.data.inside_area || null);
        cells.clearLayers();
        showAreaError(error.message, true);
        clearCounts();
        // And no answer, on a desktop, where the map and the form sit side by side: the
        // words went under the reach bar, out of sight (an outside check). On a phone
        // the page stays put under the thumb drawing, and the bar says to look.
        var sideBySide = window.matchMedia && window.matchMedia("(min-width: 60rem)").matches;
        if (areaRefused || (error.noAnswer && sideBySide)) { bringIntoView($("area-error")); }
        // No answer (the signal dropped): asked again in a few seconds, and at once when
        // the phone is back online, until an answer comes or the area changes. The bar
        // stayed "–" until the officer nudged the area (an outside check).
        if (error.noAnswer) {
          clearTimeout(retryTimer);
          retryTimer = setTimeout(function () {
            if (mine === sequence) { refreshPreview(); }
          }, PREVIEW_RETRY_MS);
          retryMine = mine;
        }
      }).finally(function () {
        if (mine === sequence) {
          previewPending = false;
          settle();
        }
      });
    }, PREVIEW_DEBOUNCE_MS);
  }

  // The shape the server refused (its number in the request, from 1: the list's
  // order), marked in the list with the refusal; none when `number` is not one.
  function markRefused(number, message) {
    var changed = false;
    entries.forEach(function (entry, at) {
      var refused = typeof number === "number" && at === number - 1 ? message : "";
      if ((entry.refused || "") !== refused) { entry.refused = refused; changed = true; }
    });
    if (!changed) { return; }
    // The list is drawn again: a keyboard's place in it is kept (a review).
    var active = document.activeElement;
    var inList = active && $("shapes-list").contains(active) && active.dataset.entry;
    renderEntries(inList ? { id: Number(active.dataset.entry), action: active.dataset.action } : null);
  }

  // An area refused for its part outside the team's areas comes with the part inside
  // (the server's polygons): one tap keeps that part, rather than a PCSO redrawing a
  // sliver's worth of outline by hand on a phone.
  var insideArea = null;
  function offerInside(area) {
    insideArea = area && area.coordinates && area.coordinates.length ? area : null;
    $("keep-inside-row").hidden = !insideArea;
  }
  $("keep-inside").addEventListener("click", function () {
    if (!insideArea) { return; }
    var parts = insideArea.coordinates;
    offerInside(null);
    clearAreas();
    var added = parts.map(function (polygon) {
      // GeoJSON's closed [lng, lat] rings as Leaflet's open [lat, lng] ones.
      var rings = polygon.map(function (ring) {
        return ring.slice(0, -1).map(function (p) { return [p[1], p[0]]; });
      });
      var layer = L.polygon(rings).addTo(shapes);
      layer.on("pm:edit pm:dragend", refreshPreview);
      return addEntry(layer, "polygon", named(N_("Part inside your team's areas")));
    });
    if (!drawing) { map.fitBounds(shapes.getBounds(), { padding: [20, 20] }); }
    renderEntries({ id: added[0].id, action: "toggle" });
    refreshPreview();
  });

  // --- drawing and finding ----------------------------------------------------------


  // A circle drawn with a finger is kept to the radii the server takes (100 m to
  // 20 km), saying so: a flick drew one of a few metres, the whole count stopped, and
  // the refusal named a circle by a number the list does not show (an outside check).
  function keepRadius(entry) {
    var radius = entry.layer.getRadius();
    var kept = Math.min(20000, Math.max(100, radius));
    if (kept === radius) { return; }
    entry.layer.setRadius(kept);
    setName(entry, named(kept === 100 ? N_("Drawn circle (made 100 m, the smallest radius)") :
      N_("Drawn circle (made 20 km, the largest radius)")));
    renderEntries();
  }
  map.on("pm:create", function (e) {
    var kind = e.shape === "Circle" ? "circle" : "polygon";
    var label = named(e.shape === "Circle" ? N_("Drawn circle") : e.shape === "Rectangle" ? N_("Drawn rectangle") : N_("Drawn area"));
    var entry = addEntry(e.layer, kind, label);
    if (e.layer instanceof L.Circle) {
      keepRadius(entry);
      e.layer.on("pm:edit", function () { keepRadius(entry); });
    }
    e.layer.on("pm:edit pm:dragend", refreshPreview);
    refreshPreview();
  });
  // One drawing at a time: the map's own tools, armed while drawing, end it.
  map.on("pm:drawstart", function () { stopDrawing(); });
  map.on("pm:remove", function (e) {
    if (e.layer.caEntry) { removeEntry(e.layer.caEntry); } else { refreshPreview(); }
  });

  // A note about the circle's centre (a rough phone fix, an old postcode); "" for none.
  function centreNote(text) {
    $("location-note").hidden = !text;
    $("location-note").textContent = text;
  }

  // Each ask for a circle's centre (a postcode, a place's name, the phone's location)
  // is numbered, and only the newest's answer is drawn: a slow answer to an older one
  // replaced the newer circle, its postcode put back in the box, and the alert went
  // round the place the officer had moved away from (an outside check). Clear ends
  // every ask before it.
  var centreAsked = 0;
  function askCentre() {
    if (centreLoadEnds) { centreLoadEnds(); centreLoadEnds = null; }  // no longer waited for
    centreAsked += 1;
    return centreAsked;
  }
  function newest(ask) { return ask === centreAsked; }

  function centreCircle(latlng, label) {
    var radius = radiusNow();
    centreNote("");  // the last circle's note is not this one's
    if (searchCircle) { removeEntry(searchCircle.caEntry); }
    searchCircle = L.circle(latlng, { radius: radius }).addTo(shapes);
    searchCircle.caTyped = $("centre-postcode").value;  // for an undo (Clear)
    addEntry(searchCircle, "circle", label);
    searchCircle.on("pm:edit pm:dragend", function () {
      var metres = Math.round(searchCircle.getRadius());
      setRadiusFields(metres);
      radiusNamed(searchCircle.caEntry, metres);
      renderEntries();
      refreshPreview();
    });
    // Not while a shape is being drawn: the map moved between two taps, and one
    // square on the screen drew sides of 0.7 to 67 km (an outside check).
    if (!drawing) { map.fitBounds(searchCircle.getBounds(), { padding: [20, 20] }); }
    refreshPreview();
  }

  // "1 km round BS1 6AD": the circle's label (its radius first: setRadius rewrites it).
  function round(place) {
    return named(N_("{radius} round {place}"), { radius: radiusLabel(radiusNow()), place: place });
  }

  // The box takes a postcode, or a street or place name when the force has loaded
  // them (flask geo load-names); otherwise it says it needs a postcode.
  function looksLikePostcode(text) { return /^[A-Za-z]{1,2}\d/.test(text.trim()); }
  function showNameResults(results) {
    var list = $("name-results");
    list.textContent = "";
    results.forEach(function (found) {
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button secondary place-choice";
      button.textContent = found.name + (found.area ? ", " + found.area : "");
      button.addEventListener("click", function () {
        askCentre();  // chosen: no older ask's answer replaces it
        list.textContent = "";
        $("centre-postcode").value = found.name;
        centreCircle([found.latitude, found.longitude], round(found.name));
      });
      item.appendChild(button);
      list.appendChild(item);
    });
  }
  // What is wrong with the search, at its box: it was said with the area's refusals,
  // 950 px below on a phone, in words written for residents (an outside check).
  function showSearchError(message) {
    $("search-error").textContent = message || "";
    $("search-error").hidden = !message;
    if (message) {
      $("centre-postcode").setAttribute("aria-invalid", "true");
      $("centre-postcode").setAttribute("aria-describedby", "search-error");
      // The words and the box under them above the reach bar: shown, they pushed the
      // focused box under it, and at 200% Welsh only their first words showed (an
      // outside check). Not while a shape is drawn: the map stays where it is.
      if (!drawing) { window.CAPage.showInRoom($("search-error"), $("centre-postcode"), barTop()); }
    } else {
      $("centre-postcode").removeAttribute("aria-invalid");
      $("centre-postcode").removeAttribute("aria-describedby");
    }
  }
  function findName(typed) {
    var ask = askCentre();
    loadingArea(CA.fetchJSON(settings.namesUrl, { q: typed.trim(), limit: 8 }), "centre").then(function (found) {
      if (!newest(ask)) { return; }
      if (!found.loaded) {
        showSearchError(_("Enter a postcode, like BS1 6AD: no street or place names are loaded here. To choose a ward or district, use the search below."));
        return;
      }
      if (!found.results.length) {
        showSearchError(_("We can't find a street or place called {name}. Try a postcode.", { name: typed.trim() }));
        return;
      }
      showSearchError("");
      if (found.results.length === 1) {
        var only = found.results[0];
        centreCircle([only.latitude, only.longitude], round(only.name));
        return;
      }
      showNameResults(found.results);
    }).catch(function (error) { if (newest(ask)) { showSearchError(error.message); } });
  }
  $("postcode-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var postcode = $("centre-postcode").value;
    $("name-results").textContent = "";
    if (!postcode.trim()) { showSearchError(_("Enter a postcode to centre the circle on.")); return; }
    showSearchError("");
    if (!looksLikePostcode(postcode)) { findName(postcode); return; }
    var ask = askCentre();
    loadingArea(CA.lookUpPostcode(postcode), "centre").then(function (found) {
      if (!newest(ask)) { return; }
      $("centre-postcode").value = found.postcode;
      if (found.latitude === null) {
        showSearchError(_("{postcode} has no location in the postcode data. Try a neighbouring postcode.", { postcode: found.postcode }));
        return;
      }
      centreCircle([found.latitude, found.longitude], round(found.postcode));
    }).catch(function (error) {
      if (!newest(ask)) { return; }
      // No longer in use, but where it was is known: an old record may carry one.
      var gone = error.data && error.data.terminated;
      if (error.data && error.data.reason === "unknown") {
        // The residents' words ("If you live elsewhere…") are not an officer's.
        showSearchError(_("We can't find {postcode}. Check it is typed correctly, or find the place by its name or on the map.", { postcode: postcode.trim().toUpperCase() }));
        return;
      }
      if (!gone || gone.latitude === null || gone.latitude === undefined) { showSearchError(error.message); return; }
      $("centre-postcode").value = gone.postcode;
      centreCircle([gone.latitude, gone.longitude], round(gone.postcode));
      centreNote(_("{postcode} is no longer in use (Royal Mail stopped using it): the circle is centred where it was. Check it is the place you mean.", { postcode: gone.postcode }));
    });
  });

  // A location refused is said at the postcode box, in view, the box focused to type
  // one: said with the area's refusals, 230 px below a phone's screen, the button
  // seemed to do nothing (an outside check).
  function noLocation(message) {
    $("centre-postcode").focus({ preventScroll: true });
    showSearchError(message);  // in view with the box (it began 140 px above the screen)
  }
  $("use-location").addEventListener("click", function () {
    showSearchError("");
    if (!navigator.geolocation) { noLocation(_("This browser cannot tell where you are. Enter a postcode.")); return; }
    var located = function () {};
    var ask = askCentre();
    loadingArea(new Promise(function (resolve) { located = resolve; }), "centre").catch(function (error) {
      if (!newest(ask)) { return; }
      askCentre();  // a fix after it is dropped
      noLocation(error.message);
    });
    navigator.geolocation.getCurrentPosition(function (position) {
      located();
      if (!newest(ask)) { return; }
      centreCircle([position.coords.latitude, position.coords.longitude],
        named(N_("{radius} round your location"), { radius: radiusLabel(radiusNow()) }));
      // A fix from the mobile network alone can be kilometres out: say so, rather than
      // draw a circle that looks as sure as a postcode's (an outside probe).
      var accuracy = position.coords.accuracy;
      var rough = accuracy > Math.min(radiusNow() / 2, 500);
      centreNote(rough ? _("Your phone places you only to within {metres} m: check the circle is where you are, or enter a postcode.", { metres: Math.round(accuracy).toLocaleString("en-GB") }) : "");
    }, function () {
      located();
      if (!newest(ask)) { return; }
      noLocation(_("Your location is not available (permission refused or no signal). Enter a postcode."));
    }, { enableHighAccuracy: true, timeout: 10000 });
  });

  // The slider's stops: a street to a town, in steps a thumb can take. From 100 m to
  // 20 km in even steps, a pixel was 90 m on a phone, and the radii a PCSO uses (200 m
  // to 2 km) sat in the first 20 px (an outside check).
  var STOPS = [100, 150, 200, 250, 300, 400, 500, 600, 700, 800, 900, 1000, 1200, 1500,
               2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 15000, 20000];
  function stopOf(metres) {
    var best = 0;
    STOPS.forEach(function (stop, index) {
      if (Math.abs(Math.log(stop / metres)) < Math.abs(Math.log(STOPS[best] / metres))) { best = index; }
    });
    return best;
  }
  function setRadiusFields(metres) {
    $("radius").value = stopOf(metres);
    $("radius").dataset.metres = metres;  // the slider keeps only its stops
    $("radius-m").value = metres;
    $("radius-label").textContent = radiusLabel(metres);
    $("radius").setAttribute("aria-valuetext", radiusLabel(metres));
  }

  // The slider moves in 100 m; a typed radius is kept to 10 m (150 became 200 without
  // a word: an outside check).
  var radiusWrong = false;  // the radius box holds what is not a radius
  function setRadius(metres, typed) {
    radiusWrong = false;
    $("radius-error").hidden = true;
    $("radius-m").setAttribute("aria-invalid", "false");
    var step = typed ? 10 : 100;
    metres = Math.min(20000, Math.max(100, Math.round(metres / step) * step || 1000));
    setRadiusFields(metres);
    if (searchCircle) {
      searchCircle.setRadius(metres);
      // Not while a shape is drawn: a radius typed between two corners moved the map,
      // and the shape came out a sliver kilometres long (an outside check).
      if (!drawing) { map.fitBounds(searchCircle.getBounds(), { padding: [20, 20] }); }
      radiusNamed(searchCircle.caEntry, metres);
      renderEntries();
      refreshPreview();
    }
  }
  var sliding = false;  // a finger or pointer is on the slider (see bringIntoView)
  var slid = null;  // the wait after it, for the count the last move asked for
  ["pointerdown", "touchstart", "mousedown"].forEach(function (name) {
    $("radius").addEventListener(name, function () {
      window.clearTimeout(slid);  // an earlier move's wait must not end this one
      sliding = true;
    }, { passive: true });
  });
  // Let go anywhere: a mouse released off the slider left the flag set for good, and
  // no refusal was brought into view after (a review).
  ["pointerup", "pointercancel", "touchend", "touchcancel", "mouseup"].forEach(function (name) {
    window.addEventListener(name, function () {
      if (!sliding) { return; }
      window.clearTimeout(slid);
      slid = window.setTimeout(function () { sliding = false; }, 1500);
    }, { passive: true });
  });
  $("radius").addEventListener("input", function () {
    setRadius(STOPS[Number($("radius").value)] || 1000, true);
  });
  // A typed radius out of range is said, not silently made 1 km (5, meant as km, was).
  $("radius-m").addEventListener("change", function () {
    var typed = $("radius-m").value.trim() === "" ? NaN : Number($("radius-m").value);
    var wrong = !isFinite(typed) || typed < 100 || typed > 20000;
    radiusWrong = wrong;
    $("radius-error").hidden = !wrong;
    $("radius-error").textContent = wrong ? _("Give the radius in metres, from 100 to 20,000 (5 km is 5000).") : "";
    $("radius-m").setAttribute("aria-invalid", wrong ? "true" : "false");
    // Wrong: the circle stays as it was, and the typed value stays beside what is
    // wrong with it (it went back to the circle's, under the message: an outside check).
    if (wrong) { return; }
    setRadius(typed, true);
  });

  // --- drawing an area with one thumb ------------------------------------------------
  // Each tap adds a corner (the first one too); tapping the first corner again, or
  // "Finish shape", closes it; "Undo last point" takes the latest corner back.
  var drawing = null;
  function drawStatus() {
    var n = drawing.points.length;
    // Tap on a phone, click with a mouse (a desktop was told to tap: an outside check).
    $("draw-status").textContent = touch ? (n === 0 ? _("Tap the map to add corners.") :
      n === 1 ? _("1 corner: tap at least 2 more.") : n === 2 ? _("2 corners: tap at least 1 more.") :
      _("{n} corners. Tap the first corner or Finish shape to close it.", { n: n })) :
      (n === 0 ? _("Click the map to add corners.") :
      n === 1 ? _("1 corner: click at least 2 more.") : n === 2 ? _("2 corners: click at least 1 more.") :
      _("{n} corners. Click the first corner or Finish shape to close it.", { n: n }));
    $("draw-undo").disabled = n === 0;
    $("draw-finish").disabled = n < 3;
    drawing.line.setLatLngs(drawing.points);
    drawing.marks.clearLayers();
    drawing.points.forEach(function (point, index) {
      L.circleMarker(point, { radius: index === 0 ? 9 : 6, color: "#1d4ed8", weight: 3,
        fillColor: "#fff", fillOpacity: 1, interactive: false, pmIgnore: true }).addTo(drawing.marks);
    });
  }
  function startDrawing() {
    stopDrawing();
    // The map's own rectangle and circle tools are put away: both took each tap, and
    // the rectangle's end threw the corners away (an outside check).
    if (map.pm && map.pm.globalDrawModeEnabled()) { map.pm.disableDraw(); }
    drawing = { points: [], line: L.polyline([], { color: "#1d4ed8", dashArray: "6 6", interactive: false, pmIgnore: true }).addTo(map),
                marks: L.layerGroup().addTo(map), started: Date.now() };
    map.doubleClickZoom.disable();  // two quick taps are two corners, not a zoom
    $("map").classList.add("drawing");
    // The reach bar steps aside while drawing: at 200% text on a small phone it covered
    // "Undo last point", and a tap meant for "Finish shape" below it took the page away
    // from the half-drawn shape (an outside check).
    document.body.classList.add("is-drawing");
    map.fire("ca:drawing");  // the data credit folds, and a tap on it is a corner
    $("draw-bar").hidden = false;
    drawStatus();
    // Into the bar (its buttons come before Draw area), so Tab reaches Cancel at once.
    $("draw-cancel").focus({ preventScroll: true });
  }
  function stopDrawing() {
    if (!drawing) { return; }
    map.removeLayer(drawing.line);
    map.removeLayer(drawing.marks);
    drawing = null;
    map.doubleClickZoom.enable();
    $("map").classList.remove("drawing");
    document.body.classList.remove("is-drawing");
    map.fire("ca:drawing");
    $("draw-bar").hidden = true;
  }
  function finishDrawing() {
    if (!drawing || drawing.points.length < 3) { return; }
    var layer = L.polygon(drawing.points, STYLE.include).addTo(shapes);
    stopDrawing();
    addEntry(layer, "polygon", named(N_("Drawn area")));
    layer.on("pm:edit pm:dragend", refreshPreview);
    refreshPreview();
    focusInView($("draw-polygon"));
  }
  map.on("click", function (event) {
    if (!drawing) { return; }
    var points = drawing.points;
    if (points.length >= 3) {
      var first = map.latLngToContainerPoint(points[0]);
      if (first.distanceTo(event.containerPoint) <= 22) { finishDrawing(); return; }
    }
    points.push(event.latlng);
    drawStatus();
  });
  $("draw-undo").addEventListener("click", function () {
    if (drawing && drawing.points.length) { drawing.points.pop(); drawStatus(); }
  });
  $("draw-finish").addEventListener("click", finishDrawing);
  $("draw-cancel").addEventListener("click", function () { stopDrawing(); focusInView($("draw-polygon")); });
  $("draw-polygon").addEventListener("click", function (event) {
    // On a phone the map may have scrolled away under the panel: bring it back to draw on.
    $("map").scrollIntoView({ block: "start" });
    startDrawing();
    var keyboard = event.detail === 0;
    if (keyboard) {
      // Pressed with a keyboard, which cannot place corners on a map: say what can.
      $("draw-status").textContent = _("Corners are placed by tapping or clicking the map. With a keyboard, find a postcode or choose a ward or district below instead. Escape stops drawing.");
    }
    // And its buttons in view below it (at 200% text on a small phone "Finish shape"
    // and "Cancel" were under the screen's edge): the map's top gives way to them.
    // From a keyboard, which draws nothing, the words under them too, from Cancel (the
    // focus) down: they were under the screen's edge (an outside check).
    var room = window.innerHeight;
    var cancel = $("draw-cancel").getBoundingClientRect();
    var by = cancel.bottom - room + 8;
    if (keyboard) {
      by = Math.max(by, Math.min($("draw-status").getBoundingClientRect().bottom - room + 8, cancel.top - 8));
    }
    if (by > 0) { window.scrollBy(0, by); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && drawing) {
      stopDrawing();
      focusInView($("draw-polygon"));
    } else if (event.key === "Escape" && map.pm && map.pm.globalDrawModeEnabled()) {
      // The map's own rectangle and circle tools: Escape left them drawing, and only
      // their button again, or Cancel, ended it (an outside check).
      map.pm.disableDraw();
    }
  });
  // Every area off the map and out of the list (Clear, and keeping the part inside).
  function clearAreas() {
    shapes.clearLayers();
    places.clearLayers();
    entries = [];
    searchCircle = null;
  }
  // One tap clears every area: it can be undone until another area is added (an
  // outside probe lost a drawn area to a slip of the thumb).
  var cleared = null;
  $("clear-shapes").addEventListener("click", function () {
    // A late answer to an ask before it draws nothing now: a centre's, or a place's
    // outline (a ward chosen, then Clear: the ward came back after it, a review).
    var finding = Boolean(centreLoadEnds);  // a postcode's Find this ends
    askCentre();
    placesCleared += 1;
    placeLoadEnds.forEach(function (end) { end(); });
    placeLoadEnds = [];
    // The draft's places not loaded, or loading, go with the rest, and come back with
    // an undo, still not loaded (they were lost, and Send went to the circle alone:
    // a review, an outside check).
    var notLoaded = unrestored.concat(restoringPlaces);
    var adding = addingPlaces.map(function (ask) { return ask.place; });
    choicesFailed = [];
    unrestored = [];
    restoringPlaces = [];
    addingPlaces = [];
    // "Adding Ward: …" went on saying so after Clear, for good if no answer came (a
    // review).
    Array.prototype.forEach.call(document.querySelectorAll(".place-coming"), function (line) {
      line.parentNode.removeChild(line);
    });
    if (!entries.length && !notLoaded.length && !adding.length) { return; }
    // The box's postcode to put back is the circle's when a Find was on its way (it
    // kept the search's, beside the old circle: an outside check).
    cleared = { shapes: shapes.getLayers(), places: places.getLayers(), entries: entries,
                searchCircle: searchCircle, unrestored: notLoaded, adding: adding, finding: finding,
                typed: finding && searchCircle ? searchCircle.caTyped : $("centre-postcode").value };
    clearAreas();
    renderEntries();
    refreshPreview();
    $("undo-clear").hidden = false;
  });
  $("undo-clear").addEventListener("click", function () {
    if (!cleared) { return; }
    // The newest ask for a centre: a postcode's Find before it, answered late, took
    // the place of the circle brought back, and the undo with it (a review). The box
    // says the circle's postcode again, not the search it ends (a review).
    if (centreLoadEnds || cleared.finding) {
      $("centre-postcode").value = cleared.typed || "";
      showSearchError("");
    }
    askCentre();
    // As an area added (the reach bar stayed hidden, drawing: a review).
    areaAddedWhileDrawing();
    cleared.shapes.forEach(function (layer) { shapes.addLayer(layer); });
    cleared.places.forEach(function (layer) { places.addLayer(layer); });
    entries = cleared.entries;
    searchCircle = cleared.searchCircle;
    unrestored = cleared.unrestored;
    var adding = cleared.adding;
    cleared = null;
    renderEntries();
    refreshPreview();
    // Those on their way at Clear are asked for again as a draft's are: not come, said
    // and stopping the send (failing, a count on its way wiped what said so, and Send
    // went to the circle alone: an outside check).
    adding.forEach(function (place) { restoreArea(placeArea(place)); });
    $("clear-shapes").focus();
  });

  // Named places: search, choose, outline on the map.
  var placeTimer = null;
  var KIND = { force: _("Force"), district: _("District"), ward: _("Ward") };
  // The results say which search they are for (dataset.query): Enter takes the first
  // only when that is what the box holds now; typed over within the wait, it took a
  // result of the search before (an outside check). An answer to an older search that
  // comes after a newer one's is dropped.
  function searchPlaces(q) {
    var results = $("place-results");
    clearTimeout(placeTimer);
    if (q.length < 2) { results.textContent = ""; results.dataset.query = q; return Promise.resolve(); }
    return CA.fetchJSON(settings.placesUrl, { q: q }).then(function (data) {
      if ($("place-search").value.trim() !== q) { return; }
      results.textContent = "";
      results.dataset.query = q;
      if (!data.places.length) {
        var none = document.createElement("li");
        none.className = "hint";
        var elsewhere = data.outside_team_areas || [];
        none.textContent = elsewhere.length
          ? _("{places}: in {force}, but outside your team's areas. Ask an administrator to add it to your team.",
              { places: elsewhere.join(", "), force: CA.config.forceName })
          : data.team_areas_only
            ? _("No ward or district called that inside your team's areas, nor elsewhere in {force}.", { force: CA.config.forceName })
            : _("No ward or district called that in {force}.", { force: CA.config.forceName });
        results.appendChild(none);
      }
      data.places.forEach(function (place) {
        var item = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "button secondary place-choice";
        button.textContent = KIND[place.kind] + ": " + place.name;
        button.addEventListener("click", function () { addPlace(place); });
        item.appendChild(button);
        results.appendChild(item);
      });
    }).catch(function (error) { showAreaError(error.message); });
  }
  $("place-search").addEventListener("input", function () {
    clearTimeout(placeTimer);
    var q = $("place-search").value.trim();
    placeTimer = setTimeout(function () { searchPlaces(q); }, 250);
  });

  // From the keyboard: Enter takes the first result, the arrows move through them
  // (only Tab reached them: an outside check). Results of another search than the
  // box's are searched again first.
  $("place-search").addEventListener("keydown", function (event) {
    if (event.key !== "Enter" && event.key !== "ArrowDown") { return; }
    var q = $("place-search").value.trim();
    var current = $("place-results").dataset.query === q;
    if (event.key === "Enter") { event.preventDefault(); }
    var take = function () {
      var first = $("place-results").querySelector(".place-choice");
      if (!first || $("place-results").dataset.query !== q) { return; }
      if (event.key === "Enter") { first.click(); } else { event.preventDefault(); first.focus(); }
    };
    if (current) { take(); return; }
    if (event.key === "Enter") { searchPlaces(q).then(take); }
  });
  $("place-results").addEventListener("keydown", function (event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") { return; }
    var choices = Array.prototype.slice.call($("place-results").querySelectorAll(".place-choice"));
    var at = choices.indexOf(document.activeElement);
    if (at < 0) { return; }
    event.preventDefault();
    if (event.key === "ArrowUp" && at === 0) { $("place-search").focus(); return; }
    var next = choices[at + (event.key === "ArrowDown" ? 1 : -1)];
    if (next) { next.focus(); }
  });

  var placesCleared = 0;  // Clear's count: a place's outline asked for before it is dropped
  // The places chosen whose outline is on its way: Clear drops them, and Undo clear asks
  // for them again (they were gone unsaid, and Send went to the rest: an outside check).
  var addingPlaces = [];
  // A place chosen whose outline did not come, said until another is chosen or Clear
  // (a count on its way wiped the words, and the alert went to the rest, unsaid: an
  // outside check).
  // Each choice of a place that failed since the last choice, said till it comes or
  // another is chosen: one kept, a second's failure replaced the first's words, and
  // once the second came nothing said the first was never added (a review).
  var choicesFailed = [];  // [{ id, words }]
  function placeArea(place) {
    return { kind: "place", placeId: place.id, words: { place: place.kind, name: place.name },
             label: KIND[place.kind] + ": " + place.name, exclude: false };
  }
  // A place added (chosen, or put back): the draft's copies of it not loaded, or still
  // loading, go, and a choice of it that failed is said no more. Whether one of them
  // left it out.
  function draftsCopiesTaken(placeId) {
    var same = function (one) { return String(one.placeId) === String(placeId); };
    var leftOut = unrestored.concat(restoringPlaces).some(function (one) { return same(one) && one.exclude; });
    unrestored = unrestored.filter(function (one) { return !same(one); });
    restoringPlaces = restoringPlaces.filter(function (one) { return !same(one); });
    choicesFailed = choicesFailed.filter(function (one) { return String(one.id) !== String(placeId); });
    return leftOut;
  }
  function addPlace(place) {
    choicesFailed = [];
    var results = $("place-results");
    var chosen = results.contains(document.activeElement);
    results.textContent = "";
    $("place-search").value = "";
    // Its button goes with the results: till its outline comes, the focus is on what
    // says it is coming (it was on the page: an outside check).
    var coming = document.createElement("li");
    coming.className = "hint place-coming";  // Clear takes it away with its ask
    coming.tabIndex = -1;
    coming.textContent = _("Adding {place}…", { place: KIND[place.kind] + ": " + place.name });
    results.appendChild(coming);
    if (chosen) { coming.focus({ preventScroll: true }); }
    var asked = placesCleared;
    var waited = false;  // the focus was still on it when the answer came
    var adding = { place: place };  // this ask (the same place may be asked again)
    addingPlaces.push(adding);
    saveDraft();  // in the draft meanwhile, as a draft's place loading is
    loadingArea(CA.fetchJSON(settings.placeUrl.replace(/0$/, place.id)), "place").finally(function () {
      waited = document.activeElement === coming;
      if (coming.parentNode) { coming.parentNode.removeChild(coming); }
      addingPlaces = addingPlaces.filter(function (other) { return other !== adding; });
    }).then(function (found) {
      if (asked !== placesCleared) { return; }
      var same = function (one) { return String(one.placeId) === String(found.id); };
      var there = entries.filter(same)[0];
      if (there) {
        // Chosen already (a draft's, put back meanwhile): once (it was there twice, an
        // outside check).
        if (!drawing) { focusEntry(there.id, "toggle"); }
        return;
      }
      var layer = L.geoJSON(JSON.parse(found.geometry), { pmIgnore: true, interactive: false });
      places.addLayer(layer);
      var added = addEntry(layer, "place", { place: found.kind, name: found.name }, { placeId: found.id });
      // Chosen again by hand, a draft's place not loaded is there now (Send still
      // said it could not be loaded, and the draft held it twice: an outside check),
      // left out if the draft left it out, loaded or still loading (included when
      // this answer came first: an outside check).
      if (draftsCopiesTaken(found.id)) { added.exclude = true; styleEntry(added); renderEntries(); }
      // Not while a shape is being drawn (the map moved between two taps: a review).
      if (!drawing) { map.fitBounds(layer.getBounds(), { padding: [20, 20] }); }
      refreshPreview();
      // The chosen place's button has gone with the results: focus its row instead
      // (not while drawing: the focus left the map mid-shape, a re-check).
      if (!drawing) { focusEntry(added.id, "toggle"); }
    }).catch(function (error) {
      if (asked !== placesCleared) { return; }
      saveDraft();  // not in the draft any more
      choicesFailed = choicesFailed.filter(function (one) { return String(one.id) !== String(place.id); });
      choicesFailed.push({ id: place.id, words: _("{place} was not added: {reason}",
        { place: KIND[place.kind] + ": " + place.name, reason: error.message }) });
      showAreaError(areaWords(), true);
      // From its start (at 200% Welsh it began 70 px above the screen: an outside check).
      if (waited) {
        $("area-error").focus({ preventScroll: true });
        window.CAPage.showInRoom($("area-error"), $("area-error"), barTop());
      }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll('input[name="groups"], input[name="channels"]'),
    function (input) { input.addEventListener("change", function () { refreshPreview(); showCost(); }); });
  $("category").addEventListener("change", refreshPreview);
  Array.prototype.forEach.call(document.querySelectorAll('input[name="audience"]'), function (input) {
    input.addEventListener("change", function () {
      $("area-tools").hidden = audience() === "parent";
      refreshPreview();
    });
  });
  if (settings.parentId) { $("area-tools").hidden = true; }

  // --- the words --------------------------------------------------------------------

  function mode() { return $("exercise").checked ? "exercise" : "live"; }

  // An officer's recording, played on voice calls instead of the spoken text.
  var recordingId = null;
  function showRecordingError(message) {
    $("recording-error").textContent = message || "";
    $("recording-error").hidden = !message;
    // Read with the file box, as every error is with its box.
    $("recording").setAttribute("aria-describedby", message ? "recording-hint recording-error" : "recording-hint");
    if (message) { $("recording").setAttribute("aria-invalid", "true"); } else { $("recording").removeAttribute("aria-invalid"); }
  }
  $("recording").addEventListener("change", function () {
    var file = $("recording").files[0];
    if (!file) { return; }
    if (file.size > 950 * 1024) { showRecordingError(_("That file is over 950 KB. Save it as a lower-quality MP3 to make it smaller.")); return; }
    var form = new FormData();
    form.append("recording", file);
    fetch(settings.recordingsUrl, {
      method: "POST", body: form, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content }
    }).catch(function () {  // no answer: the page's words, not the browser's
      throw new Error(_("No answer came from the server: the signal may have dropped. Check it and try again."));
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) { throw new Error(data.error || _("The recording did not upload ({status}). Try again.", { status: response.status })); }
        return data;
      });
    }).then(function (saved) {
      showRecordingError("");
      recordingId = saved.id;
      $("recording-player").src = saved.url;
      $("recording-chosen").hidden = false;
      refreshCompose();
    }).catch(function (error) { showRecordingError(error.message); });
  });
  $("recording-remove").addEventListener("click", function () {
    recordingId = null;
    $("recording").value = "";
    $("recording-player").removeAttribute("src");
    $("recording-chosen").hidden = true;
    refreshCompose();
  });

  // The SMS as residents will see it, with the characters that cost extra marked.
  function showMarked(element, text, marked) {
    element.textContent = "";
    Array.from(text).forEach(function (ch) {
      if (marked.indexOf(ch) >= 0) {
        var mark = document.createElement("mark");
        mark.textContent = ch;
        element.appendChild(mark);
      } else if (element.lastChild && element.lastChild.nodeType === 3) {
        element.lastChild.textContent += ch;
      } else {
        element.appendChild(document.createTextNode(ch));
      }
    });
  }

  function showCompose(c) {
    lastCompose = c;
    // What "Send now" would refuse in the words (a tab, a right-to-left override), said
    // as they are typed: the preview cleaned them quietly (an outside check).
    // The answers' own at the answers (they were said under the message, 1,200 px
    // above them on a phone: an outside check), the rest under the message.
    var answerNotes = { answer_options: "answers-refused", answer_options_cy: "answers-cy-refused" };
    var refused = Object.keys(c.refused || {}).filter(function (key) { return !answerNotes[key]; })
      .map(function (key) { return c.refused[key]; });
    $("words-refused").textContent = refused.join(" ");
    $("words-refused").hidden = !refused.length;
    Object.keys(answerNotes).forEach(function (key) {
      var note = $(answerNotes[key]);
      note.textContent = (c.refused || {})[key] || "";
      note.hidden = !note.textContent;
    });
    // "Send to 7 residents now?" asked before the words' preview came back (over 3 s)
    // is taken back when it refuses them: it stayed open, to be refused at "Send now"
    // (an outside check).
    var refusedKey = Object.keys(c.refused || {})[0];
    if (refusedKey && !$("confirm").hidden && c.words === JSON.stringify(composedWords())) {
      $("confirm").hidden = true;
      composeError(c.refused[refusedKey], refusedBox(refusedKey, (c.refused_answer || {})[refusedKey]));
    }
    var sms = c.sms;
    var parts = function (n) { return n === 1 ? _("1 part") : _("{n} parts", { n: n }); };
    // Parts in plain words: how much fits, and why this text fits less.
    $("sms-length").textContent = _("Text message: {parts} (at most {most}).", { parts: parts(sms.segments), most: sms.max_segments }) + " " +
      (sms.ucs2_characters.length ?
        _("Because of the characters below, each part holds {per} characters instead of {usual}.",
          { per: sms.per_segment, usual: sms.segments === 1 ? 160 : 153 }) :
        _("Each part holds {per} characters.", { per: sms.per_segment }));
    // A resident who chose Welsh gets our words in Welsh, which may take more parts:
    // the send refuses by the longer, so the counter says so (it showed the English
    // alone, within the limit, and "Send now" refused it: a review).
    if (sms.welsh_speakers_segments > sms.segments) {
      $("sms-length").textContent += " " + _("Residents who chose Welsh get our words in Welsh: {parts}.",
        { parts: parts(sms.welsh_speakers_segments) });
    }
    $("sms-length").classList.toggle("field-error", sms.too_long);
    $("sms-ucs2").hidden = !sms.ucs2_characters.length;
    var fixable = sms.characters.filter(function (c) { return c.plain !== null; });
    // Welsh letters (ŵ ŷ â...) are the spelling: said to cost parts, never to be replaced.
    var welshLetters = sms.characters.filter(function (c) { return c.welsh; });
    var others = sms.characters.filter(function (c) { return !c.welsh; });
    $("sms-ucs2-text").textContent = [
      others.length ? _("These make every part shorter: {characters}.", { characters: others.map(function (c) {
        return c.character + " (" + c.name + ")";
      }).join(", ") }) : "",
      welshLetters.length ? _("Welsh letters ({letters}) need the larger character set, so each part holds fewer characters. Keep them: they are the spelling.",
        { letters: welshLetters.map(function (c) { return c.character; }).join(" ") }) : ""
    ].filter(Boolean).join(" ");
    var saving = sms.segments - sms.plain_segments;
    $("plain-punctuation").hidden = !fixable.length;
    $("plain-punctuation").textContent = fixable.length ?
      usePlain(fixable, saving, parts) : "";
    if (fixable.length && $("plain-always").checked) { makePlain(); return; }
    function usePlain(fixable, saving, parts) {
      var words = {
        characters: fixable.map(function (c) { return c.plain.trim() || _("space"); }).filter(function (v, i, all) {
          return all.indexOf(v) === i;
        }).join(" "),
        parts: parts(saving)
      };
      return saving > 0 ? _("Use plain {characters} instead (saves {parts})", words) :
        _("Use plain {characters} instead", words);
    }
    showMarked($("preview-sms"), sms.text, sms.ucs2_characters);
    // What the Welsh costs, on its own: ŵ ŷ â ê î ô û are not in the texts' alphabet.
    var welsh = sms.welsh_segments !== null && sms.welsh_segments !== undefined;
    $("sms-welsh").textContent = welsh ? _("English alone: {english}. With the Welsh: {both} (the Welsh adds {welsh}).",
      { english: parts(sms.english_segments), both: parts(sms.segments), welsh: parts(sms.welsh_segments) }) : "";
    $("preview-sms-cy-label").hidden = $("preview-sms-cy").hidden = !welsh;
    if (welsh) { showMarked($("preview-sms-cy"), sms.text_welsh_first, sms.ucs2_characters); }
    $("preview-email-subject").textContent = c.email.subject;
    $("preview-email").textContent = c.email.text;
    // The Welsh speakers' e-mails ask the question in Welsh, when it is written so.
    $("preview-email-cy-label").hidden = $("preview-email-cy").hidden = !c.email.welsh_ask;
    $("preview-email-cy").textContent = c.email.welsh_ask || "";
    // The HTML part, in a sandbox: no scripts, no links followed, nothing fetched. A
    // new frame each time: a frame's new words are a page of the browser's history, and
    // Back did nothing once for each edit of the message (an outside check).
    var frame = $("preview-email-html");
    if (frame.srcdoc !== c.email.html) {
      var fresh = frame.cloneNode(false);
      fresh.srcdoc = c.email.html;
      frame.parentNode.replaceChild(fresh, frame);
    }
    $("preview-voice").textContent = c.voice.script;
    // Each preview marked with its language: on a Welsh page a screen reader read the
    // English words with Welsh rules (an outside check). In Welsh only when the
    // officer wrote only Welsh.
    var inWelsh = !$("title").value.trim() && !$("body").value.trim() &&
      $("title-cy").value.trim() && $("body-cy").value.trim();
    ["preview-sms", "preview-email-subject", "preview-email", "preview-voice"].forEach(function (id) {
      $(id).setAttribute("lang", inWelsh ? "cy" : "en-GB");
    });
    $("preview-voice-minutes").textContent = c.voice.minutes === 1 ? _("About 1 minute a call (said twice).") :
      _("About {minutes} minutes a call (said twice).", { minutes: c.voice.minutes });
    showCost();
  }

  function showCost() {
    if (!lastCompose || !lastCounts) { return; }
    var ch = lastCounts.channels;
    // £0.04 would say "one text": for a hidden count, cost the most it can be. A
    // channel not chosen costs nothing.
    var most = function (channel) {
      if (!chosen(channel)) { return 0; }
      return ch[channel] === null ? lastCounts.min_count - 1 : ch[channel];
    };
    // A text costs at most its longer form's parts: a Welsh speaker's may take more.
    var longest = lastCompose.sms.longest_segments || lastCompose.sms.segments;
    var bound = (chosen("sms") && ch.sms === null) || (chosen("voice") && ch.voice === null) ||
      (chosen("sms") && longest > lastCompose.sms.segments);
    var total = most("sms") * lastCompose.sms.cost + most("voice") * lastCompose.voice.cost;
    var parts = longest === 1 ? _("1 part") : _("{n} parts", { n: longest });
    var words = {
      total: total.toFixed(2), texts: chosen("sms") ? figure(ch.sms) : "0", parts: parts,
      calls: chosen("voice") ? figure(ch.voice) : "0", minutes: lastCompose.voice.minutes
    };
    $("cost").textContent = bound ?
      _("Estimated cost: at most £{total} ({texts} texts × {parts}, {calls} calls × {minutes} min; e-mail free).", words) :
      _("Estimated cost: £{total} ({texts} texts × {parts}, {calls} calls × {minutes} min; e-mail free).", words);
  }

  var composeTimer = null;
  var composeSequence = 0;
  function refreshCompose() {
    saveDraft();
    clearTimeout(composeTimer);
    composeTimer = setTimeout(function () { composeNow().catch(function () {}); }, 250);
  }
  // The preview of the words as they are now, at once.
  function composeNow() {
    clearTimeout(composeTimer);
    var mine = ++composeSequence;
    var words = composedWords();
    return CA.fetchJSON(settings.composeUrl, words).then(function (c) {
      if (mine === composeSequence) {
        c.words = JSON.stringify(words);  // what it said of: Send… asks of these alone
        showCompose(c);
      }
    });
  }
  // Send… waiting for the preview of the words as typed; and the words the wait was
  // for, to the submit it makes.
  var wordsPending = false;
  var waitedFor = null;
  function composedWords() {
    return Object.assign(
      { title: $("title").value, body: $("body").value, mode: mode(), recording_id: recordingId },
      asked(), welshWords());
  }
  // A box the preview's refusal is about, by the refusal's key.
  var REFUSED_BOXES = { title: "title", body: "body", question: "question", title_cy: "title-cy",
                        body_cy: "body-cy", question_cy: "question-cy", answer_options: "answer-1",
                        answer_options_cy: "answer-cy-1" };
  // The box a refusal is about: an answer's own (the nth of those typed), else its
  // field's (the first answer was marked whichever was at fault: a re-check).
  function refusedBox(key, answer) {
    var selector = { answer_options: ".answer-option", answer_options_cy: ".answer-option-cy" }[key];
    if (selector && answer) {
      var typed = Array.prototype.filter.call(document.querySelectorAll(selector), function (input) {
        return input.value.trim();
      });
      if (typed[answer - 1]) { return typed[answer - 1]; }
    }
    return REFUSED_BOXES[key] ? $(REFUSED_BOXES[key]) : null;
  }
  // Whether the alert is written in Welsh alone (its English boxes empty): its
  // question is then the Welsh boxes', as the server takes it.
  function inWelshAlone() {
    return !$("title").value.trim() && !$("body").value.trim();
  }
  // The Welsh title and message, when the officer writes both.
  function welshWords() {
    return { title_cy: $("title-cy").value, body_cy: $("body-cy").value };
  }
  $("title-cy").addEventListener("input", refreshCompose);
  $("body-cy").addEventListener("input", refreshCompose);
  // The quick question, its answers and whether to ask for confirmation.
  // The same in Welsh, for residents who chose Welsh, when the alert is in Welsh too.
  function asked() {
    function answers(selector) {
      return Array.prototype.map.call(document.querySelectorAll(selector), function (input) {
        return input.value.trim();
      }).filter(function (value) { return value; });
    }
    return { question: $("question").value, answer_options: answers(".answer-option"),
             question_cy: $("question-cy").value, answer_options_cy: answers(".answer-option-cy"),
             confirm_receipt: $("confirm-receipt").checked };
  }
  ["question", "answer-1", "answer-2", "answer-3", "answer-4", "question-cy", "answer-cy-1",
   "answer-cy-2", "answer-cy-3", "answer-cy-4"].forEach(function (id) {
    $(id).addEventListener("input", refreshCompose);
  });
  $("confirm-receipt").addEventListener("change", refreshCompose);
  // Phones type ’ “ ” – … for you; each makes a text hold 70 characters a part, not
  // 160. The server names them and their plain forms (message_text.PLAIN), in the
  // latest preview: one table, not a copy here.
  function plain(text) {
    var swaps = {};
    (lastCompose ? lastCompose.sms.characters : []).forEach(function (c) {
      if (c.plain !== null) { swaps[c.character] = c.plain; }
    });
    return Array.from(text).map(function (ch) { return ch in swaps ? swaps[ch] : ch; }).join("");
  }
  // The first box it changed, if any.
  function makePlain() {
    // The Welsh too: its quotes and dashes cost parts as the English's do (the button
    // left them as they were: an outside check). Its letters are not touched.
    var first = null;
    ["title", "body", "title-cy", "body-cy", "question", "answer-1", "answer-2", "answer-3",
     "answer-4", "question-cy", "answer-cy-1", "answer-cy-2", "answer-cy-3", "answer-cy-4"].forEach(function (id) {
      var field = $(id);
      var made = plain(field.value);
      if (made !== field.value) { field.value = made; first = first || field; }
    });
    refreshCompose();
    return first;
  }
  // The button goes once the text is plain: the focus goes to the first box it changed,
  // and what Send said of the text before is cleared (the focus fell to the page, and
  // the words by Send still said "6 parts… it has the focus": an outside check).
  $("plain-punctuation").addEventListener("click", function () {
    var changed = makePlain() || $("body");
    composeError("");
    // A box in a folded section (the Welsh, the question) is shown first: focused
    // folded, the focus fell to the page (a re-check).
    var folded = changed.closest("details");
    if (folded) { folded.open = true; }
    changed.focus();
  });
  try { $("plain-always").checked = window.localStorage.getItem("ca-plain-punctuation") === "1"; } catch (e) { /* private mode */ }
  $("plain-always").addEventListener("change", function () {
    try { window.localStorage.setItem("ca-plain-punctuation", $("plain-always").checked ? "1" : "0"); } catch (e) { /* private mode */ }
    if ($("plain-always").checked) { makePlain(); }
  });
  $("title").addEventListener("input", refreshCompose);
  $("body").addEventListener("input", refreshCompose);
  $("exercise").addEventListener("change", function () {
    document.body.classList.toggle("exercise", $("exercise").checked);
    $("exercise-banner").hidden = !$("exercise").checked;
    refreshCompose();
    if (settings.parentId) { refreshPreview(); }  // the follow-up's count asks it
  });
  // A follow-up of an exercise is one (the page ticks the box, and it cannot be
  // unticked): marked so from the start.
  document.body.classList.toggle("exercise", $("exercise").checked);
  $("exercise-banner").hidden = !$("exercise").checked;
  $("send-later").addEventListener("change", function () {
    $("send-later-fields").hidden = !$("send-later").checked;
  });

  // The team's templates, as the server last listed them (a new one is offered at once).
  function showTemplates() {
    var select = $("template");
    var chosen = select.value;
    select.length = 1;  // keeps "No template"
    templates.forEach(function (t) {
      var option = document.createElement("option");
      option.value = t.id;
      option.textContent = t.name;
      select.appendChild(option);
    });
    select.value = chosen;
    $("templates").hidden = templates.length === 0;
  }
  var useTemplate = $("use-template");
  if (useTemplate) {
    useTemplate.addEventListener("click", function () {
      var id = Number($("template").value);
      var chosen = templates.filter(function (t) { return t.id === id; })[0];
      if (!chosen) { return; }
      var written = $("title").value.trim() || $("body").value.trim();
      if (written && ($("title").value !== chosen.title || $("body").value !== chosen.body) &&
          !window.confirm(_("Replace the title and message you have written with the template's?"))) {
        return;
      }
      $("category").value = chosen.category;
      $("title").value = chosen.title;
      $("body").value = chosen.body;
      $("title-cy").value = chosen.title_cy || "";
      $("body-cy").value = chosen.body_cy || "";
      if (chosen.title_cy) { $("title-cy").closest("details").open = true; }
      refreshCompose();
      refreshPreview();
    });
  }
  $("save-template").addEventListener("click", function () {
    CA.fetchJSON(settings.templatesUrl, Object.assign({
      name: $("template-name").value, category: $("category").value,
      title: $("title").value, body: $("body").value
    }, welshWords())).then(function (saved) {
      templates = saved.templates;
      showTemplates();
      $("template-status").textContent = _("Saved as “{name}”. Your team can use it from now on.", { name: saved.name });
    }).catch(function (error) { $("template-status").textContent = error.message; });
  });

  // --- sending ----------------------------------------------------------------------

  // The message under the Send button; with `field`, the field to put right is
  // brought into view and focused (a phone's Send is far below the Title box).
  var invalidField = null;
  var fieldNote = null;  // the message again, at the box at fault
  function composeError(message, field) {
    $("compose-error").textContent = message || "";
    $("compose-error").hidden = !message;
    // Said at the box too: on a phone the words were 900-1,000 px below the box the
    // focus went to, by the Send button (an outside check).
    if (fieldNote) { fieldNote.remove(); fieldNote = null; }
    // (A button is said beside, not marked invalid.)
    var marked = field && field.tagName !== "P" && field.tagName !== "BUTTON";
    var holder = marked && ((field.closest && field.closest(".choice")) || field);
    // Not again where its fieldset already says it (the answers' own note, as they are
    // typed: the same words stood three times around the answers, an outside check).
    var set = field && field.closest && field.closest("fieldset");
    var said = set && set.querySelector("p.field-error[role=status]:not([hidden])");
    // Nor beside the date and time to send at: the message stands just below it (at 200%
    // text on a small phone the two were 510 px tall together: an outside check).
    var below = field && field.id === "send-at";
    if (message && holder && holder.parentNode && !below && !(said && said.textContent === message)) {
      fieldNote = document.createElement("p");
      fieldNote.className = "field-error compose-field-error";
      fieldNote.setAttribute("aria-hidden", "true");  // read once, as the box's description
      fieldNote.textContent = message;
      holder.parentNode.insertBefore(fieldNote, holder);
    }
    // The field at fault says so, and is described by the message (a screen reader
    // reads both when it takes focus); the last one marked is cleared.
    if (invalidField) {
      invalidField.removeAttribute("aria-invalid");
      var kept = (invalidField.getAttribute("aria-describedby") || "").replace("compose-error", "").trim();
      if (kept) { invalidField.setAttribute("aria-describedby", kept); } else { invalidField.removeAttribute("aria-describedby"); }
      invalidField = null;
    }
    if (message && marked) {
      field.setAttribute("aria-invalid", "true");
      var described = field.getAttribute("aria-describedby") || "";
      field.setAttribute("aria-describedby", (described + " compose-error").trim());
      invalidField = field;
    }
    if (message && field) {
      // A box inside a closed section (the question, the Welsh) is shown first: focus
      // fell to the page, the answers far above it (an outside check).
      var section = field.closest && field.closest("details");
      if (section) { section.open = true; }
      showAll([field.labels && field.labels[0], fieldNote, field, below ? $("compose-error") : null]);
      field.focus({ preventScroll: true });
    } else if (message) {
      // No box at fault (the area's count changed, a wait): the message takes focus,
      // Send… next after it. The question closing under the pressed "Send now" left
      // focus on the page, and Tab went on to the footer (an outside check).
      // In view as any words are (showInRoom): at 1440x900 centred in the composer's
      // panel, the window scrolled 174-236 px into blank space too (an outside check).
      window.CAPage.showInRoom($("compose-error"), $("compose-error"), barTop());
      $("compose-error").focus({ preventScroll: true });
    }
  }

  // The box at fault with its label and the words said above it: centred, the box
  // alone, at 200% text on a small phone the words began above the screen, their start
  // and the box's label cut off (an outside check). Centred first, as before, then
  // from their top if cut off.
  function showAll(parts) {
    // Not a label hidden from sight (the radius box's, at the page's corner: the box
    // was taken for shown, 1,500 px up the panel: an outside check).
    var shown = parts.filter(function (part) { return part && !part.classList.contains("visually-hidden"); });
    var last = shown[shown.length - 1];
    if (window.CAPage.scrollingPanel(last)) {
      // The composer's panel, which scrolls on its own on a wide screen, is scrolled,
      // not the window too (it went 18 px into blank space, the page's top cut off: an
      // outside check).
      window.CAPage.showInRoom(shown[0], last, barTop());
      return;
    }
    last.scrollIntoView({ block: "center" });
    function top() {
      return Math.min.apply(null, shown.map(function (part) { return part.getBoundingClientRect().top; }));
    }
    if (top() < 8) {
      shown[0].scrollIntoView({ block: "start" });
      if (top() < 8) { window.scrollBy(0, top() - 8); }
    }
    // The last part (the box to type in) stays above the reach bar when all of them do
    // not fit: on a landscape phone at 200% text the box went under it, the label and
    // the words shown above (a review). Not one taller than that room itself (an area's
    // words, a long message): shown from its start, as above (pushed up, an area's
    // words began 521 px above the screen: an outside check).
    var floor = barTop();
    var box = last.getBoundingClientRect();
    var below = box.bottom - (floor - 8);
    if (below > 0 && box.height <= floor - 16) { window.scrollBy(0, below); }
  }

  // What came back and the button under it in view, above the reach bar. Taller than
  // that room together (200% Welsh text on a 320-pixel phone: 950 px of words), the
  // words take the focus from their start and Tab goes on to the button: "nearest"
  // began them 423 px above the screen, or left the focused button under it (an
  // outside check).
  function showTestStatus() {
    window.CAPage.showInRoom($("test-status"), $("send-test"), barTop());
  }

  // Where the reach bar begins (over the screen's bottom), or the screen's bottom.
  function barTop() {
    var bar = $("reach-bar");
    return bar && bar.getClientRects().length ? bar.getBoundingClientRect().top : window.innerHeight;
  }

  function sendAt() {
    if (!$("send-later").checked || !$("send-at").value) { return null; }
    return new Date($("send-at").value).toISOString();  // the officer's local time, as UTC
  }

  // The alert as residents will get it (category, exercise marking, recording, question),
  // by every channel it uses, to the officer's own mobile and e-mail only.
  $("send-test").addEventListener("click", function () {
    var written = ($("title").value.trim() && $("body").value.trim()) ||
      ($("title-cy").value.trim() && $("body-cy").value.trim());  // or in Welsh only
    if (!written) { composeError(_("Write a title and a message first.")); return; }
    composeError("");
    var target = targetRequest();
    var request = Object.assign({
      title: $("title").value, body: $("body").value, category: target.category,
      channels: target.channels, mode: mode(), recording_id: recordingId
    }, asked(), welshWords());
    // Said busy, not disabled: disabled, the button lost the focus to the page, and at
    // 200% text on a small phone what came back was above the screen (an outside check).
    if ($("send-test").getAttribute("aria-disabled") === "true") { return; }
    $("send-test").setAttribute("aria-disabled", "true");
    CA.fetchJSON(settings.testUrl, request).then(function (sent) {
      $("test-status").hidden = false;
      $("test-status").textContent = sent.message;
      $("test-status").dataset.channels = (sent.channels || []).join(" ");
      showTestStatus();
    }).catch(function (error) { composeError(error.message); })
      .finally(function () { $("send-test").removeAttribute("aria-disabled"); });
  });

  // The box at fault, changed: its mark and its message go (they stayed until the
  // next Send…: a re-check).
  $("compose").addEventListener("input", function (event) {
    if (invalidField && event.target === invalidField) { composeError(""); }
  });

  $("compose").addEventListener("submit", function (event) {
    event.preventDefault();
    // This submit is the one a wait for the preview made (below), or another.
    var waited = waitedFor;
    waitedFor = null;
    var request = targetRequest();
    if (request.audience === "area" && !request.shapes.length) { composeError(_("Choose an area first: find a postcode, draw on the map, or add a place.")); return; }
    // A place of the draft whose outline did not come: not sent without it, unsaid.
    if (request.audience === "area" && unrestored.length) { composeError(unrestoredWords()); return; }
    var welshOnly = $("title-cy").value.trim() && $("body-cy").value.trim();
    // Half the Welsh: said now, at its box, not after "Send now" (an outside check).
    if (!$("title-cy").value.trim() !== !$("body-cy").value.trim()) {
      if ($("title-cy").value.trim()) {
        composeError(_("Write the Welsh message too, or leave both Welsh boxes empty."), $("body-cy"));
      } else {
        composeError(_("Give the Welsh title too, or leave both Welsh boxes empty."), $("title-cy"));
      }
      return;
    }
    // A radius typed wrong leaves the circle as it was: sending it would send to an
    // area the box does not show (an outside check).
    if (searchCircle && radiusWrong) {
      composeError(_("Correct the radius first: in metres, from 100 to 20,000. The circle is still {radius}.", { radius: radiusLabel(radiusNow()) }), $("radius-m"));
      return;
    }
    if (!welshOnly && !$("title").value.trim()) { composeError(_("Give the alert a title."), $("title")); return; }
    if (!welshOnly && !$("body").value.trim()) { composeError(_("Write the message."), $("body")); return; }
    // The area was refused (outside the team's areas, nobody inside...): say that, at
    // the area, rather than to wait for a count that will not come.
    if (!lastCounts && areaRefused && !$("area-error").hidden) {
      // Pointing there, not its words again: at 200% text on a small phone they stood
      // twice, each taller than the screen (an outside check).
      composeError(_("This area cannot be sent to: why is said at the area, above."), $("area-error"));
      return;
    }
    // Refused for something else (no channel ticked): that, at its box, not "check
    // your signal" (a PCSO with a weak signal would believe it: an outside check).
    if (!lastCounts && previewRefused && !$("area-error").hidden) {
      var why = $("area-error").textContent;
      var ticked = ["sms", "voice", "email"].some(function (c) { return $("channel-" + c).checked; });
      composeError(_("Nothing can be sent yet: {why}", { why: why }), ticked ? $("area-error") : $("channel-sms"));
      return;
    }
    // A question needs two answers to choose from: said here, at the answers, not
    // after "Send now" (an outside check); in the boxes it is asked from (written in
    // Welsh alone, the Welsh ones: one Welsh answer was asked "with 1 answers", and
    // only "Send now" refused it, another). The preview says the rest (below).
    var question = asked();
    var askedInWelsh = inWelshAlone();
    var askedQuestion = askedInWelsh ? question.question_cy : question.question;
    if (askedQuestion.trim() && (askedInWelsh ? question.answer_options_cy : question.answer_options).length < 2) {
      var empty = Array.prototype.filter.call(document.querySelectorAll(askedInWelsh ? ".answer-option-cy" : ".answer-option"), function (input) {
        return !input.value.trim();
      })[0];
      composeError(_("Give at least two answers to choose from."), empty || $(askedInWelsh ? "answer-cy-1" : "answer-1"));
      return;
    }
    // The Welsh answers are the English ones in the same order: as many of them.
    var welshAnswers = question.answer_options_cy.length;
    if ((question.question_cy.trim() || welshAnswers) && question.question.trim() &&
        welshAnswers !== question.answer_options.length) {
      var emptyWelsh = Array.prototype.filter.call(document.querySelectorAll(".answer-option-cy"), function (input) {
        return !input.value.trim();
      })[0];
      composeError(_("Give each of the {count} English answers in Welsh, in the same order.",
                     { count: question.answer_options.length }),
                   welshAnswers > question.answer_options.length ? $("answer-cy-1") : emptyWelsh || $("answer-cy-1"));
      return;
    }
    // What the preview said the send refuses in these very words (an answer twice, an
    // invisible character), at its box, before the question: "Send to 7 residents
    // now?" was asked, and only "Send now" refused (an outside check).
    // Tapped before the preview of what was just typed came back: asked now, and
    // Send… goes on once it answers (within 150 ms of typing an answer twice, the
    // question was asked: a re-check). Once for each tap: with no signal, the send
    // itself says what it refuses; nor more than 3 s on a weak one. A second tap while
    // it waits waits with it, and the same words tapped again later wait again (each
    // went straight to the question: an outside check).
    var current = JSON.stringify(composedWords());
    if (wordsPending) { return; }
    if ((!lastCompose || lastCompose.words !== current) && waited !== current) {
      wordsPending = true;
      var patience = new Promise(function (resolve) { setTimeout(resolve, 3000); });
      Promise.race([composeNow().catch(function () {}), patience]).then(function () {
        wordsPending = false;
        waitedFor = current;
        $("compose").requestSubmit();
      });
      return;
    }
    // What it refuses as typed first, then what it refuses of a question not finished
    // (answers with no question, the Welsh short of the English), which the page does
    // not say while it is being typed.
    var fresh = lastCompose && lastCompose.words === current ? lastCompose : null;
    var said = fresh ? Object.assign({}, fresh.unfinished || {}, fresh.refused || {}) : {};
    var refusedKey = Object.keys((fresh && fresh.refused) || {})[0] || Object.keys(said)[0];
    if (refusedKey) {
      composeError(said[refusedKey], refusedBox(refusedKey, (lastCompose.refused_answer || {})[refusedKey]));
      return;
    }
    if (previewPending || areaLoads) { composeError(_("Wait for the count of residents reached, then send. If it does not come, check your signal and change the area to try again.")); return; }
    if (!lastCounts) { composeError(_("Wait for the count of residents reached, then send. If it does not come, check your signal and change the area to try again.")); refreshPreview(); return; }
    if ($("send-later").checked && !$("send-at").value) { composeError(_("Choose the date and time to send, or untick “Send later”."), $("send-at")); return; }
    // A time already gone is said before the question, not after it (it asked to
    // schedule at 1 Jan 2020, and the server refused: an outside check).
    if (sendAt() && new Date(sendAt()).getTime() <= Date.now()) { composeError(_("That time has passed. Choose a later time, or send now."), $("send-at")); return; }
    if (lastCompose && lastCompose.sms.too_long && (request.channels.length === 0 || request.channels.indexOf("sms") >= 0)) {
      // At the Welsh message when it is written in Welsh alone (it marked the empty
      // English box: an outside check).
      var long = $("title").value.trim() || $("body").value.trim() ? $("body") : $("body-cy");
      // Written in both, and the Welsh's letters alone make every part shorter (one "â"
      // took 77 English characters to 5 parts, and the English box was told to be
      // shortened: an outside check): said so, at the Welsh.
      var english = $("title").value + " " + $("body").value;
      var characters = lastCompose.sms.characters || [];
      var wide = characters.map(function (c) { return c.character; });
      // Marks a plain one replaces (a phone's curly ’ in "Mae’r"), with or without
      // Welsh letters: said so, at the button that replaces them (it said "Shorten
      // the message" at the English box, the fix three screens away: an outside
      // check), when plain ones bring it within the limit (a Welsh letter in the
      // English kept it at 9 parts after the button: a review).
      var fixes = characters.filter(function (c) { return c.plain !== null; });
      // Welsh letters, as the server marks them (a curly apostrophe is not one: a
      // review), in the Welsh alone, besides marks a plain one replaces.
      var welshLetters = characters.filter(function (c) { return c.welsh; });
      var welshMade = lastCompose.sms.welsh_segments !== null && welshLetters.length > 0 &&
        characters.every(function (c) {
          return (c.welsh && english.indexOf(c.character) < 0) || c.plain !== null;
        });
      wide = welshLetters.map(function (c) { return c.character; });
      if (fixes.length && !$("plain-punctuation").hidden &&
          lastCompose.sms.plain_longest_segments <= lastCompose.sms.max_segments &&
          characters.every(function (c) { return c.plain !== null || c.welsh; })) {
        composeError(_("The text message is {n} parts; at most {most} are allowed: {characters} make every part shorter. Make them plain with the button that does it (it has the focus), or shorten the message.", { n: lastCompose.sms.longest_segments, most: lastCompose.sms.max_segments, characters: fixes.map(function (c) { return c.character; }).filter(function (v, i, all) { return all.indexOf(v) === i; }).join(" ") }), $("plain-punctuation"));
        return;
      }
      if (welshMade && long === $("body")) {
        composeError(_("The text message is {n} parts; at most {most} are allowed: the Welsh letters ({letters}) make every part shorter. Shorten the Welsh or the English message.", { n: lastCompose.sms.longest_segments, most: lastCompose.sms.max_segments, letters: wide.join(" ") }), $("body-cy"));
        return;
      }
      composeError(_("The text message is {n} parts; at most {most} are allowed. Shorten the message.", { n: lastCompose.sms.longest_segments, most: lastCompose.sms.max_segments }), long);
      return;
    }
    composeError("");
    var count = lastCounts ? figure(lastCounts.residents) : "0";
    var welsh = document.documentElement.lang === "cy";
    // "i llai na 5" reads "i lai na 5" in Welsh: "i" mutates the word after it.
    if (welsh) { count = count.replace(/^llai /, "lai "); }
    var title = $("title").value.trim() || $("title-cy").value.trim();
    var what = mode() === "exercise" ? _("the EXERCISE “{title}”", { title: title }) : "“" + title + "”";
    // In the page's language (a Welsh page asked "… am 7 Dec 2026": an outside check).
    // Browsers may hold no Welsh dates (Debian's Chromium does not): its months here.
    var at = null;
    if (sendAt()) {
      var when = new Date(sendAt());
      at = welsh ? when.getDate() + " " + WELSH_MONTHS[when.getMonth()] + " " + when.getFullYear() + ", " +
        String(when.getHours()).padStart(2, "0") + ":" + String(when.getMinutes()).padStart(2, "0") :
        when.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
    }
    var words = { what: what, count: count, at: at };
    // Its question too: folded away, a question forgotten there went unseen (an outside
    // check, after a reload brought it back).
    // (Written in Welsh alone, its question is the Welsh boxes', as the server takes it.)
    var question = asked();
    var inEnglish = !inWelshAlone();
    var put = inEnglish ? question.question.trim() : question.question_cy.trim();
    var answers = inEnglish ? question.answer_options : question.answer_options_cy;
    // The question in its own language, marked so: a Welsh page read an English
    // question with Welsh rules (an outside check). "\u0000" holds its place.
    var askedIn = inEnglish ? "en-GB" : "cy";
    var asking = put && answers.length ? (" " + _("It asks “{question}”, with {n} answers.", { question: "\u0000", n: answers.length })).split("\u0000") : [""];
    if (question.confirm_receipt) { asking[asking.length - 1] += " " + _("It asks them to confirm they got it."); }
    if (lastCounts && lastCounts.needs_approval) {
      $("confirm-text").textContent = at ?
        _("Ask a supervisor to approve {what} to {count} residents? It goes at {at}.", words) :
        _("Ask a supervisor to approve {what} to {count} residents? It goes as soon as it is approved.", words);
      $("confirm-send").textContent = _("Request approval");
    } else {
      $("confirm-text").textContent = at ? _("Schedule {what} to {count} residents at {at}?", words) :
        _("Send {what} to {count} residents now?", words);
      $("confirm-send").textContent = at ? _("Schedule") : _("Send now");
    }
    asking.forEach(function (part, n) {
      if (n) {
        var quoted = document.createElement("span");
        quoted.lang = askedIn;
        quoted.textContent = put;
        $("confirm-text").appendChild(quoted);
      }
      $("confirm-text").appendChild(document.createTextNode(part));
    });
    // An all-clear stops what of its alert has not gone yet: said before it goes (a whole
    // urgent incident was stopped so, its officer not told: an outside check).
    // Not for one scheduled: they may have gone by its time.
    var stops = !at && lastCounts && lastCounts.stops_unsent;
    var most = lastCounts && lastCounts.stops_counted_to;
    if (stops) {
      // Added as text after what is there: "textContent +=" flattened the question's
      // span, its language mark lost (found by reading).
      // Counted when the page last looked: "have not gone yet" was said of messages a
      // slow provider had taken since, and every resident got both (an outside check).
      $("confirm-text").appendChild(document.createTextNode(" " + (stops === 1 ?
        _("When last counted, 1 message of this alert had not gone yet: if it still has not, it will not be sent, and its resident gets only the all-clear.") :
        stops > most ?
        _("When last counted, more than {n} messages of this alert had not gone yet: those still unsent will not be sent, and their residents get only the all-clear.",
          { n: most.toLocaleString("en-GB") }) :
        _("When last counted, {n} messages of this alert had not gone yet: those still unsent will not be sent, and their residents get only the all-clear.",
          { n: stops.toLocaleString("en-GB") }))));
    }
    $("confirm").hidden = false;
    $("confirm-send").focus();
    // All of it above the count bar, not only its button (an outside check on a phone):
    // the bar is two or three lines high there, taller than the page's room below.
    var bar = $("reach-bar");
    if (bar) {
      document.body.style.paddingBottom = (bar.offsetHeight + 24) + "px";
      var over = $("confirm").getBoundingClientRect().bottom - (bar.getBoundingClientRect().top - 8);
      if (over > 0) { window.scrollBy(0, over); }
    }
    // Taller than the room (200% text on a phone): its words first, from their start,
    // the buttons a swipe below; its first lines, the count and the question, were
    // 300 to 1,350 px above the screen (an outside check).
    var top = $("confirm").getBoundingClientRect().top;
    if (top < 0) {
      $("confirm-text").tabIndex = -1;
      $("confirm-text").focus({ preventScroll: true });
      window.scrollBy(0, top - 8);
    }
  });
  $("confirm-cancel").addEventListener("click", function () {
    $("confirm").hidden = true;
    $("send").focus();
  });
  // What the officer confirmed is what goes: a change to the words, the mode or the
  // time after "Send…" closes the question, to be asked again (an edited title went
  // live under the question that named the old one: an outside check).
  function closeConfirm(event) {
    if (!$("confirm").hidden && !$("confirm").contains(event.target)) { $("confirm").hidden = true; }
  }
  $("compose").addEventListener("input", closeConfirm);
  $("compose").addEventListener("change", closeConfirm);
  // Escape is Cancel, as in any dialog (it did nothing: an outside check).
  $("confirm").addEventListener("keydown", function (event) {
    if (event.key === "Escape") { $("confirm-cancel").click(); }
  });
  $("confirm-send").addEventListener("click", function () {
    // Whether the browser says it is offline, for the words if the request fails (see
    // below). Tried all the same: a browser may say offline wrongly (Chromium on Linux
    // with a VPN alone: a review), and an urgent alert must not be held by it.
    var offline = navigator.onLine === false;
    $("confirm-send").disabled = true;
    var request = targetRequest();
    request.title = $("title").value;
    request.body = $("body").value;
    request.mode = mode();
    request.send_at = sendAt();
    request.recording_id = recordingId;
    Object.assign(request, asked(), welshWords());
    // The count as the officer saw it; 0 stands for "fewer than 5", which the server
    // matches against its own count under the same rule.
    request.expected_residents = lastCounts ? (lastCounts.residents === null ? 0 : lastCounts.residents) : null;
    CA.fetchJSON(settings.sendUrl, request).then(function (sent) {
      // Sent: the button stays off while the alert's page loads (a slow network left
      // it on, and a second tap sent the request again).
      forgetDraft();
      $("confirm-send").textContent = _("Sent. Opening the alert…");
      window.location.assign(sent.url);
    }).catch(function (error) {
      $("confirm").hidden = true;
      // The box at fault, when the server names one the page has, and the answer at
      // fault as the send names it (the first was marked: an outside check; then the
      // preview was asked which: a review).
      var said = (error.data && error.data.refused_answer) || {};
      var named = Object.keys((error.data && error.data.errors) || {}).map(function (key) {
        // (A refused time too: focus fell to the page, not the box: an outside check.)
        if (key === "send_at") { return $("send-at"); }
        return refusedBox(key, said[key]);
      }).filter(Boolean);
      // No answer: the alert may have gone before the signal dropped. Sent again in
      // the next two minutes it opens the first; later, it would go twice. The browser
      // saying offline before and after, most likely not sent ("may have gone" was said
      // of a request the browser never sent: an outside check), but a browser may say
      // so wrongly, with the answer lost on the way ("not sent" was said of an alert
      // that went: a re-check), so Alerts is a tap away either way. Said in the past,
      // it is true once the signal is back too (another).
      var wasOffline = error.noAnswer && offline && navigator.onLine === false;
      var message = wasOffline ? _("Your phone was offline, so the alert was most likely not sent. Look at Alerts before you send it again.") :
        error.noAnswer ? _("No answer came: the signal may have dropped, and the alert may have gone. Look at Alerts before you send it again.") : error.message;
      composeError(message, named.length ? named[0] : null);
      if (error.noAnswer) {
        // A tap away, not a trip to the menu with one hand (an outside check).
        var look = document.createElement("a");
        look.href = settings.alertsUrl;
        look.textContent = _("Look at Alerts");
        $("compose-error").appendChild(document.createTextNode(" "));
        $("compose-error").appendChild(look);
      }
      $("confirm-send").disabled = false;
      // The area's reach changed since the count on screen (someone signed up or
      // left): count it again, so the bar says what the next Send will be checked
      // against. It kept the old count, and every Send was refused (an outside check).
      if (error.data && error.data.errors && error.data.errors.area) { refreshPreview(); }
    });
  });

  // --- the draft, kept through a reload ---------------------------------------------
  // A phone reloads a page (pulled down by mistake, or the browser reclaiming memory
  // behind another app): what was written and drawn comes back, for this tab only
  // (sessionStorage; dropped when the alert is sent, and at sign-out by menu.js).
  // A follow-up's draft is its kind's: "Send the all-clear" after "Send an update" in
  // one tab brought back the update's words and category, and went as an update (an
  // outside check). The kind is the page's own (the server's choice), read before any
  // draft is put back.
  // And its officer's: another's drafts in this tab are dropped by every staff page
  // (static/js/menu.js), never put back.
  var DRAFTS = "ca-draft:" + settings.draftOwner + ":";
  var DRAFT_KEY = DRAFTS + (settings.parentId ? settings.parentId + ":" + $("category").value : "new");
  // The draft's places whose outline did not come as it was put back (restoreArea).
  var unrestored = [];
  // And those whose outline is on its way: in the draft meanwhile (the draft saved as
  // the page opened left them out, and leaving the page or reloading it before the
  // outline came lost them for good: an outside check), and Clear keeps them for an undo.
  var restoringPlaces = [];
  // What the area's message says whatever the count: the draft's places not loaded,
  // and a place chosen that was not added.
  function areaWords() {
    var failed = choicesFailed.map(function (one) { return one.words; });
    return [unrestoredWords()].concat(failed).filter(Boolean).join(" ");
  }
  function unrestoredWords() {
    if (!unrestored.length) { return ""; }
    return _("{places}, in your draft, could not be loaded (the signal may be weak): nothing is sent without it. Reload the page to try again, or Clear to choose the area again.",
      { places: unrestored.map(function (area) {
        // Left out in the draft, said so: chosen again it is left out (it was included,
        // and the alert went to those the draft left out: an outside check).
        var name = nameOf(area.words) || area.label || "";
        return area.exclude ? _("Left out: {area}", { area: name }) : name;
      }).join(", ") });
  }
  var FIELDS = ["title", "body", "title-cy", "body-cy", "category", "question", "answer-1",
                "answer-2", "answer-3", "answer-4", "question-cy", "answer-cy-1", "answer-cy-2",
                "answer-cy-3", "answer-cy-4", "send-at", "radius", "radius-m"];
  var BOXES = ["confirm-receipt", "exercise", "send-later"];
  var restoring = false;
  function saveDraft() {
    if (restoring || !FIELDS) { return; }  // (not before this part of the script has run)
    var draft = { fields: {}, boxes: {}, checked: {}, areas: [] };
    FIELDS.forEach(function (id) { draft.fields[id] = $(id).value; });
    BOXES.forEach(function (id) { draft.boxes[id] = $(id).checked; });
    ["channels", "groups", "audience"].forEach(function (name) { draft.checked[name] = checked(name); });
    entries.forEach(function (entry) {
      var layer = entry.layer;
      var area = { kind: entry.kind, label: entry.label, words: entry.words, exclude: entry.exclude,
                   placeId: entry.placeId, search: layer === searchCircle,
                   typed: layer === searchCircle ? layer.caTyped : undefined };
      if (layer instanceof L.Circle) {
        var c = layer.getLatLng();
        area.center = [c.lat, c.lng];
        area.radius = layer.getRadius();
      } else if (entry.kind !== "place" && layer.getLatLngs) {
        var rings = layer.getLatLngs();
        if (rings.length && !Array.isArray(rings[0])) { rings = [rings]; }
        area.rings = rings.map(function (ring) { return ring.map(function (p) { return [p.lat, p.lng]; }); });
        area.rectangle = layer instanceof L.Rectangle;
      }
      draft.areas.push(area);
    });
    unrestored.concat(restoringPlaces).forEach(function (area) { draft.areas.push(area); });
    // And those chosen by hand still on their way, once (leaving the page or reloading
    // it before the outline came lost them, and Send went to the rest: outside checks).
    addingPlaces.forEach(function (ask) {
      var id = String(ask.place.id);
      if (draft.areas.some(function (area) { return String(area.placeId) === id; })) { return; }
      draft.areas.push(placeArea(ask.place));
    });
    try { window.sessionStorage.setItem(DRAFT_KEY, JSON.stringify(draft)); } catch (e) { /* private mode, full */ }
  }
  function forgetDraft() {
    try { window.sessionStorage.removeItem(DRAFT_KEY); } catch (e) { /* private mode */ }
  }
  function restoreDraft(given) {
    var draft = given || null;
    try { draft = draft || JSON.parse(window.sessionStorage.getItem(DRAFT_KEY) || "null"); } catch (e) { draft = null; }
    if (!draft || typeof draft !== "object") { return false; }
    restoring = true;
    try {
      FIELDS.forEach(function (id) {
        var value = (draft.fields || {})[id];
        if (typeof value !== "string") { return; }
        // A choice the page no longer offers (the thread's all-clear has gone since)
        // is left as the page has it: set, the list would choose nothing.
        var box = $(id);
        if (box.tagName === "SELECT" && !Array.prototype.some.call(box.options, function (o) { return o.value === value; })) { return; }
        box.value = value;
      });
      BOXES.forEach(function (id) { $(id).checked = !!(draft.boxes || {})[id]; });
      Object.keys(draft.checked || {}).forEach(function (name) {
        Array.prototype.forEach.call(document.querySelectorAll('input[name="' + name + '"]'), function (input) {
          input.checked = draft.checked[name].indexOf(input.value) >= 0;
        });
      });
      document.body.classList.toggle("exercise", $("exercise").checked);
      $("exercise-banner").hidden = !$("exercise").checked;
      $("send-later-fields").hidden = !$("send-later").checked;
      $("area-tools").hidden = audience() === "parent";
      var typed = Number($("radius-m").value);
      setRadiusFields(typed >= 100 && typed <= 20000 ? typed : STOPS[Number($("radius").value)] || 1000);
      (draft.areas || []).forEach(restoreArea);
      // A folded section holding words comes back open: closed, a question or Welsh
      // words came back unseen, and went with the alert (an outside check).
      function holdsWords(selector) {
        return Array.prototype.some.call(document.querySelectorAll(selector), function (box) {
          return box.type === "checkbox" ? box.checked : box.value.trim() !== "";
        });
      }
      if (holdsWords("#ask input")) { $("ask").open = true; }
      if (holdsWords("#welsh-version input, #welsh-version textarea")) { $("welsh-version").open = true; }
    } finally {
      restoring = false;
    }
    return true;
  }
  function restoreArea(area) {
    var entry = null;
    if (area.kind === "place" && area.placeId) {
      // Send waits for it too: the count asked at once is of the drawn areas alone. And
      // as a place chosen, Clear drops it (it came back after Clear, no undo: a review).
      // Its outline not come (a weak signal, a timeout), it stays in the draft, said,
      // and nothing is sent without it: the draft was saved without the ward, and Send
      // went to the circle alone (an outside check).
      var asked = placesCleared;
      restoringPlaces.push(area);
      var loaded = function () {
        restoringPlaces = restoringPlaces.filter(function (other) { return other !== area; });
      };
      // Taken by a choice of the same place meanwhile (draftsCopiesTaken): its answer,
      // or its failure, is that choice's to say. The ward came back after the officer
      // chose it by hand and removed it, and its failure said it could not be loaded
      // (an outside check).
      var taken = function () { return restoringPlaces.indexOf(area) < 0; };
      loadingArea(CA.fetchJSON(settings.placeUrl.replace(/0$/, area.placeId)), "place").then(function (found) {
        if (asked !== placesCleared || taken()) { return; }
        loaded();
        var chosen = entries.some(function (entry) { return String(entry.placeId) === String(found.id); });
        if (chosen) { saveDraft(); return; }  // chosen by hand meanwhile
        var layer = L.geoJSON(JSON.parse(found.geometry), { pmIgnore: true, interactive: false });
        places.addLayer(layer);
        var restored = addEntry(layer, "place", area.words || area.label, { placeId: found.id });
        // The draft's copy of it not loaded goes, and leaves it out if it was (an undo
        // asked for one chosen by hand again: both were kept, it included, and the
        // words said the left-out one could not be loaded: an outside check).
        restored.exclude = draftsCopiesTaken(found.id) || !!area.exclude;
        styleEntry(restored);
        renderEntries();
        refreshPreview();
      }).catch(function () {
        if (asked !== placesCleared || taken()) { return; }
        loaded();
        if (entries.some(function (entry) { return String(entry.placeId) === String(area.placeId); })) {
          saveDraft();
          return;  // chosen by hand meanwhile
        }
        // Once, with the draft's copy not loaded (an undo's ask for one chosen again,
        // failing, named it twice, and the draft held it included and left out: an
        // outside check); left out if either was.
        var copy = unrestored.filter(function (one) { return String(one.placeId) === String(area.placeId); })[0];
        if (copy) { copy.exclude = copy.exclude || area.exclude; } else { unrestored.push(area); }
        showAreaError(areaWords(), true);
        saveDraft();
      });
      return;
    }
    if (area.center && area.search) {
      centreCircle(area.center, area.words || area.label);
      // Its postcode as typed, for an undo (Clear): it was empty after a reload (an
      // outside check).
      searchCircle.caTyped = area.typed || "";
      entry = searchCircle.caEntry;
    } else if (area.center) {
      var circle = L.circle(area.center, { radius: area.radius }).addTo(shapes);
      entry = addEntry(circle, "circle", area.words || area.label);
    } else if (area.rings && area.rings.length) {
      var layer = area.rectangle ? L.rectangle(L.latLngBounds(area.rings[0])) : L.polygon(area.rings);
      layer.addTo(shapes);
      entry = addEntry(layer, "polygon", area.words || area.label);
    }
    if (entry) {
      entry.layer.on("pm:edit pm:dragend", refreshPreview);
      entry.exclude = !!area.exclude;
      styleEntry(entry);
    }
  }

  // "Write it again" from a rejected alert: its words, choices and areas, as a draft
  // to change and send (a supervisor's "add what he was wearing" meant typing it all
  // again and redrawing the area on a phone: an outside check). Once: a reload keeps
  // the changes made since, as for any draft.
  var again = null;
  if (settings.startFrom) {
    var start = settings.startFrom;
    again = { fields: start.fields, boxes: start.boxes, checked: start.checked, areas: [] };
    start.shapes.forEach(function (shape) {
      var area = { exclude: !!shape.exclude };
      if (shape.kind === "place") {
        area.kind = "place";
        area.placeId = shape.place_id;
        area.words = shape.name || named(N_("Drawn area"));
      } else if (shape.kind === "circle") {
        area.kind = "circle";
        area.center = [shape.center[1], shape.center[0]];
        area.radius = shape.radius_m;
        area.words = named(N_("Drawn circle"));
      } else {
        area.kind = "polygon";
        area.rectangle = shape.kind === "rectangle";
        area.rings = shape.coordinates.map(function (ring) {
          return ring.slice(0, -1).map(function (p) { return [p[1], p[0]]; });
        });
        area.words = named(shape.kind === "rectangle" ? N_("Drawn rectangle") : N_("Drawn area"));
      }
      again.areas.push(area);
    });
    try { window.sessionStorage.setItem(DRAFT_KEY, JSON.stringify(again)); } catch (e) { /* private mode */ }
    window.history.replaceState(null, "", window.location.pathname);
  }
  var restored = restoreDraft(again);
  // The map opens on what the officer may send to: a PCSO kept to a ward saw the whole
  // force, the ward a speck under the district names, and zoomed in by hand each time.
  // A kept draft opens on what it drew; a follow-up, on the earlier alert's area.
  if (shapes.getLayers().length) {
    map.fitBounds(shapes.getBounds(), { padding: [20, 20] });
  } else if (permittedLayer && !settings.parentId && permittedLayer.getBounds().isValid()) {

    map.fitBounds(permittedLayer.getBounds(), { padding: [20, 20] });
  }
  renderEntries();

  refreshCompose();
  if (settings.parentId || restored) { refreshPreview(); }
  // Whatever is typed or ticked is kept as it changes.
  $("compose").addEventListener("input", saveDraft);
  $("compose").addEventListener("change", saveDraft);  // (areas, channels and groups: refreshPreview)
})();

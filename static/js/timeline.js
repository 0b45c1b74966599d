/* The analysts' time line: the weekly chart and the message-fatigue chart, drawn with
   uPlot from the figures the server already suppressed (a hidden week is null: a gap
   and a grey mark, never the value). "Download chart (PNG)" saves the chart's canvas
   with its title and key; the SVG is built on the server from the same figures. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("timeline-data").textContent);
  // Words and dates in the page's language: the page sends the Welsh of every _() here.
  var WORDS = data.words || {};
  var LOCALE = data.locale || "en-GB";
  function _(english, values) {
    var said = WORDS[english] || english;
    return values ? said.replace(/\{(\w+)\}/g, function (m, key) { return key in values ? values[key] : m; }) : said;
  }
  var ALERT = "#a3271a";
  var GREY = "#9ca3af";
  var charts = {};

  // A UK date with the page's month names (the server's: the browser has no Welsh).
  var MONTHS = data.months || [];
  var UK_DATE = new Intl.DateTimeFormat("en-GB",
    { timeZone: "Europe/London", day: "numeric", month: "numeric", year: "numeric" });
  function ukDate(ts, withYear) {
    var parts = {};
    UK_DATE.formatToParts(new Date(ts * 1e3)).forEach(function (p) { parts[p.type] = p.value; });
    var month = MONTHS[Number(parts.month) - 1] || parts.month;
    return parts.day + " " + month + (withYear ? " " + parts.year : "");
  }
  function ukDay(ts) { return ukDate(ts, false); }

  // The box's width (at 200% text on a 320-pixel phone, 256 px: a chart of at least
  // 280 was cut off at its right, the last date "01 Rh": an outside check).
  function width(el) {
    return Math.max(160, Math.floor(el.getBoundingClientRect().width));
  }

  function height(el) {
    return el.classList.contains("chart-small") ? 260 : (window.innerWidth < 600 ? 280 : 360);
  }

  function dashed(ctx, x0, y0, x1, y1, colour) {
    ctx.save();
    ctx.strokeStyle = colour;
    ctx.lineWidth = Math.max(1, devicePixelRatio);
    ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
    ctx.stroke();
    ctx.restore();
  }

  function drawMarks(u) {
    var ctx = u.ctx, top = u.bbox.top, bottom = u.bbox.top + u.bbox.height;
    data.alerts.forEach(function (a) {
      var x = u.valToPos(a.t, "x", true);
      if (x >= u.bbox.left && x <= u.bbox.left + u.bbox.width) {
        dashed(ctx, x, top, x, bottom, ALERT);
      }
    });
    var size = 6 * devicePixelRatio;
    ctx.save();
    ctx.fillStyle = GREY;
    data.weeks.forEach(function (t, i) {
      var hidden = data.series.some(function (s) { return s.values[i] === null; });
      if (hidden) {
        var x = u.valToPos(t, "x", true);
        ctx.fillRect(x - size / 2, bottom - size, size, size);
      }
    });
    ctx.restore();
  }

  function weekly(el) {
    var series = [{ label: _("Week starting"), value: function (u, ts) {
      return ts === null || ts === undefined ? "" : ukDate(ts, true);
    } }];
    var values = [data.weeks];
    data.series.forEach(function (s) {
      series.push({
        label: s.label, stroke: s.colour, width: 2, spanGaps: false,
        points: { show: true, size: 6, fill: s.colour },
        value: function (u, v) { return v === null || v === undefined ? _("fewer than {k}", { k: data.k }) : v.toLocaleString(LOCALE); }
      });
      values.push(s.values);
    });
    var opts = {
      width: width(el), height: height(el), series: series,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Europe/London"); },
      scales: { y: { range: function (u, min, max) { return [0, Math.max(max || 0, data.k)]; } } },
      axes: [{ values: function (u, splits) { return splits.map(ukDay); } }, { size: 56 }],
      padding: [16, 28, 0, 0],  // room for the last date, centred on the chart's edge
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      hooks: { draw: [drawMarks] }
    };
    return new uPlot(opts, values, el);
  }

  function fatigueChart(el) {
    var f = data.fatigue;
    var xs = f.categories.map(function (_, i) { return i; });
    var usual = f.usual === null ? null : f.usual;
    var opts = {
      width: width(el), height: height(el),
      scales: {
        x: { time: false, range: [-0.5, xs.length - 0.5] },
        y: { range: function (u, min, max) { return [0, Math.max(max || 0, usual || 0, 1)]; } }
      },
      series: [
        { label: _("Category"), value: function (u, v) { return v === null ? "" : f.categories[v]; } },
        { label: _("After alerts, per 48 hours"), fill: "#0072B2", stroke: "#0072B2", width: 1,
          paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false },
          value: function (u, v) { return v === null || v === undefined ? _("not shown") : v.toFixed(1); } },
        { label: _("Usual, per 48 hours"), stroke: ALERT, width: 2, dash: [6, 4], points: { show: false },
          value: function (u, v) { return v === null || v === undefined ? _("not shown") : v.toFixed(1); } }
      ],
      axes: [
        { values: function (u, splits) { return splits.map(function (v) { return Number.isInteger(v) ? (f.categories[v] || "") : ""; }); },
          splits: function () { return xs; } },
        { size: 48 }
      ],
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx, bottom = u.bbox.top + u.bbox.height, size = 5 * devicePixelRatio;
          ctx.save();
          ctx.fillStyle = GREY;
          f.after.forEach(function (v, i) {
            if (v === null) {
              var x = u.valToPos(i, "x", true), w = u.bbox.width / xs.length * 0.6;
              ctx.fillRect(x - w / 2, bottom - size, w, size);
            }
          });
          ctx.restore();
        }]
      }
    };
    return new uPlot(opts, [xs, f.after, xs.map(function () { return usual; })], el);
  }

  function draw() {
    var main = document.getElementById("timeline-chart");
    if (main && data.weeks.length) { charts["timeline-chart"] = weekly(main); }
    var small = document.getElementById("fatigue-chart");
    if (small && data.fatigue.categories.length) { charts["fatigue-chart"] = fatigueChart(small); }
  }

  /* The chart's canvas on white, with its title above and its key below. */
  function png(id, filename) {
    var u = charts[id];
    if (!u) { return; }
    var source = u.ctx.canvas, ratio = devicePixelRatio || 1;
    var keys = u.series.slice(1).map(function (s) { return s; });
    var pad = 12 * ratio, line = 20 * ratio;
    var out = document.createElement("canvas");
    out.width = source.width + 2 * pad;
    out.height = source.height + 2 * pad + line * (2 + keys.length);
    var ctx = out.getContext("2d");
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.fillStyle = "#0b0c0c";
    ctx.font = "bold " + 16 * ratio + "px sans-serif";
    var title = id === "timeline-chart" ? data.title : _("Opt-outs per 48 hours after alerts, by category");
    ctx.fillText(title, pad, pad + 14 * ratio);
    ctx.drawImage(source, pad, pad + line);
    ctx.font = 13 * ratio + "px sans-serif";
    var y = pad + line + source.height + line;
    keys.forEach(function (s) {
      ctx.fillStyle = typeof s.stroke === "function" ? s.stroke(u, 1) : (s.stroke || "#000");
      ctx.fillRect(pad, y - 10 * ratio, 12 * ratio, 12 * ratio);
      ctx.fillStyle = "#0b0c0c";
      ctx.fillText(s.label, pad + 18 * ratio, y);
      y += line;
    });
    ctx.fillText((id === "timeline-chart" ? _("Dashed red: a live alert sent.") + " " : "") +
      _("Grey mark: fewer than {k}.", { k: data.k }), pad, y);
    out.toBlob(function (blob) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = filename;
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    }, "image/png");
  }

  document.querySelectorAll("button[data-chart]").forEach(function (button) {
    button.addEventListener("click", function () {
      png(button.getAttribute("data-chart"), button.getAttribute("data-filename"));
    });
  });

  var pending;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      Object.keys(charts).forEach(function (id) {
        var el = document.getElementById(id);
        charts[id].setSize({ width: width(el), height: height(el) });
      });
    }, 150);
  });

  draw();
}());

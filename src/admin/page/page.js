// The SLO page: fetches the status, history and explain JSON (same origin) and draws the
// charts as inline SVG. Every string from data goes into the page through
// textContent or setAttribute, never as markup. Each chart point is an SVG circle
// carrying its figures (data-minute: Unix minutes, data-value: the API's number),
// so what is drawn can be checked against the API.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const main = document.getElementById("slo");
  if (!main) {
    return;
  }
  const api = main.getAttribute("data-api");

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      node.setAttribute(k, String(v));
    }
    if (text !== undefined) {
      node.textContent = String(text);
    }
    return node;
  }

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      node.setAttribute(k, String(v));
    }
    if (text !== undefined) {
      node.textContent = String(text);
    }
    return node;
  }

  function percent(x) {
    return (x * 100).toFixed(2) + "%";
  }

  function utc(minute) {
    return new Date(minute * 60000).toISOString().slice(0, 16).replace("T", " ");
  }

  // Minutes in an SLO window label: "30d", "12h", "90m", "calendar month|week".
  function windowMinutes(label) {
    if (label === "calendar month") {
      return 31 * 1440;
    }
    if (label === "calendar week") {
      return 7 * 1440;
    }
    const m = /^(\d+)([smhd])$/.exec(label || "");
    if (!m) {
      return 1440;
    }
    const unit = { s: 1 / 60, m: 1, h: 60, d: 1440 }[m[2]];
    return Math.max(1, Math.round(Number(m[1]) * unit));
  }

  // The step: ?step= on the page's URL, else whole minutes giving at most 1440 points.
  function stepFor(status) {
    const asked = new URLSearchParams(window.location.search).get("step");
    if (asked) {
      return asked;
    }
    return Math.max(1, Math.ceil(windowMinutes(status.window) / 1440)) + "m";
  }

  async function getJson(url) {
    const response = await fetch(url, { cache: "no-store" });
    const body = await response.json();
    if (!response.ok) {
      throw new Error(url + ": " + (body.error || response.status));
    }
    return body;
  }

  function alertOf(alerts) {
    if (alerts.page) {
      return el("span", { class: "alert page" }, "PAGE");
    }
    if (alerts.ticket) {
      return el("span", { class: "alert ticket" }, "ticket");
    }
    return el("span", { class: "alert ok" }, "ok");
  }

  function burnCell(rates) {
    const cell = el("td", { class: "burns" });
    const windows = Object.keys(rates).sort((a, b) => windowMinutes(a) - windowMinutes(b));
    for (const w of windows) {
      cell.appendChild(el("span", { "data-window": w }, w + " " + rates[w].toFixed(2)));
    }
    return cell;
  }

  function table(headers, rows) {
    const t = el("table");
    const head = el("tr");
    for (const h of headers) {
      head.appendChild(el("th", {}, h));
    }
    t.appendChild(head);
    for (const row of rows) {
      t.appendChild(row);
    }
    return t;
  }

  function summary(status) {
    const section = document.getElementById("summary");
    section.replaceChildren();
    const budget = el("td", { class: "num budget" }, percent(status.error_budget_remaining));
    if (status.error_budget_remaining < 0) {
      budget.classList.add("overspent");
    }
    const row = el("tr");
    row.appendChild(el("td", {}, status.sli));
    row.appendChild(el("td", { class: "num" }, percent(status.target)));
    row.appendChild(el("td", {}, status.window));
    row.appendChild(el("td", { class: "num" }, status.total.toFixed(0)));
    row.appendChild(el("td", { class: "num" }, status.bad.toFixed(0)));
    row.appendChild(budget);
    row.appendChild(burnCell(status.burn_rates));
    const alert = el("td");
    alert.appendChild(alertOf(status.alerts));
    row.appendChild(alert);
    section.appendChild(
      table(["SLI", "Target", "Window", "Events", "Bad", "Budget left", "Burn rate", "Alert"], [row])
    );
  }

  // A line chart of `series` (one circle per point, carrying its figures) over the
  // history's minutes, with a dashed reference line at `reference`.
  function chart(id, history, series, value, reference, format) {
    const points = history.points;
    const container = document.getElementById(id);
    container.replaceChildren();
    if (points.length === 0) {
      container.appendChild(el("p", { class: "note" }, "No minutes in the window yet."));
      return;
    }
    const W = 1000;
    const H = 280;
    const left = 70;
    const right = 20;
    const top = 15;
    const bottom = 35;
    let lo = reference;
    let hi = reference;
    for (const p of points) {
      const v = value(p);
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    if (series === "budget") {
      hi = Math.max(hi, 1);
      lo = Math.min(lo, 0);
    }
    if (hi === lo) {
      hi = lo + 1;
    }
    const first = history.from_minute;
    const last = history.to_minute;
    const span = Math.max(1, last - first);
    const x = (minute) => left + ((minute - first) / span) * (W - left - right);
    const y = (v) => top + ((hi - v) / (hi - lo)) * (H - top - bottom);
    const svg = svgEl("svg", {
      viewBox: "0 0 " + W + " " + H,
      role: "img",
      "data-series": series,
      "aria-label": series + " over the window",
    });
    const labelled = [];
    for (const v of [reference, hi, lo]) {
      svg.appendChild(svgEl("line", { class: v === reference ? "zero" : "grid", x1: left, x2: W - right, y1: y(v), y2: y(v) }));
      // A label only where it does not overwrite another one.
      if (labelled.every((other) => Math.abs(y(other) - y(v)) >= 12)) {
        labelled.push(v);
        svg.appendChild(svgEl("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, format(v)));
      }
    }
    svg.appendChild(svgEl("line", { class: "axis", x1: left, x2: left, y1: top, y2: H - bottom }));
    svg.appendChild(svgEl("text", { x: left, y: H - 12 }, utc(first) + " UTC"));
    svg.appendChild(svgEl("text", { x: W - right, y: H - 12, "text-anchor": "end" }, utc(last) + " UTC"));
    const coords = points.map((p) => x(p.minute).toFixed(2) + "," + y(value(p)).toFixed(2));
    svg.appendChild(svgEl("polyline", { class: "line", points: coords.join(" ") }));
    const dots = svgEl("g", { class: "points" });
    points.forEach((p, i) => {
      const [cx, cy] = coords[i].split(",");
      const dot = svgEl("circle", {
        class: "point",
        cx: cx,
        cy: cy,
        r: points.length > 300 ? 1 : 2,
        "data-series": series,
        "data-minute": p.minute,
        "data-value": String(value(p)),
      });
      dot.appendChild(svgEl("title", {}, utc(p.minute) + " UTC: " + format(value(p)) + " (" + p.bad + " bad of " + (p.good + p.bad) + ")"));
      dots.appendChild(dot);
    });
    svg.appendChild(dots);
    container.appendChild(svg);
  }

  function segments(status) {
    const section = document.getElementById("segments");
    section.replaceChildren();
    const groups = status.worst_groups || [];
    if (groups.length === 0) {
      section.appendChild(el("p", { class: "note" }, "No segments (the objective has no group_by, or no events yet)."));
      return;
    }
    const rows = groups.map((g) => {
      const row = el("tr", { "data-segment": "" });
      const name = Object.entries(g.group).map(([k, v]) => k + "=" + v).join(", ");
      row.appendChild(el("td", {}, name));
      row.appendChild(el("td", { class: "num" }, g.total.toFixed(0)));
      row.appendChild(el("td", { class: "num" }, g.bad.toFixed(0)));
      row.appendChild(el("td", { class: "num budget" + (g.error_budget_remaining < 0 ? " overspent" : "") }, percent(g.error_budget_remaining)));
      row.appendChild(burnCell(g.burn_rates));
      const alert = el("td");
      alert.appendChild(alertOf(g.alerts));
      row.appendChild(alert);
      return row;
    });
    section.appendChild(table(["Segment", "Events", "Bad", "Budget left", "Burn rate", "Alert"], rows));
  }

  // "Why is it burning": the attribute values most over-represented among the bad
  // events over the SLO window (or ?explain= on the page's URL), as the explain API
  // ranks them. Each row carries its key and value (data-key, data-value).
  function explain(answer) {
    document.getElementById("explain-window").textContent =
      "(over the last " + answer.window + ": " + answer.bad.toFixed(0) + " bad of " + answer.total.toFixed(0) + " events)";
    const section = document.getElementById("explain");
    section.replaceChildren();
    if (answer.values.length === 0) {
      section.appendChild(
        el("p", { class: "note" }, "No attribute value stands out among the bad events (or explain.attributes is empty).")
      );
      return;
    }
    const rows = answer.values.map((v) => {
      const row = el("tr", { "data-key": v.key, "data-value": v.value });
      row.appendChild(el("td", {}, v.key + "=" + v.value));
      row.appendChild(el("td", { class: "num" }, percent(v.bad_share)));
      row.appendChild(el("td", { class: "num" }, percent(v.total_share)));
      row.appendChild(el("td", { class: "num budget" }, percent(v.budget_share) + (v.exact ? "" : " (at most)")));
      return row;
    });
    section.appendChild(table(["Attribute value", "Share of bad", "Share of events", "Budget spent"], rows));
  }

  function recentBad(history) {
    const section = document.getElementById("recent-bad");
    section.replaceChildren();
    if (history.recent_bad.length === 0) {
      section.appendChild(el("p", { class: "note" }, "No bad event in the window."));
      return;
    }
    const rows = history.recent_bad.map((e) => {
      const row = el("tr", { "data-trace-id": e.trace_id });
      row.appendChild(el("td", {}, e.time));
      const trace = el("td");
      if (e.trace_url && e.trace_id) {
        trace.appendChild(el("a", { href: e.trace_url, rel: "noopener noreferrer", target: "_blank" }, e.trace_id));
      } else {
        trace.appendChild(el("code", {}, e.trace_id || "(no trace id)"));
      }
      row.appendChild(trace);
      row.appendChild(el("td", {}, e.span_id));
      row.appendChild(el("td", { class: "num" }, e.weight));
      return row;
    });
    section.appendChild(table(["Ended (UTC)", "Trace", "Span", "Weight"], rows));
  }

  async function draw() {
    const status = await getJson(api);
    summary(status);
    const history = await getJson(api + "/history?step=" + encodeURIComponent(stepFor(status)));
    document.getElementById("burn-window").textContent =
      "(over the " + history.burn_rate_window + " ending at each point; 1 spends the budget exactly over the window)";
    chart("budget-chart", history, "budget", (p) => p.error_budget_remaining, 0, percent);
    chart("burn-chart", history, "burn", (p) => p.burn_rate, 1, (v) => v.toFixed(2));
    const asked = new URLSearchParams(window.location.search).get("explain");
    explain(await getJson(api + "/explain" + (asked ? "?window=" + encodeURIComponent(asked) : "")));
    segments(status);
    recentBad(history);
    main.setAttribute("data-to-minute", history.to_minute);
    main.setAttribute("data-step-minutes", history.step_minutes);
    main.setAttribute("data-state", "drawn");
  }

  draw().catch((error) => {
    const section = document.getElementById("summary");
    section.replaceChildren(el("p", { class: "error" }, String(error)));
    main.setAttribute("data-state", "error");
  });
})();

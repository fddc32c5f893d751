// The page of `antwort serve`: asks /v1/ask and shows the answers, the pair behind a
// "see also" link, and the topic map. No framework, nothing fetched from elsewhere.
"use strict";

const $ = (selector) => document.querySelector(selector);
const bytes = new TextEncoder();
const text = new TextDecoder();
const COLOURS = ["#0b5cad", "#c4391d", "#2e8540", "#8e44ad", "#d68910", "#17a2b8",
  "#6c3483", "#b03a2e", "#1e8449", "#5d6d7e", "#a04000", "#1a5276"];

function escape(s) {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// `source` from byte `start` to `end` with the byte ranges `marks` (inside it) marked.
function highlighted(source, start, end, marks) {
  const raw = bytes.encode(source);
  let html = "";
  let at = start;
  for (const [a, b] of [...marks].sort((x, y) => x[0] - y[0])) {
    if (a < at || b > end) continue;
    html += escape(text.decode(raw.slice(at, a))) + "<mark>" + escape(text.decode(raw.slice(a, b))) + "</mark>";
    at = b;
  }
  return html + escape(text.decode(raw.slice(at, end)));
}

async function call(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new Error(body && body.error ? body.error.message : `${response.status} ${response.statusText}`);
  }
  return body;
}

function status(message, weak) {
  const line = $("#status");
  line.textContent = message;
  line.classList.toggle("weak", Boolean(weak));
}

function pairLink(id, label) {
  const link = document.createElement("a");
  link.href = `#pair/${encodeURIComponent(id)}`;
  link.textContent = label;
  link.dataset.pair = id;
  return link;
}

async function ask(query) {
  if (!query.trim()) return;
  status("…");
  $("#results").replaceChildren();
  $("#see-also").hidden = true;
  $("#timings").hidden = true;
  let report;
  try {
    report = await call("/v1/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query, top_k: 5, explain: $("#explain").checked }),
    });
  } catch (error) {
    status(error.message, true);
    return;
  }
  if (report.confident === false) {
    status("Keine sichere Antwort (no confident answer): das Korpus scheint diese Frage nicht zu beantworten. Die nächsten Treffer:", true);
  } else {
    status(`${report.results.length} Antworten, beste zuerst`);
  }
  for (const hit of report.results) {
    const item = document.createElement("li");
    item.className = "hit";
    const [start, end] = hit.excerpt_byte_range;
    const question = document.createElement("p");
    question.className = "question";
    const link = pairLink(hit.id, "");
    link.innerHTML = highlighted(hit.question, 0, bytes.encode(hit.question).length, hit.question_match_byte_ranges);
    question.append(link);
    const meta = document.createElement("p");
    meta.className = "meta";
    meta.textContent = [hit.section, `Score ${hit.score.toFixed(3)}`, hit.id].filter(Boolean).join(" · ");
    const excerpt = document.createElement("p");
    excerpt.className = "excerpt";
    excerpt.innerHTML = `<span class="sentence">${highlighted(hit.answer, start, end, hit.excerpt_match_byte_ranges)}</span>`;
    const whole = document.createElement("details");
    whole.innerHTML = "<summary>Ganze Antwort</summary>";
    const answer = document.createElement("p");
    answer.textContent = hit.answer;
    whole.append(answer);
    item.append(question, meta, excerpt, whole);
    if (hit.explain) {
      const explain = document.createElement("p");
      explain.className = "explain";
      const e = hit.explain;
      explain.textContent = [
        e.bm25 ? `bm25 #${e.bm25.rank} ${e.bm25.score.toFixed(3)}` : "bm25 –",
        e.dense ? `dense #${e.dense.rank} ${e.dense.similarity.toFixed(3)}` : "dense –",
        `fused ${e.fused_score.toFixed(3)}`,
        e.rerank_score == null ? "" : `rerank ${e.rerank_score.toFixed(3)}`,
      ].filter(Boolean).join(" · ");
      item.append(explain);
    }
    $("#results").append(item);
  }
  const seeAlso = report.see_also || [];
  if (seeAlso.length) {
    const list = $("#see-also ul");
    list.replaceChildren(...seeAlso.map((r) => {
      const item = document.createElement("li");
      item.append(pairLink(r.id, r.question));
      return item;
    }));
    $("#see-also").hidden = false;
  }
  if ($("#explain").checked) {
    const t = report.timings_ms;
    $("#timings").textContent = "Zeiten (ms): " + Object.entries(t).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(" · ");
    $("#timings").className = "explain";
    $("#timings").hidden = false;
  }
}

async function openPair(id) {
  const panel = $("#pair");
  try {
    const [pair, related] = await Promise.all([
      call(`/v1/pairs/${encodeURIComponent(id)}`),
      call(`/v1/related/${encodeURIComponent(id)}?top_k=5`),
    ]);
    panel.querySelector(".section").textContent = pair.section || "";
    panel.querySelector("h2").textContent = pair.question;
    panel.querySelector(".answer").textContent = pair.answer;
    panel.querySelector(".related").replaceChildren(...related.related.map((r) => {
      const item = document.createElement("li");
      item.append(pairLink(r.id, r.question));
      return item;
    }));
    panel.hidden = false;
    panel.focus();
    panel.scrollIntoView({ block: "start" });
  } catch (error) {
    status(error.message, true);
  }
}

let mapDrawn = false;

async function openMap() {
  const panel = $("#map");
  panel.hidden = false;
  if (!mapDrawn) {
    // The status line says how the last question was answered: back to that once the map is in.
    const before = [$("#status").textContent, $("#status").classList.contains("weak")];
    status("Themenkarte wird berechnet …");
    let topics;
    try {
      topics = await call("/v1/topics");
    } catch (error) {
      status(error.message, true);
      return;
    }
    status(...before);
    const svg = $("#map-canvas");
    const xs = topics.points.map((p) => p.x);
    const ys = topics.points.map((p) => p.y);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const sx = (x) => 30 + 940 * (x - x0) / ((x1 - x0) || 1);
    const sy = (y) => 670 - 640 * (y - y0) / ((y1 - y0) || 1);
    const ns = "http://www.w3.org/2000/svg";
    const radius = topics.points.length > 2000 ? 2 : 7;
    for (const point of topics.points) {
      const dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", sx(point.x).toFixed(1));
      dot.setAttribute("cy", sy(point.y).toFixed(1));
      dot.setAttribute("r", radius);
      dot.setAttribute("fill", COLOURS[point.topic % COLOURS.length]);
      dot.setAttribute("tabindex", "0");
      dot.setAttribute("role", "link");
      dot.setAttribute("aria-label", point.question || point.title);
      dot.dataset.pair = point.id;
      const title = document.createElementNS(ns, "title");
      title.textContent = point.question || point.title;
      dot.append(title);
      svg.append(dot);
    }
    $("#map .legend").replaceChildren(...topics.topics.slice(0, 12).map((topic, i) => {
      const entry = document.createElement("span");
      entry.style.setProperty("--c", COLOURS[i % COLOURS.length]);
      entry.textContent = topic.label;
      return entry;
    }));
    mapDrawn = true;
  }
  panel.focus();
  panel.scrollIntoView({ block: "start" });
}

document.addEventListener("DOMContentLoaded", () => {
  $("#ask").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = $("#query").value;
    history.replaceState(null, "", `?q=${encodeURIComponent(query)}`);
    ask(query);
  });
  $("#show-map").addEventListener("click", openMap);
  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-pair]");
    if (target) {
      event.preventDefault();
      openPair(target.dataset.pair);
    }
    if (event.target.classList.contains("close")) event.target.parentElement.hidden = true;
  });
  document.addEventListener("keydown", (event) => {
    const typing = document.activeElement && document.activeElement.tagName === "INPUT";
    if (event.key === "/" && !typing) {
      event.preventDefault();
      $("#query").focus();
    } else if (event.key === "Escape") {
      $("#pair").hidden = true;
      $("#map").hidden = true;
    } else if (event.key === "Enter" && event.target.dataset && event.target.dataset.pair && event.target.tagName !== "A") {
      openPair(event.target.dataset.pair);
    }
  });
  const query = new URLSearchParams(location.search).get("q");
  if (query) {
    $("#query").value = query;
    ask(query);
  }
});
